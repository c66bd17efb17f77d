using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;

namespace PipelineFramework.AutoML.SearchSpace;

/// <summary>Limits of a search; whichever is reached first ends it.</summary>
public sealed record SearchBudget
{
    public TimeSpan Time { get; init; } = TimeSpan.FromMinutes(10);
    public int Trials { get; init; } = 1000;
    /// <summary>
    /// Process working set the trials may reach, enforced while they run: a trial that goes above it is stopped, recorded
    /// as over-memory with the peak measured, and the search goes on. With N trials in parallel each has a share of 1/N.
    /// </summary>
    public long MemoryBytes { get; init; } = 8L << 30;
    /// <summary>Trials run at once; null = auto (<see cref="AutoParallel"/>).</summary>
    public int? Parallel { get; init; }

    /// <summary>
    /// What "auto" gives: one trial per 4 cores (a trial's kernels, coreset, kNN and the Gaussian estimates, are
    /// parallel loops that keep about that many busy) and at least <see cref="MinShareBytes"/> of the memory share per
    /// trial; never below 1. The 2-core machine gets 1: one trial already uses both cores.
    /// </summary>
    public int AutoParallel(int cores) => (int)Math.Max(1, Math.Min(cores / 4, MemoryBytes / MinShareBytes));

    /// <summary>The least memory share "auto" gives a trial running beside others.</summary>
    public const long MinShareBytes = 2L << 30;

    /// <summary>
    /// Trials at once on a machine of <paramref name="cores"/>: "auto", or the number asked for, at most one per core.
    /// More only share the cores: 12 random trials at once on 2 cores took 2:17 against 1:04 one at a time, and each
    /// trial's ms/image came out 2.6 to 8.7 times its own, which changed which trial was fastest (AutoML README).
    /// </summary>
    public int ResolveParallel(int cores) => Parallel is { } asked ? Math.Min(asked, Math.Max(1, cores)) : AutoParallel(cores);
}

/// <summary>
/// Successive halving on training-set size (tuner "halving"): rungs fit on growing fractions of the fitting images,
/// from <see cref="MinFraction"/> to all, each rung <see cref="Eta"/> times fewer trials than the one before.
/// </summary>
public sealed record HalvingOptions
{
    public double MinFraction { get; init; } = 0.25;
    public int Eta { get; init; } = 3;
}

/// <summary>
/// Weights of the validation objective (all measured on held-out good images and synthetic anomalies). Pixel AUROC
/// weighs most: over the audited trials it ranked the real test results best (AutoML README, "Measured").
/// </summary>
public sealed record ObjectiveWeights(double ImageAuroc = 0.2, double PixelAuroc = 0.6, double Aupro = 0.2)
{
    public double Combine(double image, double? pixel, double? aupro)
    {
        double total = ImageAuroc * image, weight = ImageAuroc;
        if (pixel is { } p) { total += PixelAuroc * p; weight += PixelAuroc; }
        if (aupro is { } a) { total += Aupro * a; weight += Aupro; }
        return weight > 0 ? total / weight : image;
    }
}

/// <summary>
/// A parsed search file: the base pipeline (JSON), the searched parameters, what every trial validates on, the
/// budget, the objective weights and the tuner. Immutable; <see cref="Pipeline"/> turns a point into a pipeline JSON.
/// </summary>
public sealed class SearchSpec
{
    public required string Name { get; init; }
    public required JsonObject BasePipeline { get; init; }
    public required IReadOnlyList<SearchParameter> Parameters { get; init; }
    /// <summary>Sections written into every trial's pipeline so that all trials are validated on the same data.</summary>
    public required JsonObject Validation { get; init; }
    public SearchBudget Budget { get; init; } = new();
    public ObjectiveWeights Objective { get; init; } = new();
    public string Tuner { get; init; } = "cfo";
    public HalvingOptions Halving { get; init; } = new();
    public int Seed { get; init; } = 1;

    /// <summary>Where every tuner starts: the base pipeline.</summary>
    public double[] StartPoint => Parameters.Select(p => p.Start).ToArray();

    /// <summary>The pipeline JSON of a point: the base with each active parameter's value written at its place.</summary>
    public JsonObject Pipeline(IReadOnlyList<double> point)
    {
        var json = (JsonObject)BasePipeline.DeepClone();
        var chosen = new Dictionary<SearchParameter, int>();
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Parent is { } parent && (!chosen.TryGetValue(parent, out int c) || c != p.ParentChoice)) continue;
            if (p.IsChoice) chosen[p] = p.ChoiceIndex(point[i]);
            var value = p.Decode(point[i]);
            var (section, option) = Address(p.Name);
            if (option is null) json[section] = value;
            else if (json[section] is JsonObject target) target[option] = value;
            else json[section] = new JsonObject { [option] = value };
        }
        foreach (var (key, value) in Validation) json[key] = value?.DeepClone();
        return json;
    }

    public const string AutoWord = "auto";

    /// <summary><c>$.scoring[scoring.patchcore].coresetRatio</c> → (scoring, coresetRatio); <c>$.input</c> → (input, null).</summary>
    static (string Section, string? Option) Address(string name)
    {
        var path = name[2..];
        int bracket = path.IndexOf('[');
        if (bracket >= 0) path = path[..bracket] + path[(path.IndexOf(']') + 1)..];
        int dot = path.IndexOf('.');
        return dot < 0 ? (path, null) : (path[..dot], path[(dot + 1)..]);
    }

    static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public static SearchSpec ParseFile(string path, IComponentCatalog catalog, Func<string, string>? resolvePipeline = null)
    {
        UserPaths.RequireFile(path, "Search file", "The shipped search is pipelines/automl-default.json.");
        return Parse(UserPaths.ReadUtf8Text(path, "Search file"), catalog, Path.GetDirectoryName(Path.GetFullPath(path))!, resolvePipeline, path);
    }

    static readonly string[] KnownKeys = ["name", "description", "base", "search", "validation", "budget", "objective", "tuner", "halving", "seed"];

    /// <summary>
    /// Reads a search file. <paramref name="resolvePipeline"/> maps a "base" name (e.g. a shipped pipeline) to a file;
    /// relative paths are taken from <paramref name="folder"/>. Errors name the JSON path.
    /// </summary>
    public static SearchSpec Parse(string text, IComponentCatalog catalog, string folder, Func<string, string>? resolvePipeline = null, string source = "search")
    {
        JsonObject root;
        try { root = JsonNode.Parse(text, documentOptions: Lenient) as JsonObject ?? throw new PipelineException($"{source}: a search file is a JSON object."); }
        catch (JsonException e) { throw new PipelineException($"{source}: not valid JSON{JsonReaderError.Where(e)}: {JsonReaderError.Reason(e)}"); }
        foreach (var (key, _) in root)
            if (!KnownKeys.Contains(key))
                throw new PipelineException($"{source}: $.{key} is not a search-file key{DidYouMean(key, KnownKeys)}; the keys are {string.Join(", ", KnownKeys)}.");

        var basePipeline = root["base"] switch
        {
            JsonObject inline => (JsonObject)inline.DeepClone(),
            JsonValue v when v.TryGetValue<string>(out var name) => ReadPipeline(name, folder, resolvePipeline, source),
            null => throw new PipelineException($"{source}: $.base is missing: name the pipeline the search starts from (a file, a shipped pipeline name, or an inline object)."),
            _ => throw new PipelineException($"{source}: $.base must be a pipeline file name or a pipeline object."),
        };
        // The base must be a valid pipeline on its own: its errors are reported before any search.
        var baseSpec = PipelineSpecParser.Parse(basePipeline.ToJsonString(), $"{source} $.base", catalog);

        var validation = root["validation"] as JsonObject ?? new JsonObject();
        var validationSections = new JsonObject
        {
            ["synthesis"] = validation["synthesis"]?.DeepClone() ?? new JsonArray(
                new JsonObject { ["type"] = "synthesis.cutpaste" }, new JsonObject { ["type"] = "synthesis.perlin" }, new JsonObject { ["type"] = "synthesis.poisson" }),
            ["calibration"] = new JsonObject
            {
                ["holdout"] = validation["holdout"]?.DeepClone() ?? JsonValue.Create(baseSpec.Calibration.Holdout),
                ["syntheticCount"] = validation["syntheticCount"]?.DeepClone() ?? JsonValue.Create(Math.Max(60, baseSpec.Calibration.SyntheticCount)),
                ["holdoutGroups"] = validation["holdoutGroups"]?.DeepClone() ?? JsonValue.Create(JsonNamingPolicy.CamelCase.ConvertName(baseSpec.Calibration.HoldoutGroups.ToString())),
                ["shiftedGoods"] = validation["shiftedGoods"]?.DeepClone() ?? JsonValue.Create(baseSpec.Calibration.ShiftedGoods),
                ["trainingSyntheticCount"] = JsonValue.Create(baseSpec.Calibration.TrainingSyntheticCount),
                ["batchSize"] = JsonValue.Create(baseSpec.Calibration.BatchSize),
            },
            ["seed"] = JsonValue.Create(baseSpec.Seed),
        };
        foreach (var (key, _) in validation)
            if (key is not ("synthesis" or "holdout" or "holdoutGroups" or "syntheticCount" or "shiftedGoods"))
                throw new PipelineException($"{source}: $.validation.{key} is not known; use synthesis, holdout, holdoutGroups, syntheticCount, shiftedGoods.");
        // The validation goes into every trial's pipeline: a mistake in it is reported now, under the search file's own
        // names, rather than failing every trial of the search.
        var validated = (JsonObject)basePipeline.DeepClone();
        foreach (var (key, value) in validationSections) validated[key] = value?.DeepClone();
        try { PipelineSpecParser.Parse(validated.ToJsonString(), source, catalog); }
        catch (PipelineException e)
        {
            throw new PipelineException(e.Message.Replace("$.calibration.", "$.validation.").Replace("$.synthesis", "$.validation.synthesis"), e);
        }

        var parameters = new List<SearchParameter>();
        if (root["search"] is JsonObject search)
            foreach (var (key, node) in search)
                AddParameter(parameters, key, node, baseSpec, basePipeline, catalog, source);
        else if (root["search"] is not null) throw new PipelineException($"{source}: $.search must be an object of \"section\" or \"section.option\" keys.");

        return new SearchSpec
        {
            Name = root["name"] is { } nameNode ? Text(nameNode, "$.name", source) : Path.GetFileNameWithoutExtension(source),
            BasePipeline = basePipeline,
            Parameters = parameters,
            Validation = validationSections,
            Budget = ParseBudget(root["budget"] as JsonObject, source),
            Objective = ParseObjective(root["objective"] as JsonObject, source),
            Tuner = root["tuner"] is { } tuner ? TunerName(Text(tuner, "$.tuner", source), source) : "cfo",
            Halving = ParseHalving(root["halving"], source),
            Seed = root["seed"] is { } seed ? (int)WholeNumber(seed, "$.seed", source, int.MinValue, int.MaxValue) : 1,
        };
    }

    static JsonObject ReadPipeline(string name, string folder, Func<string, string>? resolve, string source)
    {
        var path = Path.IsPathRooted(name) ? name : Path.Combine(folder, name);
        if (!File.Exists(path)) path = resolve?.Invoke(name) ?? path;
        if (!File.Exists(path)) throw new PipelineException($"{source}: $.base '{name}' is neither a file nor a shipped pipeline.");
        return JsonNode.Parse(File.ReadAllText(path), documentOptions: Lenient) as JsonObject
            ?? throw new PipelineException($"{source}: $.base '{path}' is not a JSON object.");
    }

    /// <summary>
    /// A search key is a section (<c>"scoring"</c>: alternatives of whole values or components) or a section and an
    /// option (<c>"map.sigma"</c>, <c>"embedding.patchSize"</c>). Values: an array (a choice), an object with
    /// min/max[/log/int] (a range), or "auto" (the range or choices of the option's metadata; for a stage, every
    /// installed component of its kind with every searchable option).
    /// </summary>
    static void AddParameter(List<SearchParameter> parameters, string key, JsonNode? node, PipelineSpec baseSpec, JsonObject basePipeline,
        IComponentCatalog catalog, string source)
    {
        string path = $"$.search.{key}";
        int dot = key.IndexOf('.');
        string section = dot < 0 ? key : key[..dot];
        string? option = dot < 0 ? null : key[(dot + 1)..];
        var stage = StageKinds.All.FirstOrDefault(s => s.Section == section);
        var sections = StageKinds.All.Select(s => s.Section).Concat(["input", "map"]).ToArray();
        if (!sections.Contains(section))
            throw new PipelineException($"{source}: {path}: '{section}' is not a section that can be searched{DidYouMean(section, sections)}.");

        if (option is null && stage is not null)
        {
            // Alternatives of a stage's component, each with its own searched options.
            IEnumerable<JsonNode?> alternatives = node switch
            {
                JsonArray array => array,
                JsonValue v when v.TryGetValue<string>(out var s) && s == AutoWord =>
                    catalog.Components.Where(c => c.Kind == stage.Kind).Select(c => (JsonNode?)new JsonObject { ["type"] = c.TypeName, ["*"] = AutoWord }),
                _ => throw new PipelineException($"{source}: {path}: a stage takes an array of alternative components or \"auto\"."),
            };
            var components = new List<JsonNode?>();
            var nested = new List<(int Index, JsonObject Component, ComponentDescriptor Descriptor)>();
            foreach (var alt in alternatives)
            {
                if (alt is not JsonObject component || component["type"] is not JsonValue typeValue || !typeValue.TryGetValue<string>(out var type))
                    throw new PipelineException($"{source}: {path}[{components.Count}]: each alternative is a component object with a \"type\".");
                var descriptor = catalog.Find(type, stage.Kind);
                var fixedPart = new JsonObject();
                foreach (var (name, value) in component)
                    if (name == "*" || (name != "type" && IsSearch(value))) continue;
                    else fixedPart[name] = value?.DeepClone();
                nested.Add((components.Count, component, descriptor));
                components.Add(fixedPart);
            }
            if (components.Count == 0) throw new PipelineException($"{source}: {path}: the list of alternatives is empty; give at least one component.");
            string baseType = baseSpec.Components(stage) is [var only] ? only.Type : "";
            int start = Math.Max(0, components.FindIndex(c => c?["type"]?.GetValue<string>() == baseType));
            var choice = new SearchParameter { Name = $"$.{section}", Choices = components, Start = (start + 0.5) / components.Count };
            parameters.Add(choice);
            foreach (var (index, component, descriptor) in nested)
            {
                bool all = component["*"] is JsonValue star && star.TryGetValue<string>(out var w) && w == AutoWord;
                foreach (var info in descriptor.Options)
                {
                    var value = component[info.Name];
                    if (value is null && !(all && info.Searchable)) continue;
                    if (value is not null && !IsSearch(value)) continue;
                    var p = FromNode($"$.{section}[{descriptor.TypeName}].{info.Name}", value ?? JsonValue.Create(AutoWord), info, defaultValue: null, source);
                    parameters.Add(p with { Parent = choice, ParentChoice = index });
                }
            }
            return;
        }

        if (option is null)
        {
            if (node is not JsonArray values) throw new PipelineException($"{source}: {path}: a section takes an array of alternative values.");
            if (values.Count == 0) throw new PipelineException($"{source}: {path}: the list of alternatives is empty; give at least one value.");
            int start = Math.Max(0, values.ToList().FindIndex(v => JsonNode.DeepEquals(v, basePipeline[section])));
            parameters.Add(new SearchParameter { Name = $"$.{section}", Choices = values.Select(v => v?.DeepClone()).ToList(), Start = (start + 0.5) / values.Count });
            return;
        }

        IReadOnlyList<OptionInfo> options = section switch
        {
            "input" => ComponentOptions.Describe(typeof(InputSpec)),
            "map" => ComponentOptions.Describe(typeof(MapSpec)),
            _ when stage is not null && baseSpec.Components(stage) is [var c] => catalog.Find(c.Type, stage.Kind).Options,
            _ => throw new PipelineException($"{source}: {path}: the base pipeline has no single component in $.{section}; search its alternatives under \"{section}\" instead."),
        };
        var found = options.FirstOrDefault(o => o.Name == option)
            ?? throw new PipelineException($"{source}: {path}: $.{section} has no option '{option}'{DidYouMean(option, options.Select(o => o.Name))}.");
        var current = basePipeline[section]?[option];
        parameters.Add(FromNode($"$.{section}.{option}", node, found, current, source));
    }

    static bool IsSearch(JsonNode? value) =>
        value is JsonArray || (value is JsonObject o && (o.ContainsKey("min") || o.ContainsKey("max")))
        || (value is JsonValue v && v.TryGetValue<string>(out var s) && s == AutoWord);

    static SearchParameter FromNode(string name, JsonNode? node, OptionInfo info, JsonNode? defaultValue, string source)
    {
        defaultValue ??= string.IsNullOrEmpty(info.DefaultJson) ? null : JsonNode.Parse(info.DefaultJson);
        var type = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        bool integer = type == typeof(int) || type == typeof(long);
        switch (node)
        {
            case JsonArray array:
            {
                if (array.Count == 0) throw new PipelineException($"{source}: {name}: the list of choices is empty; give at least one value.");
                int start = Math.Max(0, array.ToList().FindIndex(v => JsonNode.DeepEquals(v, defaultValue)));
                return new SearchParameter { Name = name, Choices = array.Select(v => v?.DeepClone()).ToList(), Start = (start + 0.5) / array.Count };
            }
            case JsonObject range:
            {
                foreach (var (key, _) in range)
                    if (key is not ("min" or "max" or "log" or "int"))
                        throw new PipelineException($"{source}: {name}.{key} is not known{DidYouMean(key, ["min", "max", "log", "int"])}; a range has min, max, log, int.");
                double min = range["min"] is { } minNode ? Number(minNode, $"{name}.min", source) : throw new PipelineException($"{source}: {name}: a range needs \"min\".");
                double max = range["max"] is { } maxNode ? Number(maxNode, $"{name}.max", source) : throw new PipelineException($"{source}: {name}: a range needs \"max\".");
                bool log = range["log"] is { } logNode && Flag(logNode, $"{name}.log", source);
                if (!(min < max) || (log && min <= 0))
                    throw new PipelineException($"{source}: {name}: the range needs min < max{(log ? " and min > 0 on a log scale" : "")}; got {min}..{max}.");
                if (info.Range is { } valid && (!valid.Contains(min) || !valid.Contains(max)))
                    throw new PipelineException($"{source}: {name}: {min}..{max} leaves the option's valid range {valid.Min}..{valid.Max}.");
                var p = new SearchParameter { Name = name, Min = min, Max = max, Log = log, Integer = range["int"] is { } intNode ? Flag(intNode, $"{name}.int", source) : integer };
                return p with { Start = StartOf(p, defaultValue) };
            }
            case JsonValue v when v.TryGetValue<string>(out var word) && word == AutoWord:
            {
                if (info.Choices.Count > 0)
                {
                    var choices = info.Choices.Select(c => type == typeof(bool) ? JsonValue.Create(c == "true") : (JsonNode?)JsonValue.Create(c)).ToList();
                    int start = Math.Max(0, choices.FindIndex(c => JsonNode.DeepEquals(c, defaultValue)));
                    return new SearchParameter { Name = name, Choices = choices, Start = (start + 0.5) / choices.Count };
                }
                if (info.Range is not { } r)
                    throw new PipelineException($"{source}: {name}: \"auto\" needs the option's range metadata, and this option has none; give a range or a choice.");
                double min = double.IsNaN(r.SearchMin) ? r.Min : r.SearchMin, max = double.IsNaN(r.SearchMax) ? r.Max : r.SearchMax;
                if (r.LogScale && min <= 0) min = Math.Max(min, integer ? 1 : 1e-6);
                var p = new SearchParameter { Name = name, Min = min, Max = max, Log = r.LogScale, Integer = integer };
                return p with { Start = StartOf(p, defaultValue) };
            }
            default:
                throw new PipelineException($"{source}: {name}: give an array (choice), {{\"min\", \"max\", \"log\"}} (range) or \"auto\".");
        }
    }

    static double StartOf(SearchParameter p, JsonNode? defaultValue) =>
        defaultValue is JsonValue v && v.TryGetValue<double>(out var d) ? p.ToUnit(d) : 0.5;

    static SearchBudget ParseBudget(JsonObject? budget, string source)
    {
        var result = new SearchBudget();
        if (budget is null) return result;
        foreach (var (key, value) in budget)
        {
            result = key switch
            {
                "time" => result with { Time = ParseDuration(value!.ToString(), $"{source}: $.budget.time") },
                "trials" => result with { Trials = (int)WholeNumber(value, "$.budget.trials", source, 1, int.MaxValue) },
                "memory" => result with { MemoryBytes = ParseBytes(value!.ToString(), $"{source}: $.budget.memory") },
                "parallel" => result with { Parallel = ParseParallel(value?.ToString() ?? "", $"{source}: $.budget.parallel") },
                _ => throw new PipelineException($"{source}: $.budget.{key} is not known{DidYouMean(key, ["time", "trials", "memory", "parallel"])}; use time, trials, memory, parallel."),
            };
        }
        return result;
    }

    /// <summary>"auto" (null) or a number of trials at once, 1 or more.</summary>
    public static int? ParseParallel(string text, string what)
    {
        if (text.Trim() == AutoWord) return null;
        if (int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 1) return n;
        throw new PipelineException($"{what}: '{text}' is not a number of trials at once; write \"auto\" or a whole number of 1 or more.");
    }

    static HalvingOptions ParseHalving(JsonNode? node, string source)
    {
        var result = new HalvingOptions();
        if (node is null) return result;
        if (node is not JsonObject halving) throw new PipelineException($"{source}: $.halving must be an object such as {{ \"minFraction\": 0.25, \"eta\": 3 }}.");
        foreach (var (key, value) in halving)
        {
            result = key switch
            {
                "minFraction" => value is JsonValue v && v.TryGetValue<double>(out var f) && f > 0 && f <= 1 ? result with { MinFraction = f }
                    : throw new PipelineException($"{source}: $.halving.minFraction must be a number above 0 and at most 1 (the share of fitting images of the cheapest rung), e.g. 0.25."),
                "eta" => value is JsonValue e && e.TryGetValue<int>(out var eta) && eta >= 2 ? result with { Eta = eta }
                    : throw new PipelineException($"{source}: $.halving.eta must be a whole number of 2 or more (1/eta of a rung is promoted), e.g. 3."),
                _ => throw new PipelineException($"{source}: $.halving.{key} is not known{DidYouMean(key, ["minFraction", "eta"])}; use minFraction, eta."),
            };
        }
        return result;
    }

    static ObjectiveWeights ParseObjective(JsonObject? objective, string source)
    {
        var result = new ObjectiveWeights();
        if (objective is null) return result;
        foreach (var (key, value) in objective)
        {
            double w = Number(value, $"$.objective.{key}", source);
            if (w < 0) throw new PipelineException($"{source}: $.objective.{key} is a weight and must be 0 or more.");
            result = key switch
            {
                "imageAuroc" => result with { ImageAuroc = w },
                "pixelAuroc" => result with { PixelAuroc = w },
                "aupro" => result with { Aupro = w },
                _ => throw new PipelineException($"{source}: $.objective.{key} is not known{DidYouMean(key, ["imageAuroc", "pixelAuroc", "aupro"])}; use imageAuroc, pixelAuroc, aupro."),
            };
        }
        if (result.ImageAuroc + result.PixelAuroc + result.Aupro <= 0)
            throw new PipelineException($"{source}: $.objective: every weight is 0, so no trial would be better than another; give at least one weight above 0.");
        return result;
    }

    static string TunerName(string name, string source) => Tuners.TunerFactory.Names.Contains(name) ? name
        : throw new PipelineException($"{source}: $.tuner '{name}' is not known{DidYouMean(name, Tuners.TunerFactory.Names)}; use {string.Join(", ", Tuners.TunerFactory.Names)}.");

    /// <summary>A finite JSON number, or an error naming the path (a string such as "NaN", 1e400 or an object is not one).</summary>
    static double Number(JsonNode? node, string path, string source) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d
            : throw new PipelineException($"{source}: {path}: {Shown(node)} is not a finite number.");

    static long WholeNumber(JsonNode? node, string path, string source, long min, long max)
    {
        double d = Number(node, path, source);
        return d == Math.Floor(d) && d >= min && d <= max ? (long)d
            : throw new PipelineException($"{source}: {path}: {Shown(node)} must be a whole number from {min} to {max}.");
    }

    static bool Flag(JsonNode node, string path, string source) =>
        node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>()
            : throw new PipelineException($"{source}: {path}: {Shown(node)} must be true or false.");

    static string Text(JsonNode node, string path, string source) =>
        node is JsonValue v && v.TryGetValue<string>(out var text) ? text : throw new PipelineException($"{source}: {path}: {Shown(node)} must be a string.");

    static string Shown(JsonNode? node)
    {
        var json = node?.ToJsonString() ?? "null";
        return json.Length <= 40 ? json : json[..40] + "...";
    }

    /// <summary>
    /// The longest time budget: 100000 hours (11 years), far beyond any search, so a search bounded by its trials alone
    /// can still name a time; a longer one overflowed TimeSpan (an unexpected OverflowException, as if a bug).
    /// </summary>
    public const double MaxDurationHours = 100_000;

    /// <summary>"10m", "90s", "1h", "1h30m" or a number of seconds; above zero and at most <see cref="MaxDurationHours"/>.</summary>
    public static TimeSpan ParseDuration(string text, string what)
    {
        text = text.Trim();
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            seconds = 0;
            int i = 0;
            while (i < text.Length)
            {
                int j = i;
                while (j < text.Length && (char.IsDigit(text[j]) || text[j] == '.')) j++;
                if (j == i || j == text.Length || !double.TryParse(text[i..j], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
                    throw new PipelineException($"{what}: '{text}' is not a duration; write e.g. 10m, 90s, 1h30m.");
                seconds += n * text[j] switch
                {
                    'h' => 3600, 'm' => 60, 's' => 1,
                    _ => throw new PipelineException($"{what}: '{text}' is not a duration; write e.g. 10m, 90s, 1h30m."),
                };
                i = j + 1;
            }
        }
        if (double.IsNaN(seconds) || seconds <= 0) throw new PipelineException($"{what}: '{text}': the duration must be above zero.");
        if (seconds > MaxDurationHours * 3600)
            throw new PipelineException($"{what}: '{text}' is longer than the longest budget, {MaxDurationHours:0}h (11 years); to bound a search by its trials alone, give the trials and a long time such as 1000h.");
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>"4GB", "512MB", "64KB", "1TB" or a number of bytes; from 1 MB (the idle process alone is larger) to 1 PB.</summary>
    public static long ParseBytes(string text, string what)
    {
        var upper = text.Trim().ToUpperInvariant();
        (string unit, long factor) = upper.EndsWith("TB") ? ("TB", 1L << 40) : upper.EndsWith("GB") ? ("GB", 1L << 30) : upper.EndsWith("MB") ? ("MB", 1L << 20)
            : upper.EndsWith("KB") ? ("KB", 1L << 10) : upper.EndsWith('B') ? ("B", 1L) : ("", 1L);
        if (!double.TryParse(upper[..^unit.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || !double.IsFinite(n))
            throw new PipelineException($"{what}: '{text}' is not a size; write e.g. 4GB or 512MB (units B, KB, MB, GB, TB).");
        double bytes = n * factor;
        if (bytes < MinMemoryBytes || bytes > MaxMemoryBytes)
            throw new PipelineException($"{what}: '{text}' is outside the sizes a memory share can have, 1MB to 1024TB; write e.g. 4GB or 512MB.");
        return (long)bytes;
    }

    const long MinMemoryBytes = 1L << 20, MaxMemoryBytes = 1L << 50;

    internal static string DidYouMean(string word, IEnumerable<string> known)
    {
        return Spelling.Nearest(word, known) is { } near && near.Distance <= Math.Max(2, word.Length / 3) ? $" (did you mean '{near.Name}'?)" : "";
    }

}
