using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Spec;

/// <summary>
/// Image geometry and normalisation: "square" (default) resizes to Size x Size and centre-crops Crop x Crop; "fit" keeps
/// the aspect ratio inside Width x Height (padded, nothing cut); then (x - mean) / std.
/// </summary>
public sealed record InputSpec
{
    [NotSearched] public Images.ResizeMode Resize { get; init; } = Images.ResizeMode.Square;
    [OptionRange(8, 4096), NotSearched] public int Size { get; init; } = 256;
    [OptionRange(8, 4096), NotSearched] public int Crop { get; init; } = 224;
    /// <summary>Fit mode only: the backbone input's width and height.</summary>
    [OptionRange(8, 4096), NotSearched] public int? Width { get; init; }
    [OptionRange(8, 4096), NotSearched] public int? Height { get; init; }
    [NotSearched] public Images.ColourMode Colour { get; init; } = Images.ColourMode.Rgb;
    /// <summary>Per-image intensity normalisation before the backbone: "none" or "mean" (see <see cref="Images.IntensityMode"/>).</summary>
    [NotSearched] public Images.IntensityMode Intensity { get; init; } = Images.IntensityMode.None;
    [OptionRange(-10, 10)] public float[] Mean { get; init; } = [0.485f, 0.456f, 0.406f];
    [OptionRange(0, 10, MinExclusive = true)] public float[] Std { get; init; } = [0.229f, 0.224f, 0.225f];
}

/// <summary>How patch scores become a heat map: bilinear upsampling to the crop size, then a Gaussian blur.</summary>
public sealed record MapSpec
{
    /// <summary>Gaussian blur of the heat map in map pixels; 0 = none. Above 64 a map is one blur of the whole part.</summary>
    [OptionRange(0, 64, SearchMin = 0, SearchMax = 8)] public double Sigma { get; init; } = 4;

    /// <summary>
    /// How an image's score is made from its patch scores: "max" (the scorer's, the largest patch score) or
    /// "maxOverMedian" (the largest over the image's median: parts that differ everywhere, e.g. another batch, are not
    /// rejected for that alone) or "maxOverLowerQuartile" (the same over the lower quartile). A ratio divides the whole
    /// heat map by the same reference, so regions are found in the threshold's units.
    /// </summary>
    public Engine.ImageScoreMode ImageScore { get; init; } = Engine.ImageScoreMode.Max;
}

/// <summary>How the hold-out split groups training images (<see cref="CalibrationSpec.HoldoutGroups"/>).</summary>
public enum HoldoutGrouping { Copies, NamePrefix }

/// <summary>What the threshold is calibrated on: a share of the good training images held out of fitting.</summary>
public sealed record CalibrationSpec
{
    /// <summary>Share of good training images held out (at least one image).</summary>
    [OptionRange(0, 1, MinExclusive = true, MaxExclusive = true), NotSearched] public double Holdout { get; init; } = 0.2;

    /// <summary>
    /// What is held out together: "copies" (identical images stay on one side) or "namePrefix" (also every image whose
    /// file name starts with the same text before its first '_' or '-', e.g. a batch, lot or part number: the hold-out
    /// then holds whole batches the fit never saw, as a line sees new batches).
    /// </summary>
    [NotSearched] public HoldoutGrouping HoldoutGroups { get; init; } = HoldoutGrouping.Copies;

    /// <summary>Synthetic anomalies made from held-out good images (needs a synthesis stage); 0 = none.</summary>
    [OptionRange(0, 10_000), NotSearched] public int SyntheticCount { get; init; } = 0;

    /// <summary>
    /// Copies of every held-out good image photographed a little differently (exposure, contrast, gamma, sensor noise:
    /// <see cref="Synthesis.NuisanceShift"/>), still good parts. AutoML's validation scores them with the held-out good
    /// images, so a pipeline that rejects a part for a new exposure or batch loses. 0 = none.
    /// </summary>
    [OptionRange(0, 10), NotSearched] public int ShiftedGoods { get; init; } = 0;

    /// <summary>
    /// Synthetic anomalies made from the fitting images and handed to the scorer as labelled patches (learned scorers
    /// use them; others ignore them). 0 = none. Never from held-out or test images.
    /// </summary>
    [OptionRange(0, 100_000), NotSearched] public int TrainingSyntheticCount { get; init; } = 0;

    /// <summary>Images per feature-extraction batch.</summary>
    [OptionRange(1, 1024), NotSearched] public int BatchSize { get; init; } = 8;
}

/// <summary>A component in the pipeline: its type name, its options (without "type") and where it sits in the JSON.</summary>
public sealed record ComponentSpec(string Type, JsonObject Options, string JsonPath)
{
    public JsonObject ToJson()
    {
        var json = new JsonObject { ["type"] = Type };
        foreach (var (key, value) in Options) json[key] = value?.DeepClone();
        return json;
    }
}

/// <summary>
/// A parsed, validated pipeline with every default filled in. Components are held per stage kind
/// (<see cref="Engine.StageKinds"/>), in run order; the typed properties are views of that one map.
/// </summary>
public sealed record PipelineSpec
{
    public required string Name { get; init; }
    public string Description { get; init; } = "";
    public int Seed { get; init; }
    public InputSpec Input { get; init; } = new();
    public MapSpec Map { get; init; } = new();
    public CalibrationSpec Calibration { get; init; } = new();
    /// <summary>Stage section to its components (one for single stages, any number for lists).</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<ComponentSpec>> Stages { get; init; }
    /// <summary>What the parser changed while reading (e.g. an old section migrated); front ends show these.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Resize, crop or fit, and colour of every image, as fitting and scoring both apply them.</summary>
    public Images.Preprocessing Preprocessing => (Input.Resize == Images.ResizeMode.Fit
        ? Images.Preprocessing.Fit(Input.Width ?? Input.Crop, Input.Height ?? Input.Crop)
        : new Images.Preprocessing(Input.Size, Input.Crop)) with { Colour = Input.Colour, Intensity = Input.Intensity };

    /// <summary>What the backbone is fed: 3 channels at the preprocessed size, normalised with the input's mean and std.</summary>
    public InputGeometry Geometry
    {
        get
        {
            var preprocessing = Preprocessing;
            return new() { Channels = 3, Height = preprocessing.Height, Width = preprocessing.Width, Mean = Input.Mean, Std = Input.Std };
        }
    }

    public IReadOnlyList<ComponentSpec> Components(Engine.StageKind stage) => Stages.TryGetValue(stage.Section, out var list) ? list : [];

    ComponentSpec? Single(Engine.StageKind stage) => Components(stage) is [var only] ? only : null;

    public IReadOnlyList<ComponentSpec> Synthesis => Components(Engine.StageKinds.Synthesis);
    public ComponentSpec Backbone => Single(Engine.StageKinds.Backbone)!;
    public ComponentSpec Embedding => Single(Engine.StageKinds.Embedding)!;
    public ComponentSpec Scoring => Single(Engine.StageKinds.Scoring)!;
    public ComponentSpec Threshold => Single(Engine.StageKinds.Threshold)!;
    public IReadOnlyList<ComponentSpec> Logic => Components(Engine.StageKinds.Logic);
    public ComponentSpec? Explain => Single(Engine.StageKinds.Explain);

    /// <summary>The same pipeline with one stage's components replaced (AutoML trials, tests).</summary>
    public PipelineSpec With(Engine.StageKind stage, params ComponentSpec[] components)
    {
        var stages = Stages.ToDictionary(p => p.Key, p => p.Value);
        stages[stage.Section] = components;
        return this with { Stages = stages };
    }

    /// <summary>The canonical JSON: every default filled in, sections in a fixed order.</summary>
    public JsonObject ToJson() => PipelineSpecParser.ToJson(this);

    /// <summary>Canonical JSON of just the named sections: the key of anything that depends only on them.</summary>
    public string CanonicalJson(params string[] sections)
    {
        var json = ToJson();
        var subset = new JsonObject();
        foreach (var section in sections)
            subset[section] = json.TryGetPropertyValue(section, out var node) ? node?.DeepClone() : null;
        return subset.ToJsonString();
    }
}
