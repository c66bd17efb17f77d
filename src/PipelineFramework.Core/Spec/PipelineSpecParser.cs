using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Core.Spec;

/// <summary>
/// Reads pipeline JSON: parse, fill defaults, validate every section and every component's options against the
/// catalog, all before any work starts. Each error names the file and the JSON path.
/// </summary>
public static class PipelineSpecParser
{
    // AllowDuplicateProperties = false is a safety net only: its error names neither the path nor the line, so
    // RefuseDuplicateKeys runs first and names both.
    static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, AllowDuplicateProperties = false };

    static readonly string[] Sections = ["name", "description", "seed", "input", "synthesis", "features", "scoring", "map", "threshold", "calibration", "logic", "explain"];

    public static PipelineSpec ParseFile(string path, IComponentCatalog catalog)
    {
        if (!File.Exists(path)) throw new PipelineException($"Pipeline file not found: {path}. The ready pipelines are in pipelines/.");
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new PipelineException($"Cannot read pipeline file {path}: {e.Message}", e); }
        return Parse(text, path, catalog);
    }

    public static PipelineSpec Parse(string json, string source, IComponentCatalog catalog)
    {
        try { return ParseCore(json, catalog); }
        catch (PipelineException e) { throw new PipelineException($"{source}: {e.Message}", e); }
    }

    static PipelineSpec ParseCore(string json, IComponentCatalog catalog)
    {
        JsonNode? root;
        try
        {
            RefuseDuplicateKeys(json);
            root = JsonNode.Parse(json, documentOptions: DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new PipelineException(e.LineNumber is null
                ? $"malformed JSON: {FirstSentence(e.Message)}"
                : $"malformed JSON at line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}: {FirstSentence(e.Message)}");
        }
        if (root is not JsonObject obj) throw new PipelineException("$: a pipeline must be a JSON object");

        foreach (var (key, _) in obj)
            if (!Sections.Contains(key))
                throw new PipelineException($"$.{key}: unknown section; known sections: {string.Join(", ", Sections)}");

        var name = ReadValue<string>(obj, "name", "a string") ?? throw new PipelineException("$.name: missing; give the pipeline a name");
        var input = ReadSection<InputSpec>(obj, "input");
        ValidateInput(input);
        var map = ReadSection<MapSpec>(obj, "map");
        var calibration = ReadSection<CalibrationSpec>(obj, "calibration");

        var features = ReadComponent(obj, "features", ComponentKind.FeatureExtractor, catalog, required: true)!;
        var scoring = ReadComponent(obj, "scoring", ComponentKind.Scorer, catalog, required: true)!;
        var threshold = ReadComponent(obj, "threshold", ComponentKind.ThresholdPolicy, catalog, required: false)
            ?? Normalize(new ComponentSpec("threshold.quantile", new JsonObject(), "$.threshold"), ComponentKind.ThresholdPolicy, catalog);
        var explain = ReadComponent(obj, "explain", ComponentKind.Explainer, catalog, required: false);
        var synthesis = ReadComponentList(obj, "synthesis", ComponentKind.Synthesizer, catalog);
        var logic = ReadComponentList(obj, "logic", ComponentKind.LogicCheck, catalog);
        if (calibration.TrainingSyntheticCount > 0 && synthesis.Count == 0)
            throw new PipelineException("$.calibration.trainingSyntheticCount: needs a synthesis stage ($.synthesis) to make anomalies from good images");
        if (calibration.SyntheticCount > 0 && synthesis.Count == 0)
            throw new PipelineException("$.calibration.syntheticCount: needs a synthesis stage ($.synthesis) to make anomalies from good images");

        return new PipelineSpec
        {
            Name = name,
            Description = ReadValue<string>(obj, "description", "a string") ?? "",
            Seed = ReadValue<int?>(obj, "seed", "a whole number") ?? 0,
            Input = input,
            Map = map,
            Calibration = calibration,
            Features = features,
            Scoring = scoring,
            Threshold = threshold,
            Explain = explain,
            Synthesis = synthesis,
            Logic = logic,
        };
    }

    /// <summary>The checks that relate fields; each field's own range is its [OptionRange], checked by ReadSection.</summary>
    static void ValidateInput(InputSpec input)
    {
        if (input.Crop > input.Size) throw new PipelineException($"$.input.crop: {input.Crop} is larger than input.size ({input.Size}); the crop is cut from the resized image");
        if (input.Mean.Length != 3) throw new PipelineException("$.input.mean: needs 3 values (R, G, B)");
        if (input.Std.Length != 3) throw new PipelineException("$.input.std: needs 3 values (R, G, B)");
    }

    /// <summary>
    /// A key given twice in one object is refused with its JSON path: silently taking the first or the last value
    /// would run a pipeline other than the one the user reads in the file.
    /// </summary>
    static void RefuseDuplicateKeys(string json)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json),
            new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        // One frame per open object or array: the keys seen so far (objects) or the index of the next item (arrays).
        var frames = new Stack<(HashSet<string>? Keys, string Path, int Index)>();
        string pendingPath = "$";
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    var (keys, path, _) = frames.Peek();
                    var key = reader.GetString()!;
                    pendingPath = $"{path}.{key}";
                    if (!keys!.Add(key)) throw new PipelineException($"{pendingPath}: given twice; keep one of the two values");
                    continue;
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    var itemPath = NextValuePath(frames, pendingPath);
                    frames.Push((reader.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null, itemPath, 0));
                    continue;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    frames.Pop();
                    continue;
                default:
                    NextValuePath(frames, pendingPath);
                    continue;
            }
        }
    }

    /// <summary>The path of the value starting now: an array's next item, or the property just named.</summary>
    static string NextValuePath(Stack<(HashSet<string>? Keys, string Path, int Index)> frames, string propertyPath)
    {
        if (frames.Count == 0 || frames.Peek().Keys is not null) return propertyPath;
        var array = frames.Pop();
        frames.Push(array with { Index = array.Index + 1 });
        return $"{array.Path}[{array.Index}]";
    }

    static T? ReadValue<T>(JsonObject obj, string key, string expected)
    {
        if (!obj.TryGetPropertyValue(key, out var node) || node is null) return default;
        try { return node.Deserialize<T>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new PipelineException($"$.{key}: expected {expected}");
        }
    }

    static T ReadSection<T>(JsonObject obj, string key) where T : new()
    {
        if (!obj.TryGetPropertyValue(key, out var node) || node is null) return new T();
        if (node is not JsonObject section) throw new PipelineException($"$.{key}: expected an object");
        var known = ComponentOptions.Describe(typeof(T)).ToDictionary(o => o.Name);
        foreach (var (name, _) in section)
            if (!known.ContainsKey(name))
                throw new PipelineException($"$.{key}.{name}: unknown option; known options: {string.Join(", ", known.Keys)}");
        T parsed;
        try { parsed = section.Deserialize<T>(ComponentOptions.Json)!; }
        catch (JsonException e)
        {
            var name = e.Path?.TrimStart('$', '.').Split('.', '[')[0] ?? "";
            var expected = known.TryGetValue(name, out var info) ? ComponentOptions.DescribeType(info.Type) : "another value";
            throw new PipelineException($"$.{key}.{name}: expected {expected}");
        }
        ComponentOptions.CheckRanges(parsed, $"$.{key}");
        return parsed;
    }

    static ComponentSpec? ReadComponent(JsonObject obj, string key, ComponentKind kind, IComponentCatalog catalog, bool required)
    {
        if (!obj.TryGetPropertyValue(key, out var node) || node is null)
        {
            if (required) throw new PipelineException($"$.{key}: missing; a pipeline needs a {ComponentCatalog.KindWords(kind)} here, e.g. {{ \"type\": \"...\" }}");
            return null;
        }
        return ReadComponentNode(node, $"$.{key}", kind, catalog);
    }

    static IReadOnlyList<ComponentSpec> ReadComponentList(JsonObject obj, string key, ComponentKind kind, IComponentCatalog catalog)
    {
        if (!obj.TryGetPropertyValue(key, out var node) || node is null) return [];
        if (node is not JsonArray array) throw new PipelineException($"$.{key}: expected a list of components [ {{ \"type\": ... }} ]");
        return array.Select((item, i) => ReadComponentNode(item, $"$.{key}[{i}]", kind, catalog)).ToList();
    }

    static ComponentSpec ReadComponentNode(JsonNode? node, string path, ComponentKind kind, IComponentCatalog catalog)
    {
        if (node is not JsonObject component) throw new PipelineException($"{path}: expected an object with a \"type\"");
        if (!component.TryGetPropertyValue("type", out var typeNode) || typeNode is not JsonValue typeValue || !typeValue.TryGetValue<string>(out var type))
            throw new PipelineException($"{path}.type: missing; name the component, e.g. \"type\": \"{catalog.Components.FirstOrDefault(c => c.Kind == kind)?.TypeName ?? "..."}\"");
        var options = new JsonObject();
        foreach (var (k, v) in component)
            if (k != "type") options[k] = v?.DeepClone();
        return Normalize(new ComponentSpec(type, options, path), kind, catalog);
    }

    static ComponentSpec Normalize(ComponentSpec spec, ComponentKind kind, IComponentCatalog catalog)
    {
        ComponentDescriptor descriptor;
        try { descriptor = catalog.Find(spec.Type, kind); }
        catch (PipelineException e) { throw new PipelineException($"{spec.JsonPath}.type: {e.Message}", e); }
        return spec with { Options = catalog.NormalizeOptions(descriptor, spec.Options, spec.JsonPath) };
    }

    static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }

    internal static JsonObject ToJson(PipelineSpec spec)
    {
        var json = new JsonObject
        {
            ["name"] = spec.Name,
            ["description"] = spec.Description,
            ["seed"] = spec.Seed,
            ["input"] = JsonSerializer.SerializeToNode(spec.Input, ComponentOptions.Json),
        };
        if (spec.Synthesis.Count > 0) json["synthesis"] = new JsonArray(spec.Synthesis.Select(s => (JsonNode)s.ToJson()).ToArray());
        json["features"] = spec.Features.ToJson();
        json["scoring"] = spec.Scoring.ToJson();
        json["map"] = JsonSerializer.SerializeToNode(spec.Map, ComponentOptions.Json);
        json["threshold"] = spec.Threshold.ToJson();
        json["calibration"] = JsonSerializer.SerializeToNode(spec.Calibration, ComponentOptions.Json);
        if (spec.Logic.Count > 0) json["logic"] = new JsonArray(spec.Logic.Select(s => (JsonNode)s.ToJson()).ToArray());
        if (spec.Explain is not null) json["explain"] = spec.Explain.ToJson();
        return json;
    }
}
