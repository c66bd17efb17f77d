using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Images;

/// <summary>How an image is brought to the backbone's fixed input size.</summary>
public enum ResizeMode
{
    /// <summary>Resize to a square <c>Size</c> x <c>Size</c>, then centre-crop <c>Crop</c> x <c>Crop</c> (the MVTec habit).</summary>
    Square,
    /// <summary>
    /// Scale to fit inside <c>Width</c> x <c>Height</c> keeping the aspect ratio, centre, and fill the rest by repeating
    /// the edge pixels; nothing is cut off and nothing is squashed (long parts, thin defects).
    /// </summary>
    Fit,
}

/// <summary>Colour handling: as decoded, or one grey channel (luma) repeated three times for the RGB backbone.</summary>
public enum ColourMode { Rgb, Grey }

/// <summary>Per-image intensity normalisation, before the geometry (so the statistics are the whole image's).</summary>
public enum IntensityMode
{
    /// <summary>Pixels as decoded.</summary>
    None,
    /// <summary>
    /// Every image's mean intensity (over all its pixels and channels) is moved to <see cref="Preprocessing.MeanIntensity"/>
    /// by adding one offset; contrast is kept. Parts from batches or lamps of another exposure then look alike to the
    /// backbone, and a dark or bright defect keeps its contrast to its surroundings.
    /// </summary>
    Mean,
}

/// <summary>
/// The geometry every image goes through before the backbone: <see cref="ResizeMode.Square"/> (resize to Size x Size with
/// an antialiased linear filter, as PIL/torchvision do, then centre-crop Crop x Crop) or <see cref="ResizeMode.Fit"/>
/// (aspect kept, padded to Width x Height). The settings are recorded in the model file, so scoring repeats exactly what
/// fitting did.
/// </summary>
public sealed record Preprocessing
{
    /// <summary>Square resize then centre crop.</summary>
    public Preprocessing(int size, int crop) { Size = size; Crop = crop; Height = crop; Width = crop; }

    Preprocessing(int width, int height, ResizeMode mode) { Mode = mode; Width = width; Height = height; Size = Math.Max(width, height); Crop = Size; }

    /// <summary>Aspect-preserving fit into <paramref name="width"/> x <paramref name="height"/>, padded, no crop.</summary>
    public static Preprocessing Fit(int width, int height) => new(width, height, ResizeMode.Fit);

    public ResizeMode Mode { get; } = ResizeMode.Square;
    public ColourMode Colour { get; init; } = ColourMode.Rgb;
    public IntensityMode Intensity { get; init; } = IntensityMode.None;

    /// <summary>
    /// Where <see cref="IntensityMode.Mean"/> moves every image's mean: the mean of the ImageNet statistics the built-in
    /// backbone was trained with (0.485, 0.456, 0.406), so a normalised image sits where the backbone expects images.
    /// </summary>
    public const float MeanIntensity = 0.449f;
    /// <summary>Square mode: side of the resized square.</summary>
    public int Size { get; }
    /// <summary>Square mode: side of the centre crop.</summary>
    public int Crop { get; }
    /// <summary>Height of every preprocessed image (and of its anomaly map).</summary>
    public int Height { get; }
    /// <summary>Width of every preprocessed image (and of its anomaly map).</summary>
    public int Width { get; }

    public ImageTensor Apply(ImageTensor image) => Apply(image, padWithEdges: true).Image;

    /// <summary>
    /// The preprocessed image and the whole image it was cropped from (square mode: the resized square before the centre
    /// crop; fit mode: the same image, nothing is cropped), for logic checks that must see the whole scene. In the
    /// pipeline's colour mode; no extra work, the crop is taken from it.
    /// </summary>
    public (ImageTensor Image, ImageTensor Whole) ApplyKeepingWhole(ImageTensor image) => Apply(image, padWithEdges: true);

    /// <summary>A ground-truth mask taken through the same geometry, binarised at 0.5 (1 = defect); padding is not defect.</summary>
    public Grid2D ApplyToMask(Grid2D mask)
    {
        var tensor = new ImageTensor(1, mask.Height, mask.Width, mask.Values);
        var result = Apply(tensor, padWithEdges: false).Image;
        var values = result.Pixels;
        for (int i = 0; i < values.Length; i++) values[i] = values[i] >= 0.5f ? 1f : 0f;
        return new Grid2D(result.Height, result.Width, values);
    }

    public ImageTensor Load(string path) => Apply(ImageLoader.LoadRgb(path));

    /// <summary>
    /// Where preprocessed pixels come from in an image of the given size: original = (preprocessed + Shift) * Scale,
    /// per axis.
    /// </summary>
    public Placement PlacementFor(int originalHeight, int originalWidth)
    {
        if (Mode == ResizeMode.Square)
        {
            double offset = Math.Max(0, (Size - Crop) / 2);
            return new Placement((double)originalWidth / Size, (double)originalHeight / Size, offset, offset);
        }
        var (h, w, top, left) = FitBox(originalHeight, originalWidth);
        return new Placement((double)originalWidth / w, (double)originalHeight / h, -left, -top);
    }

    (ImageTensor Image, ImageTensor Whole) Apply(ImageTensor image, bool padWithEdges)
    {
        if (Colour == ColourMode.Grey && image.Channels == 3) image = ToGrey(image);
        // Masks (padWithEdges: false) are geometry only: their values are labels, not intensities.
        if (padWithEdges && Intensity == IntensityMode.Mean) image = ShiftMean(image, MeanIntensity);
        if (Mode == ResizeMode.Square)
        {
            var resized = Resample.Resize(image, Size, Size);
            return (CenterCrop(resized, Crop), resized);
        }
        var (h, w, top, left) = FitBox(image.Height, image.Width);
        var fitted = Pad(Resample.Resize(image, h, w), top, left, padWithEdges);
        return (fitted, fitted);
    }

    /// <summary>Fit mode: the scaled image's size and its offset inside Width x Height.</summary>
    (int Height, int Width, int Top, int Left) FitBox(int height, int width)
    {
        double scale = Math.Min((double)Width / width, (double)Height / height);
        int h = Math.Clamp((int)Math.Round(height * scale), 1, Height), w = Math.Clamp((int)Math.Round(width * scale), 1, Width);
        return (h, w, (Height - h) / 2, (Width - w) / 2);
    }

    ImageTensor Pad(ImageTensor image, int top, int left, bool withEdges)
    {
        if (image.Height == Height && image.Width == Width) return image;
        var output = new float[image.Channels * Height * Width];
        for (int c = 0; c < image.Channels; c++)
            for (int y = 0; y < Height; y++)
            {
                int sy = y - top;
                if (!withEdges && (sy < 0 || sy >= image.Height)) continue;
                var src = image.Pixels.AsSpan((c * image.Height + Math.Clamp(sy, 0, image.Height - 1)) * image.Width, image.Width);
                var dst = output.AsSpan((c * Height + y) * Width, Width);
                src.CopyTo(dst.Slice(left, image.Width));
                if (!withEdges) continue;
                dst[..left].Fill(src[0]);
                dst[(left + image.Width)..].Fill(src[^1]);
            }
        return new ImageTensor(image.Channels, Height, Width, output);
    }

    static ImageTensor ShiftMean(ImageTensor image, float target)
    {
        double sum = 0;
        foreach (var v in image.Pixels) sum += v;
        float offset = target - (float)(sum / Math.Max(1, image.Pixels.Length));
        var output = new float[image.Pixels.Length];
        for (int i = 0; i < output.Length; i++) output[i] = image.Pixels[i] + offset;
        return new ImageTensor(image.Channels, image.Height, image.Width, output);
    }

    static ImageTensor ToGrey(ImageTensor image)
    {
        int plane = image.Height * image.Width;
        var output = new float[3 * plane];
        var r = image.Pixels.AsSpan(0, plane);
        var g = image.Pixels.AsSpan(plane, plane);
        var b = image.Pixels.AsSpan(2 * plane, plane);
        for (int i = 0; i < plane; i++) output[i] = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        output.AsSpan(0, plane).CopyTo(output.AsSpan(plane));
        output.AsSpan(0, plane).CopyTo(output.AsSpan(2 * plane));
        return new ImageTensor(3, image.Height, image.Width, output);
    }

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

/// <summary>Preprocessed pixel to original pixel, per axis: original = (preprocessed + Shift) * Scale.</summary>
public readonly record struct Placement(double ScaleX, double ScaleY, double ShiftX, double ShiftY)
{
    /// <summary>Original pixels one preprocessed pixel stands for.</summary>
    public double PixelArea => ScaleX * ScaleY;
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

/// <summary>An image after preprocessing, with the size it had on disk (regions are reported in both geometries).</summary>
public sealed record PreparedImage(ImageTensor Image, int OriginalHeight, int OriginalWidth)
{
    /// <summary>The whole image before the centre crop (<see cref="Preprocessing.ApplyKeepingWhole"/>), for logic checks; null where unknown.</summary>
    public ImageTensor? Whole { get; init; }
    /// <summary>Whether the image was grey as decoded, before the pipeline's colour mode (<see cref="ImageColour.IsGrey"/>); null where unknown.</summary>
    public bool? IsGrey { get; init; }
    /// <summary>Brightness and contrast as decoded, before the pipeline's colour and intensity modes; null where unknown.</summary>
    public ImageLevels? Levels { get; init; }
}

public static class PreprocessingGeometry
{
    public static PreparedImage LoadPrepared(this Preprocessing preprocessing, string path) => preprocessing.Prepare(ImageLoader.LoadRgb(path));

    /// <summary>Encoded image bytes (PNG, JPEG, BMP) as a file would give them; <paramref name="name"/> labels errors.</summary>
    public static PreparedImage DecodePrepared(this Preprocessing preprocessing, byte[] bytes, string name) =>
        preprocessing.Prepare(ImageLoader.Decode(bytes, name));

    /// <summary>Decoded RGB pixels at their original size, prepared as every image is: cropped image, whole image, size, whether grey, levels.</summary>
    public static PreparedImage Prepare(this Preprocessing preprocessing, ImageTensor raw)
    {
        var (image, whole) = preprocessing.ApplyKeepingWhole(raw);
        return new PreparedImage(image, raw.Height, raw.Width) { Whole = whole, IsGrey = ImageColour.IsGrey(raw), Levels = ImageLevels.Measure(raw) };
    }

    /// <summary>A box in map pixels as the smallest box of original pixels covering it (clipped to the image).</summary>
    public static PixelBox ToOriginal(this Preprocessing preprocessing, PixelBox box, int originalHeight, int originalWidth)
    {
        var p = preprocessing.PlacementFor(originalHeight, originalWidth);
        int x0 = Math.Clamp((int)Math.Floor((box.X + p.ShiftX) * p.ScaleX), 0, originalWidth - 1);
        int y0 = Math.Clamp((int)Math.Floor((box.Y + p.ShiftY) * p.ScaleY), 0, originalHeight - 1);
        int x1 = (int)Math.Ceiling((box.X + box.Width + p.ShiftX) * p.ScaleX), y1 = (int)Math.Ceiling((box.Y + box.Height + p.ShiftY) * p.ScaleY);
        x1 = Math.Min(x1, originalWidth); y1 = Math.Min(y1, originalHeight);
        return new PixelBox(x0, y0, Math.Max(1, x1 - x0), Math.Max(1, y1 - y0));
    }
}
