using PipelineFramework.Abstractions;

namespace PipelineFramework.Scoring.SimpleNet;

/// <summary>Hyperparameters of <see cref="SimpleNetScorer"/> (JSON names are the camelCase property names).</summary>
public sealed record SimpleNetOptions : IValidatableOptions
{
    /// <summary>Hidden units of the discriminator MLP (SimpleNet: 1024; smaller here for CPU training).</summary>
    [OptionRange(1, 65_536, LogScale = true, SearchMin = 32, SearchMax = 1024)] public int HiddenSize { get; init; } = 256;

    /// <summary>
    /// Standard deviation of the Gaussian noise that turns adapted good features into anomalous ones, in scaled units
    /// (SimpleNet: 0.015 on raw WideResNet-50 features). At 0.05 and below the noisy copies are indistinguishable from
    /// good patches and the discriminator stays at chance on its own batches (README, "Why it did not learn").
    /// </summary>
    [OptionRange(0, 10, MinExclusive = true, LogScale = true, SearchMin = 0.05, SearchMax = 2)] public double NoiseSigma { get; init; } = 0.5;

    /// <summary>Passes over the (subsampled) good patches.</summary>
    [OptionRange(1, 10_000, SearchMin = 5, SearchMax = 100)] public int Epochs { get; init; } = 20;

    /// <summary>Adam learning rate of the discriminator (SimpleNet: 2e-4).</summary>
    [OptionRange(0, 1, MinExclusive = true, LogScale = true, SearchMin = 1e-5, SearchMax = 1e-2)] public double LearningRate { get; init; } = 2e-4;

    /// <summary>Adam learning rate of the feature adaptor (SimpleNet: 1e-4); 0 keeps the adaptor at the identity.</summary>
    [OptionRange(0, 1, LogScale = true, SearchMin = 1e-6, SearchMax = 1e-2)] public double AdaptorLearningRate { get; init; } = 1e-4;

    /// <summary>Good patches per step (each step also sees as many noisy copies and up to as many synthetic anomalies).</summary>
    [OptionRange(1, 65_536), NotSearched] public int BatchSize { get; init; } = 256;

    /// <summary>Good patches are subsampled (seeded) to at most this many; synthetic anomalous patches too.</summary>
    [OptionRange(1, 10_000_000), NotSearched] public int MaxTrainPatches { get; init; } = 50_000;

    /// <summary>Margin th of the truncated L1 loss: good max(0, th − D(x)), anomalous max(0, th + D(x)).</summary>
    [OptionRange(0, 100, MinExclusive = true, SearchMin = 0.1, SearchMax = 2)] public double LossThreshold { get; init; } = 0.5;

    /// <summary>Negative slope of the discriminator's LeakyReLU.</summary>
    [OptionRange(0, 1, MaxExclusive = true, SearchMax = 0.5)] public double LeakySlope { get; init; } = 0.2;

    /// <summary>
    /// Input scaling fitted on the good patches before the adaptor: "global" (centre each dimension, divide all by one
    /// scale so the mean per-dimension variance is 1 — makes noiseSigma comparable across backbones), "per-dimension"
    /// (z-score each dimension) or "none" (raw features, as SimpleNet).
    /// </summary>
    public string FeatureScaling { get; init; } = "global";

    /// <summary>Also learn from labelled synthetic patches (ScorerFitInputs.Synthetic) when the pipeline provides them.</summary>
    public bool UseSynthetic { get; init; } = true;

    /// <summary>The checks a range cannot express; every number's own range is its [OptionRange].</summary>
    public IEnumerable<OptionError> Validate()
    {
        if (FeatureScaling is not ("global" or "per-dimension" or "none"))
            yield return new("featureScaling", $"featureScaling '{FeatureScaling}' is not known; use \"global\", \"per-dimension\" or \"none\".");
    }
}
