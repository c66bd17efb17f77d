using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// The verdict on one part. <see cref="Score"/> is normalised (threshold = 0.5); <see cref="RawScore"/> and
/// <see cref="RawMap"/> are in the scorer's own units (metrics use them: the normalisation saturates in float).
/// <see cref="IsAnomaly"/> is true when the raw score is above the threshold or any logic rule failed.
/// </summary>
public sealed record InspectionResult
{
    public required string Id { get; init; }
    /// <summary>
    /// The part's raw score in the scorer's units: the scorer's image score, or, when a logic check reports a calibrated
    /// margin (a composition score), the larger of the two margins mapped back to these units (see docs/architecture.md).
    /// </summary>
    public required double RawScore { get; init; }
    /// <summary>The scorer's own image score, before any fusion with logic checks.</summary>
    public double ImageRawScore { get; init; }
    public required double Score { get; init; }
    public required bool IsAnomaly { get; init; }
    /// <summary>Heat map in raw-score units at the preprocessed (cropped) size.</summary>
    public required Grid2D RawMap { get; init; }
    /// <summary>Connected regions of the map above the threshold, strongest first.</summary>
    public IReadOnlyList<DefectRegion> Regions { get; init; } = [];
    /// <summary>Results of the pipeline's logic checks, in stage order.</summary>
    public IReadOnlyList<RuleResult> Rules { get; init; } = [];
    /// <summary>Milliseconds per image spent in each stage (decode, backbone, embedding, scoring, map, regions, logic).</summary>
    public IReadOnlyDictionary<string, double> Timings { get; init; } = new Dictionary<string, double>();
    /// <summary>Id of the model that gave this verdict (recorded in its manifest).</summary>
    public string ModelId { get; init; } = "";
    /// <summary>
    /// Set when the image's size or aspect ratio is unlike the good images the model was fitted on (see
    /// <see cref="Images.GoodImageSizes"/>): the verdict stands, but it compares the part with parts seen otherwise.
    /// </summary>
    public string? InputWarning { get; init; }

    /// <summary>True when the score alone is above the threshold (a failed rule can also make a part anomalous).</summary>
    public bool ScoreAboveThreshold(double threshold) => RawScore > threshold;

    /// <summary>The heat map on the normalised scale (0.5 = threshold), for display.</summary>
    public Grid2D NormalizedMap(ModelFiles.ScoreNormalization normalization)
    {
        var values = new float[RawMap.Values.Length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)normalization.Apply(RawMap.Values[i]);
        return new Grid2D(RawMap.Height, RawMap.Width, values);
    }
}

/// <summary>
/// One image of <see cref="AnomalyModel.InspectReadable"/>: its result, or why it has none: it could not be read, or
/// (<paramref name="Unscorable"/>) it was read but the scorer gave it no finite score, so it has no verdict at all
/// (never "good": NaN compares false with any threshold).
/// </summary>
public sealed record ImageOutcome(string Id, InspectionResult? Result, string? Error, bool Unscorable = false)
{
    /// <summary>The results in order, or the first image's error (in input order) as the exception.</summary>
    public static InspectionResult[] ResultsOrFirstError(IReadOnlyList<ImageOutcome> outcomes) =>
        outcomes.FirstOrDefault(o => o.Error is not null) is { } failed
            ? throw new PipelineException(failed.Error!)
            : outcomes.Select(o => o.Result!).ToArray();
}

/// <summary>
/// Scores of images whose backbone maps were already computed (<see cref="AnomalyModel.ScoreMaps"/>): raw image scores,
/// raw heat maps at the map size, and milliseconds per image of the stages after the backbone.
/// </summary>
public sealed record MapScores(float[] ImageScores, IReadOnlyList<Grid2D> Maps, IReadOnlyDictionary<string, double> MsPerImage);
