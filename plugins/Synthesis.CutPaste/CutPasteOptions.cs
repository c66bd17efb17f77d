using PipelineFramework.Abstractions;

namespace PipelineFramework.Synthesis.CutPaste;

/// <summary>Hyperparameters of <see cref="CutPasteSynthesizer"/> (JSON names are the camelCase property names).</summary>
public sealed record CutPasteOptions : IValidatableOptions
{
    /// <summary>"rectangle", "scar" or "both" (each draw picks one of the two with equal probability).</summary>
    public string Mode { get; init; } = "both";

    /// <summary>Rectangle area as a fraction of the image area, drawn uniformly in [min, max].</summary>
    public double AreaRatioMin { get; init; } = 0.02;
    public double AreaRatioMax { get; init; } = 0.15;

    /// <summary>Rectangle width/height ratio, drawn log-uniformly in [min, max].</summary>
    public double AspectRatioMin { get; init; } = 0.3;
    public double AspectRatioMax { get; init; } = 3.3;

    /// <summary>Scar width in pixels at <see cref="ReferenceSize"/>, drawn uniformly in [min, max].</summary>
    public double ScarWidthMin { get; init; } = 2;
    public double ScarWidthMax { get; init; } = 16;

    /// <summary>Scar length in pixels at <see cref="ReferenceSize"/>, drawn uniformly in [min, max].</summary>
    public double ScarLengthMin { get; init; } = 10;
    public double ScarLengthMax { get; init; } = 25;

    /// <summary>Image side (pixels) at which the scar sizes hold; they scale with min(height, width) / referenceSize.</summary>
    public int ReferenceSize { get; init; } = 256;

    /// <summary>Scar rotation in degrees, drawn uniformly in [-max, max].</summary>
    public double ScarRotationMax { get; init; } = 45;

    /// <summary>Strength of the colour jitter on the cut patch (brightness, contrast, saturation and hue, as torchvision's ColorJitter).</summary>
    public double ColorJitter { get; init; } = 0.1;

    /// <summary>Draws tried before giving up when a paste changes no pixel (e.g. a uniform image).</summary>
    public int MaxAttempts { get; init; } = 20;

    public IEnumerable<OptionError> Validate()
    {
        if (Mode is not ("rectangle" or "scar" or "both"))
            yield return new("mode", $"'{Mode}' is not a mode; use \"rectangle\", \"scar\" or \"both\".");
        if (!(AreaRatioMin > 0 && AreaRatioMin <= AreaRatioMax && AreaRatioMax <= 1))
            yield return new("areaRatioMin", $"Area ratio range [{AreaRatioMin}, {AreaRatioMax}] must satisfy 0 < areaRatioMin <= areaRatioMax <= 1.");
        if (!(AspectRatioMin > 0 && AspectRatioMin <= AspectRatioMax && double.IsFinite(AspectRatioMax)))
            yield return new("aspectRatioMin", $"Aspect ratio range [{AspectRatioMin}, {AspectRatioMax}] must satisfy 0 < aspectRatioMin <= aspectRatioMax.");
        if (!(ScarWidthMin > 0 && ScarWidthMin <= ScarWidthMax && double.IsFinite(ScarWidthMax)))
            yield return new("scarWidthMin", $"Scar width range [{ScarWidthMin}, {ScarWidthMax}] must satisfy 0 < scarWidthMin <= scarWidthMax.");
        if (!(ScarLengthMin > 0 && ScarLengthMin <= ScarLengthMax && double.IsFinite(ScarLengthMax)))
            yield return new("scarLengthMin", $"Scar length range [{ScarLengthMin}, {ScarLengthMax}] must satisfy 0 < scarLengthMin <= scarLengthMax.");
        if (ReferenceSize <= 0)
            yield return new("referenceSize", $"Must be a positive number of pixels; got {ReferenceSize}.");
        if (!(ScarRotationMax >= 0 && ScarRotationMax <= 180))
            yield return new("scarRotationMax", $"Must be between 0 and 180 degrees; got {ScarRotationMax}.");
        if (!(ColorJitter >= 0 && ColorJitter <= 0.5))
            yield return new("colorJitter", $"Must be between 0 and 0.5; got {ColorJitter}.");
        if (MaxAttempts < 1)
            yield return new("maxAttempts", $"Must be at least 1; got {MaxAttempts}.");
    }
}
