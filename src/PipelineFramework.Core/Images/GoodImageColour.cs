using PipelineFramework.Abstractions;
using System.Text.Json.Serialization;

namespace PipelineFramework.Core.Images;

/// <summary>
/// Whether the good images a model was fitted on (fitting and hold-out, as decoded) were all grey, all in colour, or
/// both; kept in the model file so that a grey image scored by a model that saw only colour ones (or the reverse) is
/// flagged. A grey image still gets a score and a verdict, but the backbone's features of a grey part are far from
/// those of colour ones: grey copies of good hazelnuts scored about 46-50 where the colour originals scored 26-35.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<GoodImageColour>))]
public enum GoodImageColour
{
    [JsonStringEnumMemberName("grey")] Grey,
    [JsonStringEnumMemberName("colour")] Colour,
    [JsonStringEnumMemberName("mixed")] Mixed,
}

/// <summary>Which images count as grey, and what a model says of an image whose colour is unlike its good images'.</summary>
public static class ImageColour
{
    /// <summary>
    /// A pixel is coloured when its largest and smallest channel differ by more than this many levels of 255. Grey
    /// images decoded here, re-encoded as RGB JPEG (quality 50-95) or PNG, differ by 0 levels; colour photos of
    /// brownish hazelnuts and bottles by 8 or more in 42-100 % of their pixels (docs/model-file.md has the numbers).
    /// </summary>
    public const int ColouredSpread = 8;

    /// <summary>
    /// An image is in colour when more than this share of its pixels is coloured: a grey image with a small coloured
    /// stamp or marker stays grey, and the measured colour photos have 42 % or more.
    /// </summary>
    public const double ColouredShare = 0.05;

    /// <summary>Pixels sampled at most (evenly, by a fixed stride): enough for the share, cheap on a 100-megapixel image.</summary>
    public const int SampledPixels = 1 << 16;

    /// <summary>Whether the decoded image (planar RGB in [0, 1], or one channel) is grey by <see cref="ColouredSpread"/> and <see cref="ColouredShare"/>.</summary>
    public static bool IsGrey(ImageTensor image)
    {
        if (image.Channels < 3) return true;
        int plane = image.Height * image.Width;
        if (plane == 0) return true;
        int step = Math.Max(1, plane / SampledPixels);
        var pixels = image.Pixels;
        const float spread = (ColouredSpread + 0.5f) / 255f;
        int sampled = 0, coloured = 0;
        for (int i = 0; i < plane; i += step, sampled++)
        {
            float r = pixels[i], g = pixels[plane + i], b = pixels[2 * plane + i];
            if (MathF.Max(r, MathF.Max(g, b)) - MathF.Min(r, MathF.Min(g, b)) > spread) coloured++;
        }
        return coloured <= ColouredShare * sampled;
    }

    /// <summary>What the good images were, from whether each is grey; null when there were none.</summary>
    public static GoodImageColour? Of(IEnumerable<bool> grey)
    {
        var kinds = grey.Distinct().ToList();
        return kinds.Count switch
        {
            0 => null,
            1 => kinds[0] ? GoodImageColour.Grey : GoodImageColour.Colour,
            _ => GoodImageColour.Mixed,
        };
    }

    /// <summary>
    /// How an image is unlike good images of colour <paramref name="fitted"/>, as a phrase to follow "The image is";
    /// null when it is like them, when they were mixed or when the image's colour is unknown.
    /// </summary>
    public static string? Unlike(GoodImageColour fitted, bool? grey) => (fitted, grey) switch
    {
        (GoodImageColour.Colour, true) => "grey, where the model was fitted on colour good images only",
        (GoodImageColour.Grey, false) => "in colour, where the model was fitted on grey good images only",
        _ => null,
    };
}
