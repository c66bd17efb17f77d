using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.CutPaste;

/// <summary>Hyperparameters of <see cref="CutPasteSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record CutPasteOptions : IValidatableOptions
{
    /// <summary>"rectangle", "scar" or "both" (each draw picks one of the two with equal probability).</summary>
    public string Mode { get; init; } = "both";

    /// <summary>Rectangle area as a fraction of the image area, drawn uniformly in [min, max].</summary>
    [OptionRange(0, 1, MinExclusive = true, LogScale = true, SearchMin = 0.005, SearchMax = 0.3)] public double AreaRatioMin { get; init; } = 0.02;
    [OptionRange(0, 1, MinExclusive = true, LogScale = true, SearchMin = 0.005, SearchMax = 0.3)] public double AreaRatioMax { get; init; } = 0.15;

    /// <summary>Rectangle width/height ratio, drawn log-uniformly in [min, max].</summary>
    [OptionRange(0.01, 100, LogScale = true, SearchMin = 0.1, SearchMax = 10)] public double AspectRatioMin { get; init; } = 0.3;
    [OptionRange(0.01, 100, LogScale = true, SearchMin = 0.1, SearchMax = 10)] public double AspectRatioMax { get; init; } = 3.3;

    /// <summary>Scar width in pixels at <see cref="ReferenceSize"/>, drawn uniformly in [min, max].</summary>
    [OptionRange(0, 1024, MinExclusive = true, SearchMin = 1, SearchMax = 64)] public double ScarWidthMin { get; init; } = 2;
    [OptionRange(0, 1024, MinExclusive = true, SearchMin = 1, SearchMax = 64)] public double ScarWidthMax { get; init; } = 16;

    /// <summary>Scar length in pixels at <see cref="ReferenceSize"/>, drawn uniformly in [min, max].</summary>
    [OptionRange(0, 4096, MinExclusive = true, SearchMin = 2, SearchMax = 128)] public double ScarLengthMin { get; init; } = 10;
    [OptionRange(0, 4096, MinExclusive = true, SearchMin = 2, SearchMax = 128)] public double ScarLengthMax { get; init; } = 25;

    /// <summary>Image side (pixels) at which the scar sizes hold; they scale with min(height, width) / referenceSize.</summary>
    [OptionRange(8, 16_384), NotSearched] public int ReferenceSize { get; init; } = 256;

    /// <summary>Scar rotation in degrees, drawn uniformly in [-max, max].</summary>
    [OptionRange(0, 180)] public double ScarRotationMax { get; init; } = 45;

    /// <summary>Strength of the colour jitter on the cut patch (brightness, contrast, saturation and hue, as torchvision's ColorJitter).</summary>
    [OptionRange(0, 0.5)] public double ColorJitter { get; init; } = 0.1;

    /// <summary>Draws tried before giving up when a paste changes no pixel (e.g. a uniform image).</summary>
    [OptionRange(1, 10_000), NotSearched] public int MaxAttempts { get; init; } = 20;

    /// <summary>The checks a range cannot express (choices, min below max); every number's own range is its [OptionRange].</summary>
    public IEnumerable<OptionError> Validate()
    {
        if (Mode is not ("rectangle" or "scar" or "both"))
            yield return new("mode", $"'{Mode}' is not a mode; use \"rectangle\", \"scar\" or \"both\".");
        if (AreaRatioMin > AreaRatioMax)
            yield return new("areaRatioMin", $"Area ratio range [{AreaRatioMin}, {AreaRatioMax}]: areaRatioMin must not exceed areaRatioMax.");
        if (AspectRatioMin > AspectRatioMax)
            yield return new("aspectRatioMin", $"Aspect ratio range [{AspectRatioMin}, {AspectRatioMax}]: aspectRatioMin must not exceed aspectRatioMax.");
        if (ScarWidthMin > ScarWidthMax)
            yield return new("scarWidthMin", $"Scar width range [{ScarWidthMin}, {ScarWidthMax}]: scarWidthMin must not exceed scarWidthMax.");
        if (ScarLengthMin > ScarLengthMax)
            yield return new("scarLengthMin", $"Scar length range [{ScarLengthMin}, {ScarLengthMax}]: scarLengthMin must not exceed scarLengthMax.");
    }
}
