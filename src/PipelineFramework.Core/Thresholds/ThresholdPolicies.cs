using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Thresholds;

public sealed record QuantileThresholdOptions
{
    /// <summary>
    /// Share of held-out good images that should pass. At least 0.5: below the median the threshold rejects most good
    /// parts by design (0 put it at the lowest held-out good score and rejected 4 of hazelnut's 6 good test parts).
    /// </summary>
    [OptionRange(0.5, 1, SearchMin = 0.9)] public double Quantile { get; init; } = 0.99;
    /// <summary>Multiplies the quantile: a safety margin above the good scores (1 = none).</summary>
    [OptionRange(0, 100, MinExclusive = true, SearchMin = 1, SearchMax = 2)] public double Margin { get; init; } = 1.0;
}

/// <summary>A quantile of the held-out good images' scores (linear interpolation, as numpy.quantile).</summary>
[PipelineComponent("threshold.quantile", Description = "Quantile of held-out good-image scores (times a margin).")]
public sealed class QuantileThreshold(QuantileThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs)
    {
        RequireGood(inputs);
        double q = Statistics.Quantile(inputs.GoodScores, options.Quantile);
        return new() { Threshold = q * options.Margin, Rationale = $"{options.Quantile:0.###} quantile of {inputs.GoodScores.Count} held-out good scores" +
            (options.Margin == 1 ? "" : $" x {options.Margin}") };
    }

    internal static void RequireGood(ThresholdInputs inputs)
    {
        if (inputs.GoodScores.Count == 0)
            throw new PipelineException("the threshold needs scores of held-out good images, and there are none; add training images or raise calibration.holdout");
    }
}

public sealed record ContaminationThresholdOptions
{
    /// <summary>Expected share of anomalies among parts like the good ones (scikit-learn's contamination).</summary>
    [OptionRange(0, 0.5, MaxExclusive = true, SearchMax = 0.1)] public double Rate { get; init; } = 0.01;
}

/// <summary>scikit-learn style: the score above which a share <c>rate</c> of good parts would fall.</summary>
[PipelineComponent("threshold.contamination", Description = "Rejects the expected share of good-looking parts (scikit-learn contamination).")]
public sealed class ContaminationThreshold(ContaminationThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs)
    {
        QuantileThreshold.RequireGood(inputs);
        return new()
        {
            Threshold = Statistics.Quantile(inputs.GoodScores, 1 - options.Rate),
            Rationale = $"contamination {options.Rate:0.###} over {inputs.GoodScores.Count} held-out good scores",
        };
    }
}

public sealed record FixedThresholdOptions
{
    /// <summary>The raw score above which a part is rejected; set by hand, so not for AutoML to search.</summary>
    [OptionRange(-1e12, 1e12), NotSearched] public double Value { get; init; }
}

/// <summary>A threshold set by hand (e.g. agreed with the line's quality engineer).</summary>
[PipelineComponent("threshold.fixed", Description = "A fixed raw-score threshold.")]
public sealed class FixedThreshold(FixedThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs) => new() { Threshold = options.Value, Rationale = "fixed value" };
}

public sealed record SyntheticF1ThresholdOptions
{
    /// <summary>Weight of recall against precision (F-beta); 1 = F1.</summary>
    [OptionRange(0, 100, MinExclusive = true, LogScale = true, SearchMin = 0.25, SearchMax = 4)] public double Beta { get; init; } = 1.0;
}

/// <summary>
/// The threshold with the best F1 between held-out good images and synthetic anomalies made from them
/// (needs a synthesis stage and calibration.syntheticCount &gt; 0). Placed midway between the two scores it
/// separates, so it does not sit exactly on a calibration image.
/// </summary>
[PipelineComponent("threshold.synthetic-f1", Description = "F1-max between held-out good images and synthetic anomalies made from them.")]
public sealed class SyntheticF1Threshold(SyntheticF1ThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs)
    {
        QuantileThreshold.RequireGood(inputs);
        if (inputs.SyntheticAnomalyScores.Count == 0)
            throw new PipelineException("threshold.synthetic-f1 needs synthetic anomalies: add a \"synthesis\" stage and set calibration.syntheticCount above 0");
        var all = inputs.GoodScores.Select(s => (Score: (double)s, Anomaly: false))
            .Concat(inputs.SyntheticAnomalyScores.Select(s => (Score: (double)s, Anomaly: true)))
            .OrderByDescending(x => x.Score).ToArray();
        int positives = inputs.SyntheticAnomalyScores.Count;
        double beta2 = options.Beta * options.Beta;
        double bestF = -1, bestThreshold = all[0].Score;
        int tp = 0, fp = 0;
        // Sweep thresholds from high to low; a cut after index i flags all[0..i] (raw > threshold).
        for (int i = 0; i < all.Length; i++)
        {
            if (all[i].Anomaly) tp++; else fp++;
            if (i + 1 < all.Length && all[i + 1].Score == all[i].Score) continue;
            double precision = tp / (double)(tp + fp), recall = tp / (double)positives;
            double f = precision + recall == 0 ? 0 : (1 + beta2) * precision * recall / (beta2 * precision + recall);
            if (f > bestF)
            {
                bestF = f;
                bestThreshold = i + 1 < all.Length ? 0.5 * (all[i].Score + all[i + 1].Score) : all[i].Score - 1e-6 * Math.Max(1, Math.Abs(all[i].Score));
            }
        }
        return new() { Threshold = bestThreshold, Rationale = $"F{options.Beta:0.##}-max {bestF:0.###} between {inputs.GoodScores.Count} held-out good and {positives} synthetic anomaly scores" };
    }
}

static class Statistics
{
    /// <summary>numpy.quantile's default (linear interpolation between closest ranks).</summary>
    public static double Quantile(IReadOnlyList<float> values, double q)
    {
        var sorted = values.Select(v => (double)v).Order().ToArray();
        if (sorted.Length == 1) return sorted[0];
        double position = q * (sorted.Length - 1);
        int lower = (int)Math.Floor(position);
        int upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
    }
}
