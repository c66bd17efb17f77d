using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Thresholds;

public sealed record QuantileThresholdOptions : IValidatableOptions
{
    /// <summary>Share of held-out good images that should pass.</summary>
    public double Quantile { get; init; } = 0.99;
    /// <summary>Multiplies the quantile: a safety margin above the good scores (1 = none).</summary>
    public double Margin { get; init; } = 1.0;

    public IEnumerable<OptionError> Validate()
    {
        if (Quantile is < 0 or > 1) yield return new("quantile", "must be between 0 and 1");
        if (Margin <= 0) yield return new("margin", "must be positive");
    }
}

/// <summary>A quantile of the held-out good images' scores (linear interpolation, as numpy.quantile).</summary>
[PipelineComponent("threshold.quantile", Description = "Quantile of held-out good-image scores (times a margin).")]
public sealed class QuantileThreshold(QuantileThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs)
    {
        RequireGood(inputs);
        double q = Statistics.Quantile(inputs.GoodScores, options.Quantile);
        return new(q * options.Margin, $"{options.Quantile:0.###} quantile of {inputs.GoodScores.Count} held-out good scores" +
            (options.Margin == 1 ? "" : $" x {options.Margin}"));
    }

    internal static void RequireGood(ThresholdInputs inputs)
    {
        if (inputs.GoodScores.Count == 0)
            throw new PipelineException("the threshold needs scores of held-out good images, and there are none; add training images or raise calibration.holdout");
    }
}

public sealed record ContaminationThresholdOptions : IValidatableOptions
{
    /// <summary>Expected share of anomalies among parts like the good ones (scikit-learn's contamination).</summary>
    public double Rate { get; init; } = 0.01;

    public IEnumerable<OptionError> Validate()
    {
        if (Rate is < 0 or >= 0.5) yield return new("rate", "must be at least 0 and below 0.5");
    }
}

/// <summary>scikit-learn style: the score above which a share <c>rate</c> of good parts would fall.</summary>
[PipelineComponent("threshold.contamination", Description = "Rejects the expected share of good-looking parts (scikit-learn contamination).")]
public sealed class ContaminationThreshold(ContaminationThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs)
    {
        QuantileThreshold.RequireGood(inputs);
        return new(Statistics.Quantile(inputs.GoodScores, 1 - options.Rate),
            $"contamination {options.Rate:0.###} over {inputs.GoodScores.Count} held-out good scores");
    }
}

public sealed record FixedThresholdOptions
{
    /// <summary>The raw score above which a part is rejected.</summary>
    public double Value { get; init; }
}

/// <summary>A threshold set by hand (e.g. agreed with the line's quality engineer).</summary>
[PipelineComponent("threshold.fixed", Description = "A fixed raw-score threshold.")]
public sealed class FixedThreshold(FixedThresholdOptions options) : IThresholdPolicy
{
    public ThresholdDecision Decide(ThresholdInputs inputs) => new(options.Value, "fixed value");
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
