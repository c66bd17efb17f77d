using PipelineFramework.Abstractions;
using System.Globalization;

namespace PipelineFramework.Core.Images;

/// <summary>
/// An image's brightness (mean luma) and contrast (standard deviation of luma), in levels of 255, from at most
/// <see cref="ImageColour.SampledPixels"/> pixels.
/// </summary>
public readonly record struct ImageLevels(double Brightness, double Contrast)
{
    public static ImageLevels Measure(ImageTensor image)
    {
        int plane = image.Height * image.Width;
        if (plane == 0) return new ImageLevels(0, 0);
        int step = Math.Max(1, plane / ImageColour.SampledPixels);
        var p = image.Pixels;
        bool colour = image.Channels >= 3;
        double sum = 0, squares = 0;
        int sampled = 0;
        for (int i = 0; i < plane; i += step, sampled++)
        {
            // Rec. 601 luma, as the loader's grey decoding and the pipeline's grey mode take it.
            double y = colour ? 0.299 * p[i] + 0.587 * p[plane + i] + 0.114 * p[2 * plane + i] : p[i];
            sum += y;
            squares += y * y;
        }
        double mean = sum / sampled;
        double variance = Math.Max(0, squares / sampled - mean * mean);
        return new ImageLevels(255 * mean, 255 * Math.Sqrt(variance));
    }
}

/// <summary>
/// The brightness range and the lowest contrast of the good images a model was fitted on (fitting and hold-out, as
/// decoded), kept in the model file so that an image far darker or brighter, or nearly flat, is flagged when it is
/// scored. Such an image still gets a verdict, and it can be wrong without a word: a photo of the empty fixture (the
/// part missing) is all background, every patch of which the model has seen, so it passes; over- or underexposed parts
/// are compared with parts lit otherwise. A warning on the result says so; the verdict stays the model's.
/// </summary>
public sealed record GoodImageLevels(double MinBrightness, double MaxBrightness, double MinContrast)
{
    /// <summary>
    /// Mean brightness within this many levels (of 255) of the fitted range passes: defective hazelnuts lie up to 5
    /// levels above the good ones, KolektorSDD's good test images up to 8 below its training images.
    /// </summary>
    public const double BrightnessMargin = 25;

    /// <summary>
    /// Contrast below this share of the lowest fitted one is flagged: the good test images of the measured sets have
    /// 0.86 of it or more, a photo of the hazelnut fixture without the nut 0.15.
    /// </summary>
    public const double MinContrastShare = 0.5;

    public static GoodImageLevels? Of(IEnumerable<ImageLevels> levels)
    {
        var all = levels.ToList();
        return all.Count == 0 ? null
            : new GoodImageLevels(Round(all.Min(l => l.Brightness)), Round(all.Max(l => l.Brightness)), Round(all.Min(l => l.Contrast)));
    }

    /// <summary>
    /// What makes an image of these levels unlike the fitted ones, in one sentence without advice; null when it is like
    /// them. <paramref name="compareBrightness"/> is false where the pipeline moves every image's mean brightness anyway.
    /// </summary>
    internal string? Difference(ImageLevels levels, bool compareBrightness)
    {
        if (compareBrightness && (levels.Brightness < MinBrightness - BrightnessMargin || levels.Brightness > MaxBrightness + BrightnessMargin))
            return $"The image's mean brightness ({F(levels.Brightness)} of 255) is far {(levels.Brightness < MinBrightness ? "below" : "above")} that of the good images the model was fitted on ({F(MinBrightness)}-{F(MaxBrightness)}): lit or exposed otherwise.";
        // A dark or bright image has less spread as well; its brightness says what is wrong then.
        if (levels.Contrast < MinContrastShare * MinContrast)
            return $"The image's brightness hardly varies (standard deviation {F(levels.Contrast)} of 255, where the fitted good images have {F(MinContrast)} or more): is the part in the picture, and in focus?";
        return null;
    }

    /// <summary>
    /// Good images unlike most of the others, each with the reason: a photo of the empty fixture or a misfired exposure
    /// among them would be fitted as a good part (so parts like it pass) and would widen the kept range until nothing is
    /// flagged. Compared with the median of all, with twice the scoring margins: the training images of the measured sets
    /// lie within 34 levels of their median brightness (KolektorSDD) and have at least 0.74 of their median contrast.
    /// </summary>
    public static IReadOnlyList<(int Index, string Reason)> Outliers(IReadOnlyList<ImageLevels> levels)
    {
        if (levels.Count < 3) return [];
        double brightness = Median(levels.Select(l => l.Brightness)), contrast = Median(levels.Select(l => l.Contrast));
        var outliers = new List<(int, string)>();
        for (int i = 0; i < levels.Count; i++)
        {
            var l = levels[i];
            if (Math.Abs(l.Brightness - brightness) > 2 * BrightnessMargin)
                outliers.Add((i, $"mean brightness {F(l.Brightness)} of 255, where the good images' median is {F(brightness)}"));
            else if (l.Contrast < MinContrastShare * contrast)
                outliers.Add((i, $"its brightness hardly varies (standard deviation {F(l.Contrast)} of 255, where the good images' median is {F(contrast)})"));
        }
        return outliers;
    }

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        int middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>Why the stored levels cannot be used (a damaged or hand-edited model file); null when they can.</summary>
    internal string? Problem() =>
        !(MinBrightness >= 0 && MinBrightness <= MaxBrightness && MaxBrightness <= 255 && MinContrast >= 0 && MinContrast <= 255)
            ? $"training.imageLevels (brightness {F(MinBrightness)}-{F(MaxBrightness)}, contrast {F(MinContrast)}) must lie within 0-255 with min not above max"
            : null;

    // One decimal: the model file stays readable, and scoring needs no finer steps.
    static double Round(double x) => Math.Round(x, 1, MidpointRounding.AwayFromZero);
    static string F(double x) => x.ToString("0.#", CultureInfo.InvariantCulture);
}
