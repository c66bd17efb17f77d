namespace PipelineFramework.Core.Images;

/// <summary>
/// The one warning for an image unlike the good images a model was fitted on, by size (<see cref="GoodImageSizes"/>),
/// by colour (<see cref="ImageColour"/>), by brightness or contrast (<see cref="GoodImageLevels"/>), or several: what
/// the image is, what the model saw, what to do. The verdict stays the model's; the warning says it compares the part
/// with parts seen otherwise.
/// </summary>
public static class UnlikeImageWarning
{
    const string Advice = "Its score compares it with parts seen otherwise; photograph parts as for fitting, or fit on images like this one";
    const string GreyAdvice = " (or, where colour tells nothing of defects, fit with \"colour\": \"grey\" in the pipeline's input, which scores every image in grey)";

    /// <param name="grey">Whether the image is grey (<see cref="ImageColour.IsGrey"/>); null where unknown.</param>
    /// <param name="levels">The image's brightness and contrast; null where unknown.</param>
    /// <param name="compareBrightness">False where the pipeline moves every image's mean brightness (<see cref="IntensityMode.Mean"/>).</param>
    /// <returns>The warning; null when the image is like the fitted ones, or nothing is known to compare.</returns>
    public static string? Warning(GoodImageSizes? sizes, GoodImageColour? colour, int width, int height, bool? grey,
        GoodImageLevels? goodLevels = null, ImageLevels? levels = null, bool compareBrightness = true)
    {
        var size = sizes?.Difference(width, height);
        var colours = colour is { } fitted ? ImageColour.Unlike(fitted, grey) : null;
        var light = goodLevels is not null && levels is { } measured ? goodLevels.Difference(measured, compareBrightness) : null;
        if (size is null && colours is null && light is null) return null;
        var text = string.Join(" ", new[] { size, colours is null ? null : size is null ? $"The image is {colours}." : $"It is also {colours}.", light }.OfType<string>());
        return $"{text} {Advice}{(colours is null ? "" : GreyAdvice)}.";
    }
}
