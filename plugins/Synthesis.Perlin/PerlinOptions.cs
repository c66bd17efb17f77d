using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.Perlin;

/// <summary>Hyperparameters of <see cref="PerlinSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record PerlinOptions : IValidatableOptions
{
    /// <summary>
    /// Noise scale: 2^k lattice cells across the image, k drawn uniformly (independently for x and y) in
    /// [minScaleExponent, maxScaleExponent) — as DRAEM's <c>torch.randint(0, 6)</c>: 1 to 32 cells by default.
    /// </summary>
    [OptionRange(0, 11)] public int MinScaleExponent { get; init; } = 0;
    [OptionRange(1, 12)] public int MaxScaleExponent { get; init; } = 6;

    /// <summary>Noise values above this become the mask (DRAEM: 0.5; the noise lies roughly in [-1, 1]).</summary>
    [OptionRange(-1, 1, MaxExclusive = true, SearchMin = 0, SearchMax = 0.8)] public double Threshold { get; init; } = 0.5;

    /// <summary>The noise field is rotated by a uniform angle in ±rotationMax degrees.</summary>
    [OptionRange(0, 180)] public double RotationMax { get; init; } = 90;

    /// <summary>
    /// Weight of the original image inside the mask, drawn uniformly in [betaMin, betaMax):
    /// out = img·(1−m) + (1−β)·texture·m + β·img·m. Small β = opaque texture.
    /// </summary>
    [OptionRange(0, 1, MaxExclusive = true)] public double BetaMin { get; init; } = 0.1;
    [OptionRange(0, 1, MinExclusive = true)] public double BetaMax { get; init; } = 1.0;

    /// <summary>Apply <see cref="TextureAugmentations"/> random photometric/geometric augmentations to the texture (DRAEM: 3).</summary>
    public bool AugmentTexture { get; init; } = true;
    [OptionRange(0, TextureAugmenter.Count)] public int TextureAugmentations { get; init; } = 3;

    /// <summary>
    /// Folder of texture images (*.png, *.jpg, *.jpeg, *.bmp), e.g. the DTD data set as in DRAEM. When unset, the texture
    /// is another good image of the synthesis source.
    /// </summary>
    public string? TextureFolder { get; init; }

    /// <summary>Draws tried before giving up when the thresholded noise (or the blend) changes no pixel.</summary>
    [OptionRange(1, 10_000), NotSearched] public int MaxAttempts { get; init; } = 50;

    /// <summary>The checks a range cannot express (min below max, an empty path); every number's own range is its [OptionRange].</summary>
    public IEnumerable<OptionError> Validate()
    {
        if (MinScaleExponent >= MaxScaleExponent)
            yield return new("minScaleExponent", $"Scale exponents [{MinScaleExponent}, {MaxScaleExponent}): minScaleExponent must be below maxScaleExponent.");
        if (BetaMin >= BetaMax)
            yield return new("betaMin", $"Opacity range [{BetaMin}, {BetaMax}): betaMin must be below betaMax.");
        if (TextureFolder is not null && string.IsNullOrWhiteSpace(TextureFolder))
            yield return new("textureFolder", "Is empty; leave it out to take textures from the other good images.");
        // The folder is read when the first anomaly is drawn, deep inside parallel work; checked here, a missing or
        // empty folder is one clear error when the pipeline is read, before any work (and also for a fit that would
        // never draw an anomaly: the pipeline as written is wrong either way).
        else if (TextureFolder is not null && TextureProblem(TextureFolder) is { } problem)
            yield return new("textureFolder", problem);
    }

    internal static readonly string[] TextureExtensions = [".png", ".jpg", ".jpeg", ".bmp"];

    /// <summary>The texture files of <paramref name="folder"/> in a fixed order; throws when there are none.</summary>
    internal static string[] TextureFiles(string folder) =>
        TextureProblem(folder) is { } problem ? throw new PipelineException($"synthesis.perlin: textureFolder: {problem}") : ListTextures(folder);

    static string? TextureProblem(string folder)
    {
        if (File.Exists(folder)) return $"'{folder}' is a file; name a folder of texture images, or leave textureFolder out to use the other good images.";
        if (!Directory.Exists(folder)) return $"the folder '{folder}' does not exist; create it and put texture images in it, or leave textureFolder out to use the other good images.";
        try
        {
            return ListTextures(folder).Length == 0
                ? $"the folder '{folder}' holds no *.png, *.jpg, *.jpeg or *.bmp files; put texture images in it, or leave textureFolder out to use the other good images."
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"the folder '{folder}' cannot be read ({e.Message}); check its permissions, or leave textureFolder out.";
        }
    }

    static string[] ListTextures(string folder) =>
        Directory.EnumerateFiles(folder)
            .Where(f => TextureExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToArray();
}
