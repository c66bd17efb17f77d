using PipelineFramework.Abstractions;

namespace PipelineFramework.Scoring.SimpleNet;

/// <summary>Hyperparameters of <see cref="SimpleNetScorer"/> (JSON names are the camelCase property names).</summary>
public sealed record SimpleNetOptions : IValidatableOptions
{
    /// <summary>Hidden units of the discriminator MLP (SimpleNet: 1024; smaller here for CPU training).</summary>
    public int HiddenSize { get; init; } = 256;

    /// <summary>Standard deviation of the Gaussian noise that turns adapted good features into anomalous ones (SimpleNet: 0.015).</summary>
    public double NoiseSigma { get; init; } = 0.015;

    /// <summary>Passes over the (subsampled) good patches.</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Adam learning rate of the discriminator (SimpleNet: 2e-4).</summary>
    public double LearningRate { get; init; } = 2e-4;

    /// <summary>Adam learning rate of the feature adaptor (SimpleNet: 1e-4); 0 keeps the adaptor at the identity.</summary>
    public double AdaptorLearningRate { get; init; } = 1e-4;

    /// <summary>Good patches per step (each step also sees as many noisy copies and up to as many synthetic anomalies).</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Good patches are subsampled (seeded) to at most this many; synthetic anomalous patches too.</summary>
    public int MaxTrainPatches { get; init; } = 50_000;

    /// <summary>Margin th of the truncated L1 loss: good max(0, th − D(x)), anomalous max(0, th + D(x)).</summary>
    public double LossThreshold { get; init; } = 0.5;

    /// <summary>Negative slope of the discriminator's LeakyReLU.</summary>
    public double LeakySlope { get; init; } = 0.2;

    /// <summary>
    /// Input scaling fitted on the good patches before the adaptor: "global" (centre each dimension, divide all by one
    /// scale so the mean per-dimension variance is 1 — makes noiseSigma comparable across backbones), "per-dimension"
    /// (z-score each dimension) or "none" (raw features, as SimpleNet).
    /// </summary>
    public string FeatureScaling { get; init; } = "global";

    /// <summary>Also learn from labelled synthetic patches (ScorerFitInputs.Synthetic) when the pipeline provides them.</summary>
    public bool UseSynthetic { get; init; } = true;

    public IEnumerable<OptionError> Validate()
    {
        if (HiddenSize is < 1 or > 65_536)
            yield return new("hiddenSize", $"hiddenSize must be between 1 and 65536; got {HiddenSize}.");
        if (!(NoiseSigma > 0 && double.IsFinite(NoiseSigma)))
            yield return new("noiseSigma", $"noiseSigma must be a positive number; got {NoiseSigma}.");
        if (Epochs < 1)
            yield return new("epochs", $"epochs must be at least 1; got {Epochs}.");
        if (!(LearningRate > 0 && LearningRate <= 1))
            yield return new("learningRate", $"learningRate must be positive and at most 1 (typically 1e-4 to 1e-3); got {LearningRate}.");
        if (!(AdaptorLearningRate >= 0 && AdaptorLearningRate <= 1))
            yield return new("adaptorLearningRate", $"adaptorLearningRate must be between 0 (frozen adaptor) and 1; got {AdaptorLearningRate}.");
        if (BatchSize < 1)
            yield return new("batchSize", $"batchSize must be at least 1; got {BatchSize}.");
        if (MaxTrainPatches < 1)
            yield return new("maxTrainPatches", $"maxTrainPatches must be at least 1; got {MaxTrainPatches}.");
        if (!(LossThreshold > 0 && double.IsFinite(LossThreshold)))
            yield return new("lossThreshold", $"lossThreshold must be a positive number; got {LossThreshold}.");
        if (!(LeakySlope >= 0 && LeakySlope < 1))
            yield return new("leakySlope", $"leakySlope must be in [0, 1); got {LeakySlope}.");
        if (FeatureScaling is not ("global" or "per-dimension" or "none"))
            yield return new("featureScaling", $"featureScaling '{FeatureScaling}' is not known; use \"global\", \"per-dimension\" or \"none\".");
    }
}
