using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.FeatureNoise;

/// <summary>Hyperparameters of <see cref="FeatureNoiseSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record FeatureNoiseOptions
{
    /// <summary>Standard deviation of the i.i.d. Gaussian noise added to every component of a patch embedding (SimpleNet: 0.015).</summary>
    [OptionRange(0, 10, MinExclusive = true, LogScale = true, SearchMin = 0.001, SearchMax = 0.1)] public double Sigma { get; init; } = 0.015;
}
