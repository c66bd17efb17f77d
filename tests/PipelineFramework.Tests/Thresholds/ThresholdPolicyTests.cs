using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Core.Thresholds;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Thresholds;

public class ThresholdPolicyTests
{
    static readonly float[] Good = [1f, 2f, 3f, 4f, 10f];

    [Fact]
    public void Quantile_interpolates_like_numpy()
    {
        // numpy.quantile([1,2,3,4,10], 0.9) = 4 + 0.6 * (10 - 4) = 7.6
        var decision = new QuantileThreshold(new QuantileThresholdOptions { Quantile = 0.9 }).Decide(new ThresholdInputs { GoodScores = Good });
        Assert.Equal(7.6, decision.Threshold, 6);
        Assert.Equal(7.6 * 1.5, new QuantileThreshold(new QuantileThresholdOptions { Quantile = 0.9, Margin = 1.5 }).Decide(new ThresholdInputs { GoodScores = Good }).Threshold, 6);
    }

    [Fact]
    public void Contamination_is_the_upper_quantile()
    {
        // rate 0.25 -> quantile 0.75 -> position 3 -> 4
        Assert.Equal(4.0, new ContaminationThreshold(new ContaminationThresholdOptions { Rate = 0.25 }).Decide(new ThresholdInputs { GoodScores = Good }).Threshold, 6);
    }

    [Fact]
    public void Synthetic_f1_cuts_between_good_and_synthetic_scores()
    {
        var policy = new SyntheticF1Threshold(new SyntheticF1ThresholdOptions());
        // Sorted: 12 (a), 11 (a), 10 (g), 9 (a), 4 (g) ... Cuts: after 11 -> P=1, R=2/3, F1=0.8; after 9 -> P=3/4, R=1, F1=6/7=0.857.
        var decision = policy.Decide(new ThresholdInputs { GoodScores = Good, SyntheticAnomalyScores = [9f, 11f, 12f] });
        Assert.Equal((9.0 + 4.0) / 2, decision.Threshold, 6);
        Assert.Contains("0.857", decision.Rationale);
        var e = Assert.Throws<PipelineException>(() => policy.Decide(new ThresholdInputs { GoodScores = Good }));
        Assert.Contains("syntheticCount", e.Message);
    }

    [Fact]
    public void Synthetic_f1_without_synthesis_is_refused_before_any_work()
    {
        var e = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson("""
            { "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" },
              "threshold": { "type": "threshold.synthetic-f1" } }
            """, TestData.Catalog));
        Assert.Contains("$.threshold", e.Message);
        Assert.Contains("syntheticCount", e.Message);
    }

    [Fact]
    public void Normalisation_puts_the_threshold_at_one_half_and_the_median_good_score_at_five_percent()
    {
        var n = ScoreNormalization.FromCalibration(7.6, Good);
        Assert.Equal(0.5, n.Apply(7.6), 12);
        Assert.Equal(0.05, n.Apply(3.0), 9);
        Assert.True(n.Apply(8) > n.Apply(7.7));
    }
}
