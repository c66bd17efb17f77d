using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.Blend;

/// <summary>Hyperparameters of <see cref="PoissonBlendSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record PoissonBlendOptions : IValidatableOptions
{
    /// <summary>Patch size: the geometric mean of its sides as a fraction of min(height, width), uniform in [min, max].</summary>
    public double PatchSizeMin { get; init; } = 0.1;
    public double PatchSizeMax { get; init; } = 0.4;

    /// <summary>Patch width/height ratio, log-uniform in [min, max].</summary>
    public double AspectRatioMin { get; init; } = 0.5;
    public double AspectRatioMax { get; init; } = 2.0;

    /// <summary>
    /// Guidance field: "source" (the patch's own gradients, classic seamless cloning, as NSA) or "mixed" (per edge, the
    /// stronger of the source and target gradients, which keeps target texture showing through).
    /// </summary>
    public string GradientMode { get; init; } = "source";

    /// <summary>Upper bound on conjugate-gradient iterations per channel (it stops earlier at a relative residual of 1e-6).</summary>
    public int SolverIterations { get; init; } = 1000;

    /// <summary>
    /// A pixel belongs to the mask when some channel changed by more than this. Pixels inside the patch that changed by
    /// at most this much are reset to the original, so the image differs from the input exactly on the mask.
    /// </summary>
    public double MaskTolerance { get; init; } = 0.01;

    /// <summary>Draws tried before giving up when a blend changes no pixel by more than maskTolerance.</summary>
    public int MaxAttempts { get; init; } = 20;

    public IEnumerable<OptionError> Validate()
    {
        if (!(PatchSizeMin > 0 && PatchSizeMin <= PatchSizeMax && PatchSizeMax <= 0.9))
            yield return new("patchSizeMin", $"Patch size range [{PatchSizeMin}, {PatchSizeMax}] must satisfy 0 < patchSizeMin <= patchSizeMax <= 0.9.");
        if (!(AspectRatioMin > 0 && AspectRatioMin <= AspectRatioMax && double.IsFinite(AspectRatioMax)))
            yield return new("aspectRatioMin", $"Aspect ratio range [{AspectRatioMin}, {AspectRatioMax}] must satisfy 0 < aspectRatioMin <= aspectRatioMax.");
        if (GradientMode is not ("source" or "mixed"))
            yield return new("gradientMode", $"'{GradientMode}' is not a gradient mode; use \"source\" or \"mixed\".");
        if (SolverIterations < 1)
            yield return new("solverIterations", $"Must be at least 1; got {SolverIterations}.");
        if (!(MaskTolerance >= 0 && MaskTolerance < 1))
            yield return new("maskTolerance", $"Must be in [0, 1); got {MaskTolerance}.");
        if (MaxAttempts < 1)
            yield return new("maxAttempts", $"Must be at least 1; got {MaxAttempts}.");
    }
}
