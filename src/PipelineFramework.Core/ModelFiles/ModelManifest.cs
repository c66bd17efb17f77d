using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace PipelineFramework.Core.ModelFiles;

/// <summary>
/// manifest.json of a model file: everything needed to score without the pipeline JSON it came from.
/// </summary>
public sealed record ModelManifest
{
    public const string FormatName = "pipelineframework.model";
    /// <summary>2: backbone and embedding are stages of their own (<c>backbone/</c>, <c>embedding/</c>), logic checks store state, models have an id.</summary>
    public const int CurrentFormatVersion = 2;

    public string Format { get; init; } = FormatName;
    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>Names this fitted model in results, logs and reports (not a secret, not a hash of the data).</summary>
    public string ModelId { get; init; } = "";
    /// <summary>Format of the file this manifest was read from, when older than <see cref="FormatVersion"/> (in memory only).</summary>
    [JsonIgnore] internal int StateFormatVersion { get; init; }
    public string CreatedBy { get; init; } = "";
    public DateTime CreatedUtc { get; init; }
    /// <summary>The pipeline spec with every default filled in.</summary>
    public required JsonObject Pipeline { get; init; }
    public required PreprocessingManifest Preprocessing { get; init; }
    /// <summary>Stage ("backbone", "scoring", "logic[0]", ...) to the component that filled it.</summary>
    public required Dictionary<string, ComponentManifest> Components { get; init; }
    public required ThresholdManifest Threshold { get; init; }
    public required ScoreNormalization Normalization { get; init; }
    public required TrainingManifest Training { get; init; }

    /// <summary>
    /// What JSON types alone do not rule out but would make the model misjudge silently (a zero scale, NaN threshold,
    /// two-channel mean); null when there is nothing. Checked once, where the manifest is read.
    /// </summary>
    internal string? FirstProblem()
    {
        var p = Preprocessing;
        if (p.Size < 1 || p.Crop < 1) return $"preprocessing size {p.Size} and crop {p.Crop} must be positive";
        if (p.Mean.Length != 3 || !p.Mean.All(float.IsFinite)) return $"preprocessing mean [{string.Join(", ", p.Mean)}] must be 3 finite numbers";
        if (p.Std.Length != 3 || !p.Std.All(s => float.IsFinite(s) && s > 0)) return $"preprocessing std [{string.Join(", ", p.Std)}] must be 3 positive numbers";
        if (!double.IsFinite(Threshold.Value)) return $"threshold value {Threshold.Value} is not a finite number";
        if (!double.IsFinite(Normalization.Center) || !(Normalization.Scale > 0) || !double.IsFinite(Normalization.Scale))
            return $"normalization center {Normalization.Center} and scale {Normalization.Scale} must be finite with scale > 0";
        // The normalised score is 0.5 at the threshold by construction (ScoreNormalization.FromCalibration); a file where
        // they differ would print a score below 0.5 beside the verdict ANOMALY.
        if (Math.Abs(Normalization.Center - Threshold.Value) > 1e-9 * Math.Max(1.0, Math.Abs(Threshold.Value)))
            return $"normalization center {Normalization.Center} differs from the threshold {Threshold.Value} (they are one number when a model is fitted)";
        if (Components.Count == 0) return "components is empty";
        if (Training.ImageSizes?.Problem() is { } sizes) return sizes;
        if (Training.ImageLevels?.Problem() is { } levels) return levels;
        foreach (var (stage, component) in Components)
        {
            if (component is null) return $"components.{stage} is null";
            if (string.IsNullOrEmpty(component.Type)) return $"components.{stage}.type is empty";
        }
        return null;
    }
}

/// <summary>
/// How images were prepared, for readers of the file. Scoring takes the geometry from the pipeline stored beside it, so
/// a model is loaded only when the two agree (<see cref="Disagreement"/>): an edited manifest must not describe one
/// preprocessing while the model applies another. Width and Height are the backbone input's; files written before fit
/// mode existed lack Mode, Width, Height and Colour (read as square, 0, 0 and rgb, which is what their pipelines say,
/// except the 0s, which are not compared).
/// </summary>
public sealed record PreprocessingManifest(int Size, int Crop, float[] Mean, float[] Std, string Resize = "antialiased-linear", string ChannelOrder = "RGB")
{
    public string Mode { get; init; } = "square";
    public int Width { get; init; }
    public int Height { get; init; }
    public string Colour { get; init; } = "rgb";
    public string Intensity { get; init; } = "none";

    /// <summary>What a model fitted with <paramref name="spec"/> records: the one place fitting and loading take it from.</summary>
    public static PreprocessingManifest Of(Spec.PipelineSpec spec)
    {
        var applied = spec.Preprocessing;
        return new PreprocessingManifest(spec.Input.Size, spec.Input.Crop, spec.Input.Mean, spec.Input.Std)
        {
            Mode = applied.Mode.ToString().ToLowerInvariant(), Width = applied.Width, Height = applied.Height,
            Colour = applied.Colour.ToString().ToLowerInvariant(), Intensity = applied.Intensity.ToString().ToLowerInvariant(),
        };
    }

    /// <summary>
    /// The first field that differs from <paramref name="pipeline"/> (what the stored pipeline applies), naming the field
    /// and both values; null when they agree.
    /// </summary>
    internal string? Disagreement(PreprocessingManifest pipeline)
    {
        static string Numbers(float[] v) => $"[{string.Join(", ", v.Select(x => x.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]";
        (string Field, string Recorded, string Applied)[] fields =
        [
            ("size", $"{Size}", $"{pipeline.Size}"),
            ("crop", $"{Crop}", $"{pipeline.Crop}"),
            ("mean", Numbers(Mean), Numbers(pipeline.Mean)),
            ("std", Numbers(Std), Numbers(pipeline.Std)),
            ("resize", Resize, pipeline.Resize),
            ("channelOrder", ChannelOrder, pipeline.ChannelOrder),
            ("mode", Mode, pipeline.Mode),
            // 0 = not recorded (a file from before fit mode); any recorded size must be the one scoring uses.
            ("width", Width == 0 ? $"{pipeline.Width}" : $"{Width}", $"{pipeline.Width}"),
            ("height", Height == 0 ? $"{pipeline.Height}" : $"{Height}", $"{pipeline.Height}"),
            ("colour", Colour, pipeline.Colour),
            ("intensity", Intensity, pipeline.Intensity),
        ];
        return fields.FirstOrDefault(f => f.Recorded != f.Applied) is { Field: { } field } f
            ? $"preprocessing.{field} is {f.Recorded}, but the pipeline stored in the same file gives {f.Applied} (the model scores with the pipeline's; the two are written together, so one was edited)"
            : null;
    }
}

public sealed record ComponentManifest(string Type, string Source, string Version);

public sealed record ThresholdManifest(double Value, string Policy, string Rationale);

/// <param name="SyntheticAuroc">
/// Image AUROC between held-out good images and synthetic anomalies made from them: how well the pipeline separates
/// defects, estimated without any real defect (null without a synthesis stage).
/// </param>
public sealed record TrainingManifest(int FitImages, int HoldoutImages, int SyntheticAnomalies, double FitSeconds, int[] FeatureShape,
    double? SyntheticAuroc = null)
{
    /// <summary>Training images that repeated another one's pixels (kept on one side of the hold-out split).</summary>
    public int DuplicateImages { get; init; }
    /// <summary>Sizes of the good images as decoded (absent in files written before 2026-11-28: nothing is flagged then).</summary>
    public Images.GoodImageSizes? ImageSizes { get; init; }
    /// <summary>
    /// Whether the good images were all grey, all in colour or mixed (<c>imageColour</c>: grey, colour, mixed; absent in
    /// files written before it was recorded, which flag no image for its colour).
    /// </summary>
    public Images.GoodImageColour? ImageColour { get; init; }
    /// <summary>
    /// Brightness range and lowest contrast of the good images (<c>imageLevels</c>; absent in files written before it
    /// was recorded, which flag no image for its levels).
    /// </summary>
    public Images.GoodImageLevels? ImageLevels { get; init; }
}

/// <summary>
/// Maps raw scores to [0, 1] with the threshold at exactly 0.5: logistic((raw - Center) / Scale). Scale is chosen so that
/// the median held-out good score maps to 0.05. Monotonic, so rankings (and AUROC) are unchanged.
/// </summary>
public sealed record ScoreNormalization(double Center, double Scale, string Kind = "logistic")
{
    public double Apply(double raw) => 1.0 / (1.0 + Math.Exp(-(raw - Center) / Scale));

    /// <summary>The median held-out good part's raw score: the one this normalisation maps to 0.05 (a method, so the manifest does not store it).</summary>
    public double GoodMedian() => Center - Scale * Math.Log(19.0);

    public static ScoreNormalization FromCalibration(double threshold, IReadOnlyList<float> goodScores)
    {
        var sorted = goodScores.Order().ToArray();
        double median = sorted.Length == 0 ? threshold : sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
        double spread = threshold - median;
        double floor = 1e-6 * Math.Max(1.0, Math.Abs(threshold));
        return new ScoreNormalization(threshold, Math.Max(spread / Math.Log(19.0), floor));
    }
}
