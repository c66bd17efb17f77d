using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.Perlin;

/// <summary>Hyperparameters of <see cref="PerlinSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record PerlinOptions : IValidatableOptions
{
    /// <summary>
    /// Noise scale: 2^k lattice cells across the image, k drawn uniformly (independently for x and y) in
    /// [minScaleExponent, maxScaleExponent) — as DRAEM's <c>torch.randint(0, 6)</c>: 1 to 32 cells by default.
    /// </summary>
    public int MinScaleExponent { get; init; } = 0;
    public int MaxScaleExponent { get; init; } = 6;

    /// <summary>Noise values above this become the mask (DRAEM: 0.5; the noise lies roughly in [-1, 1]).</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>The noise field is rotated by a uniform angle in ±rotationMax degrees.</summary>
    public double RotationMax { get; init; } = 90;

    /// <summary>
    /// Weight of the original image inside the mask, drawn uniformly in [betaMin, betaMax):
    /// out = img·(1−m) + (1−β)·texture·m + β·img·m. Small β = opaque texture.
    /// </summary>
    public double BetaMin { get; init; } = 0.1;
    public double BetaMax { get; init; } = 1.0;

    /// <summary>Apply <see cref="TextureAugmentations"/> random photometric/geometric augmentations to the texture (DRAEM: 3).</summary>
    public bool AugmentTexture { get; init; } = true;
    public int TextureAugmentations { get; init; } = 3;

    /// <summary>
    /// Folder of texture images (*.png, *.jpg, *.jpeg, *.bmp), e.g. the DTD data set as in DRAEM. When unset, the texture
    /// is another good image of the synthesis source.
    /// </summary>
    public string? TextureFolder { get; init; }

    /// <summary>Draws tried before giving up when the thresholded noise (or the blend) changes no pixel.</summary>
    public int MaxAttempts { get; init; } = 50;

    public IEnumerable<OptionError> Validate()
    {
        if (!(MinScaleExponent >= 0 && MinScaleExponent < MaxScaleExponent && MaxScaleExponent <= 12))
            yield return new("minScaleExponent", $"Scale exponents [{MinScaleExponent}, {MaxScaleExponent}) must satisfy 0 <= minScaleExponent < maxScaleExponent <= 12.");
        if (!(Threshold >= -1 && Threshold < 1))
            yield return new("threshold", $"Must be in [-1, 1) (the noise range); got {Threshold}.");
        if (!(RotationMax >= 0 && RotationMax <= 180))
            yield return new("rotationMax", $"Must be between 0 and 180 degrees; got {RotationMax}.");
        if (!(BetaMin >= 0 && BetaMin < BetaMax && BetaMax <= 1))
            yield return new("betaMin", $"Opacity range [{BetaMin}, {BetaMax}) must satisfy 0 <= betaMin < betaMax <= 1.");
        if (TextureAugmentations < 0 || TextureAugmentations > TextureAugmenter.Count)
            yield return new("textureAugmentations", $"Must be between 0 and {TextureAugmenter.Count}; got {TextureAugmentations}.");
        if (TextureFolder is not null && string.IsNullOrWhiteSpace(TextureFolder))
            yield return new("textureFolder", "Is empty; leave it out to take textures from the other good images.");
        if (MaxAttempts < 1)
            yield return new("maxAttempts", $"Must be at least 1; got {MaxAttempts}.");
    }
}
