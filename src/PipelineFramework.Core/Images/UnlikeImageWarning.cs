namespace PipelineFramework.Core.Images;

/// <summary>
/// The one warning for an image unlike the good images a model was fitted on, by size (<see cref="GoodImageSizes"/>),
/// by colour (<see cref="ImageColour"/>) or both: what the image is, what the model saw, what to do. The verdict stays
/// the model's; the warning says it compares the part with parts seen otherwise.
/// </summary>
public static class UnlikeImageWarning
{
    const string Advice = "Its score compares it with parts seen otherwise; photograph parts as for fitting, or fit on images like this one";
    const string GreyAdvice = " (or, where colour tells nothing of defects, fit with \"colour\": \"grey\" in the pipeline's input, which scores every image in grey)";

    /// <param name="grey">Whether the image is grey (<see cref="ImageColour.IsGrey"/>); null where unknown.</param>
    /// <returns>The warning; null when the image is like the fitted ones, or nothing is known to compare.</returns>
    public static string? Warning(GoodImageSizes? sizes, GoodImageColour? colour, int width, int height, bool? grey)
    {
        var size = sizes?.Difference(width, height);
        var colours = colour is { } fitted ? ImageColour.Unlike(fitted, grey) : null;
        if (size is null && colours is null) return null;
        var text = colours is null ? size! : size is null ? $"The image is {colours}." : $"{size} It is also {colours}.";
        return $"{text} {Advice}{(colours is null ? "" : GreyAdvice)}.";
    }
}
