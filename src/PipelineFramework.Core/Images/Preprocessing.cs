using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Images;

/// <summary>
/// Resize to a square <c>Size</c> x <c>Size</c> (antialiased linear filter, as PIL/torchvision do), then centre-crop to
/// <c>Crop</c> x <c>Crop</c>. The constants are recorded in the model file, so scoring repeats exactly what fitting did.
/// </summary>
public sealed record Preprocessing(int Size, int Crop)
{
    public ImageTensor Apply(ImageTensor image) => ApplyKeepingWhole(image).Image;

    /// <summary>The preprocessed image and the whole resized image it was cropped from (logic checks see the whole scene).</summary>
    public (ImageTensor Image, ImageTensor Whole) ApplyKeepingWhole(ImageTensor image)
    {
        var resized = Resample.Resize(image, Size, Size);
        return (CenterCrop(resized, Crop), resized);
    }

    /// <summary>A ground-truth mask taken through the same geometry, binarised at 0.5 (1 = defect).</summary>
    public Grid2D ApplyToMask(Grid2D mask)
    {
        var tensor = new ImageTensor(1, mask.Height, mask.Width, mask.Values);
        var result = Apply(tensor);
        var values = result.Pixels;
        for (int i = 0; i < values.Length; i++) values[i] = values[i] >= 0.5f ? 1f : 0f;
        return new Grid2D(result.Height, result.Width, values);
    }

    public ImageTensor Load(string path) => Apply(ImageLoader.LoadRgb(path));

    public Grid2D LoadMask(string path) => ApplyToMask(ImageLoader.LoadGrey(path));

    static ImageTensor CenterCrop(ImageTensor image, int crop)
    {
        if (crop >= image.Height && crop >= image.Width) return image;
        int top = (image.Height - crop) / 2, left = (image.Width - crop) / 2;
        var output = new float[image.Channels * crop * crop];
        for (int c = 0; c < image.Channels; c++)
            for (int y = 0; y < crop; y++)
                image.Pixels.AsSpan((c * image.Height + top + y) * image.Width + left, crop)
                    .CopyTo(output.AsSpan((c * crop + y) * crop, crop));
        return new ImageTensor(image.Channels, crop, crop, output);
    }
}

/// <summary>Separable resampling with a triangle filter widened by the scale factor when shrinking (antialiasing).</summary>
public static class Resample
{
    public static ImageTensor Resize(ImageTensor image, int height, int width)
    {
        if (image.Height == height && image.Width == width) return image;
        var horizontal = Weights(image.Width, width);
        var vertical = Weights(image.Height, height);
        var output = new float[image.Channels * height * width];
        var row = new float[width * image.Height];
        for (int c = 0; c < image.Channels; c++)
        {
            var src = image.Pixels.AsSpan(c * image.Height * image.Width, image.Height * image.Width);
            for (int y = 0; y < image.Height; y++)
                Apply(horizontal, src.Slice(y * image.Width, image.Width), row.AsSpan(y * width, width), 1, 1);
            var dst = output.AsSpan(c * height * width, height * width);
            for (int x = 0; x < width; x++)
                Apply(vertical, row.AsSpan(x), dst.Slice(x), width, width);
        }
        return new ImageTensor(image.Channels, height, width, output);
    }

    sealed record Taps(int[] Start, int[] Count, float[] Weight, int Stride);

    static void Apply(Taps taps, ReadOnlySpan<float> src, Span<float> dst, int srcStep, int dstStep)
    {
        int n = taps.Start.Length;
        for (int o = 0; o < n; o++)
        {
            float sum = 0;
            int start = taps.Start[o], w0 = o * taps.Stride;
            for (int t = 0; t < taps.Count[o]; t++) sum += taps.Weight[w0 + t] * src[(start + t) * srcStep];
            dst[o * dstStep] = sum;
        }
    }

    static Taps Weights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double support = scale > 1 ? scale : 1.0;
        int stride = (int)Math.Ceiling(support) * 2 + 1;
        var start = new int[outSize];
        var count = new int[outSize];
        var weight = new float[outSize * stride];
        for (int o = 0; o < outSize; o++)
        {
            double centre = (o + 0.5) * scale;
            int lo = Math.Max(0, (int)Math.Floor(centre - support));
            int hi = Math.Min(inSize, (int)Math.Ceiling(centre + support));
            double total = 0;
            int k = 0;
            for (int i = lo; i < hi && k < stride; i++, k++)
            {
                double w = Math.Max(0, 1 - Math.Abs((i + 0.5 - centre) / support));
                weight[o * stride + k] = (float)w;
                total += w;
            }
            if (total > 0) for (int t = 0; t < k; t++) weight[o * stride + t] = (float)(weight[o * stride + t] / total);
            start[o] = lo; count[o] = k;
        }
        return new Taps(start, count, weight, stride);
    }
}

/// <summary>
/// An image after preprocessing, with the size it had on disk (regions are reported in both geometries) and, where
/// known, the whole resized image before the centre crop (<see cref="Whole"/>, for logic checks).
/// </summary>
public sealed record PreparedImage(ImageTensor Image, int OriginalHeight, int OriginalWidth)
{
    public ImageTensor? Whole { get; init; }
}

public static class PreprocessingGeometry
{
    public static PreparedImage LoadPrepared(this Preprocessing preprocessing, string path)
    {
        var raw = ImageLoader.LoadRgb(path);
        var (image, whole) = preprocessing.ApplyKeepingWhole(raw);
        return new PreparedImage(image, raw.Height, raw.Width) { Whole = whole };
    }

    /// <summary>Encoded image bytes (PNG, JPEG, BMP) as a file would give them; <paramref name="name"/> labels errors.</summary>
    public static PreparedImage DecodePrepared(this Preprocessing preprocessing, byte[] bytes, string name)
    {
        var raw = ImageLoader.Decode(bytes, name);
        var (image, whole) = preprocessing.ApplyKeepingWhole(raw);
        return new PreparedImage(image, raw.Height, raw.Width) { Whole = whole };
    }

    /// <summary>
    /// A box in map pixels (the centre crop of the square resize) as the smallest box of original pixels covering it.
    /// </summary>
    public static PixelBox ToOriginal(this Preprocessing preprocessing, PixelBox box, int originalHeight, int originalWidth)
    {
        int offset = Math.Max(0, (preprocessing.Size - preprocessing.Crop) / 2);
        double sx = (double)originalWidth / preprocessing.Size, sy = (double)originalHeight / preprocessing.Size;
        int x0 = (int)Math.Floor((box.X + offset) * sx), y0 = (int)Math.Floor((box.Y + offset) * sy);
        int x1 = (int)Math.Ceiling((box.X + box.Width + offset) * sx), y1 = (int)Math.Ceiling((box.Y + box.Height + offset) * sy);
        x1 = Math.Min(x1, originalWidth); y1 = Math.Min(y1, originalHeight);
        return new PixelBox(x0, y0, Math.Max(1, x1 - x0), Math.Max(1, y1 - y0));
    }
}
