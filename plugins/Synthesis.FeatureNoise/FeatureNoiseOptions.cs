using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.FeatureNoise;

/// <summary>Hyperparameters of <see cref="FeatureNoiseSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record FeatureNoiseOptions : IValidatableOptions
{
    /// <summary>Standard deviation of the i.i.d. Gaussian noise added to every component of a patch embedding (SimpleNet: 0.015).</summary>
    public double Sigma { get; init; } = 0.015;

    public IEnumerable<OptionError> Validate()
    {
        if (!(Sigma > 0 && double.IsFinite(Sigma)))
            yield return new("sigma", $"Must be a positive number; got {Sigma}.");
    }
}
