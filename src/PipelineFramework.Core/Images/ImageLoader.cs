using PipelineFramework.Abstractions;
using SkiaSharp;

namespace PipelineFramework.Core.Images;

/// <summary>
/// Decodes PNG, JPEG and BMP files (8-bit grey or colour) into float tensors. Every image enters here, and here it is
/// checked once: a regular file (not a FIFO or device), a supported extension (<see cref="Extensions"/>, the same list
/// the folder listing uses), PNG/JPEG/BMP content, and a declared size within <see cref="MaxSide"/> and
/// <see cref="MaxPixels"/>, read from the header before anything is allocated, and JPEG data the decoder would pass
/// over damaged (<see cref="JpegDamage"/>). An EXIF orientation is applied, so
/// pixels come out upright as cameras and browsers show them. Anything else is a <see cref="PipelineException"/>
/// naming the file.
/// </summary>
public static class ImageLoader
{
    /// <summary>File name extensions read (compared case-insensitively), for single files and folders alike.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".bmp"];

    /// <summary>Longest side accepted, in pixels.</summary>
    public const int MaxSide = 16384;

    /// <summary>
    /// Most pixels accepted (100 megapixels): decoding takes 16 bytes a pixel (RGBA bytes, then three floats), so this
    /// caps one image near 1.6 GB.
    /// </summary>
    public const long MaxPixels = 100_000_000;

    static readonly string ExtensionList = string.Join(", ", Extensions);

    /// <summary>Whether the file name ends in one of <see cref="Extensions"/>.</summary>
    public static bool HasImageExtension(string path) =>
        Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>Decodes to RGB planar floats in [0, 1] at the file's own (upright) size; grey images are repeated on 3 channels.</summary>
    public static ImageTensor LoadRgb(string path) => Decode(ReadImageFile(path), path, grey: false);

    /// <summary>Decodes one channel (luminance) in [0, 1]: ground-truth masks.</summary>
    public static Grid2D LoadGrey(string path)
    {
        var image = Decode(ReadImageFile(path), path, grey: true);
        return new Grid2D(image.Height, image.Width, image.Pixels);
    }

    /// <summary>
    /// A ground-truth mask as 1 (defect) and 0 (good) at the file's own (upright) size. A pixel is a defect when any of
    /// its colour channels is nonzero, the MVTec AD evaluation's rule (<c>mask != 0</c>), so label masks of 0 and 1,
    /// grey levels and coloured masks all count; a fully transparent pixel is not, as a viewer shows it. In a JPEG, whose compression leaves faint values around every edge, a
    /// pixel is a defect when its brightest channel is at least half (128 of 255).
    /// </summary>
    public static Grid2D LoadMask(string path)
    {
        var image = Decode(ReadImageFile(path), path, PixelValues.Brightest, out var format);
        float atLeast = format == SKEncodedImageFormat.Jpeg ? 128f / 255f : float.Epsilon;
        var values = image.Pixels;
        for (int i = 0; i < values.Length; i++) values[i] = values[i] >= atLeast ? 1f : 0f;
        return new Grid2D(image.Height, image.Width, values);
    }

    /// <summary>The upright width and height an image file declares, from its header alone.</summary>
    public static (int Width, int Height) ReadSize(string path)
    {
        CheckFile(path);
        try
        {
            using var stream = File.OpenRead(path);
            using var codec = SKCodec.Create(stream) ?? throw NotAnImage(path);
            CheckHeader(codec, path);
            return UprightSize(codec);
        }
        catch (IOException e) { throw CannotRead(path, e); }
        catch (UnauthorizedAccessException e) { throw CannotRead(path, e); }
    }

    static void CheckFile(string path)
    {
        if (string.IsNullOrEmpty(path)) throw new PipelineException("An image path is empty; give the path of a PNG, JPEG or BMP file.");
        // A folder is told as a folder (below), not as a name without an image extension.
        if (!HasImageExtension(path) && !Directory.Exists(path))
            throw new PipelineException($"{path}: '{Path.GetExtension(path)}' is not an image type read here ({ExtensionList}, any case); convert or rename the file.");
        switch (RegularFile.Problem(path))
        {
            case null: return;
            case RegularFile.Missing: throw new PipelineException($"Image file not found: {path}. Check the path or the data folder.");
            case var problem: throw new PipelineException($"{path} is {problem}, not a regular file; images are read from regular files only. Remove it or point at the image itself.");
        }
    }

    static byte[] ReadImageFile(string path)
    {
        CheckFile(path);
        try { return File.ReadAllBytes(path); }
        catch (IOException e) { throw CannotRead(path, e); }
        catch (UnauthorizedAccessException e) { throw CannotRead(path, e); }
    }

    static PipelineException CannotRead(string path, Exception e) => new($"Cannot read image file {path}: {e.Message}", e);

    static PipelineException NotAnImage(string name) =>
        new($"Cannot decode image {name}: not a PNG, JPEG or BMP file, or its header is corrupt.");

    /// <summary>Refuses other formats the codec knows (GIF, WebP, ...) and sizes over the limits, before decoding.</summary>
    static void CheckHeader(SKCodec codec, string name)
    {
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg or SKEncodedImageFormat.Bmp))
            throw new PipelineException($"Image {name} is in {codec.EncodedFormat.ToString().ToUpperInvariant()} format; only PNG, JPEG and BMP are read. Convert it.");
        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0)
            throw new PipelineException($"Image {name} declares an empty size {width} x {height}; its header is corrupt.");
        if (width > MaxSide || height > MaxSide || (long)width * height > MaxPixels)
            throw new PipelineException(
                $"Image {name} declares {width} x {height} pixels; the limit is {MaxSide} pixels a side and {MaxPixels / 1_000_000} megapixels. " +
                "Downscale or tile it (or the header is corrupt).");
    }

    /// <summary>Width and height as displayed: swapped when the EXIF orientation turns the image by 90 degrees.</summary>
    static (int Width, int Height) UprightSize(SKCodec codec) => SwapsSides(codec.EncodedOrigin)
        ? (codec.Info.Height, codec.Info.Width)
        : (codec.Info.Width, codec.Info.Height);

    static bool SwapsSides(SKEncodedOrigin origin) => origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop
        or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;

    /// <summary>Decodes image bytes; <paramref name="name"/> only labels errors.</summary>
    public static ImageTensor Decode(byte[] bytes, string name, bool grey = false) =>
        Decode(bytes, name, grey ? PixelValues.Luma : PixelValues.Rgb, out _);

    /// <summary>What a decoded pixel becomes: three channels, their luma, or their largest value (masks).</summary>
    enum PixelValues { Rgb, Luma, Brightest }

    static ImageTensor Decode(byte[] bytes, string name, PixelValues values, out SKEncodedImageFormat format)
    {
        if (bytes.Length == 0) throw new PipelineException($"Image file is empty: {name}.");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data) ?? throw NotAnImage(name);
        CheckHeader(codec, name);
        format = codec.EncodedFormat;
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        if (bitmap.GetPixels() == IntPtr.Zero)
            throw new PipelineException($"Not enough memory to decode image {name} ({info.Width} x {info.Height}).");
        var result = codec.GetPixels(info, bitmap.GetPixels());
        // A cut-off JPEG can also come back as InvalidInput: it is as damaged as the other two.
        if (result is SKCodecResult.IncompleteInput or SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput)
            throw new PipelineException($"Image {name} is truncated or damaged ({result}); re-export or remove the file.");
        if (result != SKCodecResult.Success)
            throw new PipelineException($"Cannot decode image {name}: the decoder reports {result}; re-export it as a plain PNG or baseline JPEG.");
        // The codec reports Success for a JPEG whose data was overwritten but still ends with its end marker. Checked
        // after decoding, so a file cut short keeps the codec's "truncated" reason.
        if (format == SKEncodedImageFormat.Jpeg && JpegDamage.Find(bytes) is { } damage)
            throw new PipelineException($"Image {name} is damaged: {damage}. Copy it again from its source, or remove it.");
        return ToTensor(bitmap.GetPixelSpan(), info.Width, info.Height, codec.EncodedOrigin, values);
    }

    /// <summary>
    /// RGBA bytes as stored to planar floats as displayed. Output pixel (x, y) reads stored pixel
    /// <c>start + x * stepX + y * stepY</c>, which covers the identity and all seven EXIF turns and mirrors.
    /// </summary>
    static ImageTensor ToTensor(ReadOnlySpan<byte> rgba, int storedWidth, int storedHeight, SKEncodedOrigin origin, PixelValues values)
    {
        bool grey = values != PixelValues.Rgb;
        int w = storedWidth, h = storedHeight;
        var (start, stepX, stepY) = origin switch
        {
            SKEncodedOrigin.TopRight => (w - 1, -1, w),
            SKEncodedOrigin.BottomRight => ((h - 1) * w + w - 1, -1, -w),
            SKEncodedOrigin.BottomLeft => ((h - 1) * w, 1, -w),
            SKEncodedOrigin.LeftTop => (0, w, 1),
            SKEncodedOrigin.RightTop => ((h - 1) * w, -w, 1),
            SKEncodedOrigin.RightBottom => ((h - 1) * w + w - 1, -w, -1),
            SKEncodedOrigin.LeftBottom => (w - 1, w, -1),
            _ => (0, 1, w),
        };
        var (width, height) = SwapsSides(origin) ? (h, w) : (w, h);
        int plane = width * height;
        const float scale = 1f / 255f;
        var pixels = new float[(grey ? 1 : 3) * plane];
        for (int y = 0, i = 0; y < height; y++)
        {
            int source = start + y * stepY;
            if (grey)
            {
                for (int x = 0; x < width; x++, i++, source += stepX)
                {
                    int o = source * 4;
                    pixels[i] = values == PixelValues.Brightest
                        // A fully transparent pixel shows nothing, whatever colour it hides (editors often keep white).
                        ? (rgba[o + 3] == 0 ? 0 : Math.Max(rgba[o], Math.Max(rgba[o + 1], rgba[o + 2]))) * scale
                        // Rec. 601 luma, as PIL's convert("L") does.
                        : (0.299f * rgba[o] + 0.587f * rgba[o + 1] + 0.114f * rgba[o + 2]) * scale;
                }
            }
            else
            {
                for (int x = 0; x < width; x++, i++, source += stepX)
                {
                    int o = source * 4;
                    pixels[i] = rgba[o] * scale;
                    pixels[plane + i] = rgba[o + 1] * scale;
                    pixels[2 * plane + i] = rgba[o + 2] * scale;
                }
            }
        }
        return new ImageTensor(grey ? 1 : 3, height, width, pixels);
    }

    /// <summary>Writes an RGB tensor in [0, 1] as PNG, atomically.</summary>
    public static void SavePng(ImageTensor image, string path)
    {
        using var bitmap = ToBitmap(image);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, stream => encoded.SaveTo(stream));
    }

    public static SKBitmap ToBitmap(ImageTensor image)
    {
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var span = bitmap.GetPixelSpan();
        int plane = image.Width * image.Height;
        var p = image.Pixels;
        for (int i = 0; i < plane; i++)
        {
            byte r = ToByte(p[i]);
            byte g = image.Channels > 1 ? ToByte(p[plane + i]) : r;
            byte b = image.Channels > 2 ? ToByte(p[2 * plane + i]) : r;
            int o = i * 4;
            span[o] = r; span[o + 1] = g; span[o + 2] = b; span[o + 3] = 255;
        }
        return bitmap;
    }

    static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
}
