using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.Blend;

/// <summary>Hyperparameters of <see cref="PoissonBlendSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record PoissonBlendOptions : IValidatableOptions
{
    /// <summary>Patch size: the geometric mean of its sides as a fraction of min(height, width), uniform in [min, max].</summary>
    [OptionRange(0, 0.9, MinExclusive = true, SearchMin = 0.05)] public double PatchSizeMin { get; init; } = 0.1;
    [OptionRange(0, 0.9, MinExclusive = true, SearchMin = 0.05)] public double PatchSizeMax { get; init; } = 0.4;

    /// <summary>Patch width/height ratio, log-uniform in [min, max].</summary>
    [OptionRange(0.01, 100, LogScale = true, SearchMin = 0.1, SearchMax = 10)] public double AspectRatioMin { get; init; } = 0.5;
    [OptionRange(0.01, 100, LogScale = true, SearchMin = 0.1, SearchMax = 10)] public double AspectRatioMax { get; init; } = 2.0;

    /// <summary>
    /// Guidance field: "source" (the patch's own gradients, classic seamless cloning, as NSA) or "mixed" (per edge, the
    /// stronger of the source and target gradients, which keeps target texture showing through).
    /// </summary>
    public string GradientMode { get; init; } = "source";

    /// <summary>Upper bound on conjugate-gradient iterations per channel (it stops earlier at a relative residual of 1e-6).</summary>
    [OptionRange(1, 100_000), NotSearched] public int SolverIterations { get; init; } = 1000;

    /// <summary>
    /// A pixel belongs to the mask when some channel changed by more than this. Pixels inside the patch that changed by
    /// at most this much are reset to the original, so the image differs from the input exactly on the mask.
    /// </summary>
    [OptionRange(0, 1, MaxExclusive = true, SearchMax = 0.1)] public double MaskTolerance { get; init; } = 0.01;

    /// <summary>Draws tried before giving up when a blend changes no pixel by more than maskTolerance.</summary>
    [OptionRange(1, 10_000), NotSearched] public int MaxAttempts { get; init; } = 20;

    /// <summary>The checks a range cannot express (choices, min below max); every number's own range is its [OptionRange].</summary>
    public IEnumerable<OptionError> Validate()
    {
        if (PatchSizeMin > PatchSizeMax)
            yield return new("patchSizeMin", $"Patch size range [{PatchSizeMin}, {PatchSizeMax}]: patchSizeMin must not exceed patchSizeMax.");
        if (AspectRatioMin > AspectRatioMax)
            yield return new("aspectRatioMin", $"Aspect ratio range [{AspectRatioMin}, {AspectRatioMax}]: aspectRatioMin must not exceed aspectRatioMax.");
        if (GradientMode is not ("source" or "mixed"))
            yield return new("gradientMode", $"'{GradientMode}' is not a gradient mode; use \"source\" or \"mixed\".");
    }
}
