using System.Globalization;

namespace PipelineFramework.Core.Images;

/// <summary>
/// The sizes of the good images a model was fitted on (fitting and hold-out, as decoded, before any resize), kept in
/// the model file so that an image unlike them is flagged when it is scored. Every image is resized to the model's
/// input, so a thumbnail, a strip or a photo of another framing still gets a score and a verdict; but that verdict
/// compares features of a squashed, cut or blurred part with those of sharp, whole ones, and can pass a defect the
/// crop cut away. A warning on the result says so; the verdict stays the model's.
/// </summary>
public sealed record GoodImageSizes(int MinWidth, int MaxWidth, int MinHeight, int MaxHeight)
{
    /// <summary>
    /// Aspect ratios within this factor of the fitted range pass: JPEG crops and sensor modes differ by a few per cent,
    /// and KolektorSDD's heights vary by 2 % within one camera.
    /// </summary>
    public const double AspectTolerance = 1.15;

    /// <summary>
    /// A shorter side below this share of the smallest fitted one is upscaled by more than 2x to reach the same input:
    /// the features see blur where the fitted parts had texture. Larger images are not flagged (the same framing at a
    /// higher resolution is resized down to what the model saw).
    /// </summary>
    public const double MinSideShare = 0.5;

    public static GoodImageSizes? Of(IEnumerable<(int Width, int Height)> sizes)
    {
        var known = sizes.Where(s => s.Width > 0 && s.Height > 0).ToList();
        return known.Count == 0 ? null
            : new GoodImageSizes(known.Min(s => s.Width), known.Max(s => s.Width), known.Min(s => s.Height), known.Max(s => s.Height));
    }

    /// <summary>What makes an image of this size unlike the fitted ones, in one sentence without advice; null when it is like them (or its size is unknown).</summary>
    internal string? Difference(int width, int height)
    {
        if (width <= 0 || height <= 0) return null;
        double aspect = (double)width / height;
        double minAspect = (double)MinWidth / MaxHeight, maxAspect = (double)MaxWidth / MinHeight;
        int shorter = Math.Min(width, height), fittedShorter = Math.Min(MinWidth, MinHeight);
        string problem;
        if (aspect < minAspect / AspectTolerance || aspect > maxAspect * AspectTolerance)
            problem = $"its aspect ratio (width / height {F(aspect)}) is unlike theirs ({(minAspect == maxAspect ? F(minAspect) : $"{F(minAspect)}-{F(maxAspect)}")})";
        else if (shorter < MinSideShare * fittedShorter)
            problem = $"its shorter side ({shorter} px) is under half of theirs ({fittedShorter} px or more), so it is upscaled into blur";
        else return null;
        return $"The image is {width} x {height} px; the model was fitted on good images of {Range(MinWidth, MaxWidth)} x {Range(MinHeight, MaxHeight)} px, and {problem}.";
    }

    static string Range(int min, int max) => min == max ? min.ToString(CultureInfo.InvariantCulture) : $"{min}-{max}";
    static string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>Why the stored sizes cannot be used (a damaged or hand-edited model file); null when they can.</summary>
    internal string? Problem() =>
        MinWidth < 1 || MinHeight < 1 || MaxWidth < MinWidth || MaxHeight < MinHeight
            ? $"training.imageSizes {MinWidth}-{MaxWidth} x {MinHeight}-{MaxHeight} must be positive with min not above max"
            : null;
}
