using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
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

    static readonly string[] ValueSections = ["name", "description", "seed", "input", "map", "calibration"];

    /// <summary>Before backbone and embedding were stages of their own, both lived in one "features" section.</summary>
    const string LegacyFeaturesSection = "features";

    static IEnumerable<string> Sections => ValueSections.Concat(StageKinds.All.Select(s => s.Section));

    public static PipelineSpec ParseFile(string path, IComponentCatalog catalog)
    {
        UserPaths.RequireFile(path, "Pipeline file", "The ready pipelines are in pipelines/.");
        return Parse(UserPaths.ReadUtf8Text(path, "Pipeline file"), path, catalog);
    }

    public static PipelineSpec Parse(string json, string source, IComponentCatalog catalog) => Parse(json, source, catalog, _ => true);

    /// <summary>
    /// Parses with only the stages for which <paramref name="validate"/> is true checked against the catalog; the
    /// others are kept as written. A model file is loaded this way: it needs the plugins of the stages it stores, not
    /// those of synthesis.
    /// </summary>
    public static PipelineSpec Parse(string json, string source, IComponentCatalog catalog, Func<StageKind, bool> validate)
    {
        try { return ParseCore(json, catalog, validate); }
        catch (PipelineException e) { throw new PipelineException($"{source}: {e.Message}", e); }
    }

    static PipelineSpec ParseCore(string json, IComponentCatalog catalog, Func<StageKind, bool> validate)
    {
        if (string.IsNullOrWhiteSpace(json)) throw new PipelineException("is empty; a pipeline is a JSON object with a \"name\" and its stages (see pipelines/*.json)");
        JsonNode? root;
        try
        {
            RefuseDuplicateKeys(json);
            root = JsonNode.Parse(json, documentOptions: DocumentOptions);
        }
        catch (JsonException e)
        {
            var reason = JsonReaderError.IsTooDeep(e)
                ? "nested deeper than 64 levels (the JSON reader's limit); a pipeline nests a few, so the file is not a pipeline or was generated wrongly"
                : JsonReaderError.Reason(e);
            throw new PipelineException($"malformed JSON{JsonReaderError.Where(e)}: {reason}");
        }
        if (root is not JsonObject obj) throw new PipelineException("$: a pipeline must be a JSON object");

        var notes = new List<string>();
        bool migrated = obj.ContainsKey(LegacyFeaturesSection);
        if (migrated) obj = MigrateFeatures(obj, notes);
        foreach (var (key, _) in obj)
            if (!Sections.Contains(key))
                throw new PipelineException($"$.{key}: unknown section; known sections: {string.Join(", ", Sections)}");

        var name = ReadValue<string>(obj, "name", "a string") ?? throw new PipelineException("$.name: missing; give the pipeline a name");
        var input = ReadSection<InputSpec>(obj, "input");
        ValidateInput(input);
        var map = ReadSection<MapSpec>(obj, "map");
        var calibration = ReadSection<CalibrationSpec>(obj, "calibration");

        var stages = new Dictionary<string, IReadOnlyList<ComponentSpec>>();
        foreach (var stage in StageKinds.All)
            stages[stage.Section] = ReadStage(obj, stage, catalog, validate(stage),
                // Errors in a migrated section point at what the user wrote.
                migrated && (stage == StageKinds.Backbone || stage == StageKinds.Embedding) ? $"$.{LegacyFeaturesSection}" : $"$.{stage.Section}");
        if (calibration.TrainingSyntheticCount > 0 && stages[StageKinds.Synthesis.Section].Count == 0)
            throw new PipelineException("$.calibration.trainingSyntheticCount: needs a synthesis stage ($.synthesis) to make anomalies from good images");
        if (calibration.SyntheticCount > 0 && stages[StageKinds.Synthesis.Section].Count == 0)
            throw new PipelineException("$.calibration.syntheticCount: needs a synthesis stage ($.synthesis) to make anomalies from good images");

        return new PipelineSpec
        {
            Name = name,
            Description = ReadValue<string>(obj, "description", "a string") ?? "",
            Seed = ReadValue<int?>(obj, "seed", "a whole number") ?? 0,
            Input = input,
            Map = map,
            Calibration = calibration,
            Stages = stages,
            Notes = notes,
        };
    }

    static IReadOnlyList<ComponentSpec> ReadStage(JsonObject obj, StageKind stage, IComponentCatalog catalog, bool validate, string path)
    {
        ComponentSpec Checked(ComponentSpec spec) => validate ? Normalize(spec, stage.Kind, catalog) : spec;

        if (!obj.TryGetPropertyValue(stage.Section, out var node) || node is null)
        {
            if (stage.Required)
                throw new PipelineException($"$.{stage.Section}: missing; a pipeline needs a {stage.Words} here, e.g. {{ \"type\": \"{Example(stage, catalog)}\" }}");
            return stage.DefaultType is { } type ? [Checked(new ComponentSpec(type, new JsonObject(), path))] : [];
        }
        if (!stage.IsList) return [Checked(ReadComponentNode(node, path, stage, catalog))];
        if (node is not JsonArray array) throw new PipelineException($"{path}: expected a list of components [ {{ \"type\": ... }} ]");
        return array.Select((item, i) => Checked(ReadComponentNode(item, $"{path}[{i}]", stage, catalog))).ToList();
    }

    static string Example(StageKind stage, IComponentCatalog catalog) =>
        catalog.Components.FirstOrDefault(c => c.Kind == stage.Kind)?.TypeName ?? "...";

    /// <summary>
    /// <c>"features": { "type": "features.onnx", ... }</c> (pipelines and model files written before backbone and
    /// embedding were two stages) becomes <c>"backbone": { "type": "backbone.onnx", ... }</c> plus
    /// <c>"embedding": { "type": "embedding.patch", ... }</c>, each option going to the stage that now owns it.
    /// </summary>
    static JsonObject MigrateFeatures(JsonObject obj, List<string> notes)
    {
        if (obj.ContainsKey(StageKinds.Backbone.Section) || obj.ContainsKey(StageKinds.Embedding.Section))
            throw new PipelineException($"$.{LegacyFeaturesSection}: give either \"features\" (the old form) or \"backbone\" and \"embedding\", not both");
        if (obj[LegacyFeaturesSection] is not JsonObject features)
            throw new PipelineException($"$.{LegacyFeaturesSection}: expected an object with a \"type\"");
        var type = features["type"]?.GetValue<string>();
        if (type != "features.onnx")
            throw new PipelineException($"$.{LegacyFeaturesSection}.type: '{type}' cannot be migrated; \"features\" is now two stages, \"backbone\" and \"embedding\" (see docs/architecture.md)");
        string[] embeddingOptions = ["patchSize", "reduction", "targetDim"];
        var backbone = new JsonObject { ["type"] = "backbone.onnx" };
        var embedding = new JsonObject { ["type"] = "embedding.patch" };
        foreach (var (key, value) in features)
        {
            if (key == "type") continue;
            (embeddingOptions.Contains(key) ? embedding : backbone)[key] = value?.DeepClone();
        }
        var migrated = new JsonObject();
        foreach (var (key, value) in obj)
        {
            if (key == LegacyFeaturesSection)
            {
                migrated[StageKinds.Backbone.Section] = backbone;
                migrated[StageKinds.Embedding.Section] = embedding;
            }
            else migrated[key] = value?.DeepClone();
        }
        notes.Add("$.features (features.onnx) was read as $.backbone (backbone.onnx) + $.embedding (embedding.patch); write it that way to silence this note");
        return migrated;
    }

    static void ValidateInput(InputSpec input)
    {
        if (input.Resize == Images.ResizeMode.Fit)
        {
            if (input.Width is null || input.Height is null)
                throw new PipelineException($"$.input.{(input.Width is null ? "width" : "height")}: \"resize\": \"fit\" needs the backbone input's width and height, e.g. \"width\": 224, \"height\": 576 for a part about 2.5 times as tall as wide");
        }
        else if (input.Width is not null || input.Height is not null)
            throw new PipelineException($"$.input.{(input.Width is not null ? "width" : "height")}: only used with \"resize\": \"fit\"; the square resize uses size and crop");
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
        if (JsonDuplicateKeys.FirstDuplicate(json) is { } path) throw new PipelineException($"{path}: given twice; keep one of the two values");
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
        ComponentOptions.RefuseNulls(section, typeof(T), $"$.{key}");
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

    /// <summary>A component object as written: its type and its other members as options (defaults not yet filled in).</summary>
    static ComponentSpec ReadComponentNode(JsonNode? node, string path, StageKind stage, IComponentCatalog catalog)
    {
        if (node is not JsonObject component) throw new PipelineException($"{path}: expected an object with a \"type\"");
        if (!component.TryGetPropertyValue("type", out var typeNode) || typeNode is null)
            throw new PipelineException($"{path}.type: missing; name the component, e.g. \"type\": \"{Example(stage, catalog)}\"");
        if (typeNode is not JsonValue typeValue || !typeValue.TryGetValue<string>(out var type))
            throw new PipelineException($"{path}.type: must be a string naming the component, e.g. \"type\": \"{Example(stage, catalog)}\"");
        var options = new JsonObject();
        foreach (var (k, v) in component)
            if (k != "type") options[k] = v?.DeepClone();
        return new ComponentSpec(type, options, path);
    }

    static ComponentSpec Normalize(ComponentSpec spec, ComponentKind kind, IComponentCatalog catalog)
    {
        ComponentDescriptor descriptor;
        try { descriptor = catalog.Find(spec.Type, kind); }
        catch (PipelineException e) { throw new PipelineException($"{spec.JsonPath}.type: {e.Message}", e); }
        return spec with { Options = catalog.NormalizeOptions(descriptor, spec.Options, spec.JsonPath) };
    }

    /// <summary>Options that do not apply (fit mode's width and height in square mode) are left out, not written as null.</summary>
    static JsonObject WithoutNulls(JsonObject section)
    {
        foreach (var key in section.Where(p => p.Value is null).Select(p => p.Key).ToList()) section.Remove(key);
        return section;
    }

    internal static JsonObject ToJson(PipelineSpec spec)
    {
        var json = new JsonObject
        {
            ["name"] = spec.Name,
            ["description"] = spec.Description,
            ["seed"] = spec.Seed,
            ["input"] = WithoutNulls(JsonSerializer.SerializeToNode(spec.Input, ComponentOptions.Json)!.AsObject()),
            ["map"] = JsonSerializer.SerializeToNode(spec.Map, ComponentOptions.Json),
            ["calibration"] = JsonSerializer.SerializeToNode(spec.Calibration, ComponentOptions.Json),
        };
        foreach (var stage in StageKinds.All)
        {
            var components = spec.Components(stage);
            if (stage.IsList)
            {
                if (components.Count > 0) json[stage.Section] = new JsonArray(components.Select(c => (JsonNode)c.ToJson()).ToArray());
            }
            else if (components.Count == 1) json[stage.Section] = components[0].ToJson();
        }
        return json;
    }
}
