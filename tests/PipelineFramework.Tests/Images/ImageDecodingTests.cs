using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Images;

public class ImageDecodingTests
{
    /// <summary>Lossless formats: the byte comes back, up to float rounding of v/255.</summary>
    const float Exact = 1e-6f;

    /// <summary>A 5x3 pattern with distinct values per pixel and channel.</summary>
    static byte[,,] Pattern(int width = 5, int height = 3)
    {
        var rgb = new byte[height, width, 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                rgb[y, x, 0] = (byte)(40 * x + 10);
                rgb[y, x, 1] = (byte)(60 * y + 20);
                rgb[y, x, 2] = (byte)(13 * (x + y) + 5);
            }
        return rgb;
    }

    static string WriteSkia(byte[,,] rgb, SKEncodedImageFormat format, bool grey, string folder, string name)
    {
        int h = rgb.GetLength(0), w = rgb.GetLength(1);
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bitmap.SetPixel(x, y, grey ? new SKColor(rgb[y, x, 0], rgb[y, x, 0], rgb[y, x, 0]) : new SKColor(rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2]));
        var path = Path.Combine(folder, name);
        using var data = bitmap.Encode(format, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>24-bit BMP written by hand (SkiaSharp cannot encode BMP): bottom-up rows, BGR, padded to 4 bytes.</summary>
    static string WriteBmp(byte[,,] rgb, string path)
    {
        int h = rgb.GetLength(0), w = rgb.GetLength(1), stride = (w * 3 + 3) & ~3;
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write((byte)'B'); writer.Write((byte)'M');
        writer.Write(54 + stride * h); writer.Write(0); writer.Write(54);
        writer.Write(40); writer.Write(w); writer.Write(h); writer.Write((short)1); writer.Write((short)24);
        writer.Write(0); writer.Write(stride * h); writer.Write(2835); writer.Write(2835); writer.Write(0); writer.Write(0);
        for (int y = h - 1; y >= 0; y--)
        {
            for (int x = 0; x < w; x++) { writer.Write(rgb[y, x, 2]); writer.Write(rgb[y, x, 1]); writer.Write(rgb[y, x, 0]); }
            for (int p = w * 3; p < stride; p++) writer.Write((byte)0);
        }
        return path;
    }

    static void AssertPixels(byte[,,] rgb, ImageTensor image, bool grey, float tolerance)
    {
        int h = rgb.GetLength(0), w = rgb.GetLength(1);
        Assert.Equal((3, h, w), (image.Channels, image.Height, image.Width));
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    float expected = rgb[y, x, grey ? 0 : c] / 255f;
                    Assert.True(Math.Abs(image.Pixels[(c * h + y) * w + x] - expected) <= tolerance,
                        $"channel {c} ({x},{y}): {image.Pixels[(c * h + y) * w + x]} vs {expected}");
                }
    }

    [Fact]
    public void Png_colour_and_grey_decode_exactly()
    {
        var folder = TestData.TempFolder("png");
        var rgb = Pattern();
        AssertPixels(rgb, ImageLoader.LoadRgb(WriteSkia(rgb, SKEncodedImageFormat.Png, false, folder, "c.png")), false, Exact);
        AssertPixels(rgb, ImageLoader.LoadRgb(WriteSkia(rgb, SKEncodedImageFormat.Png, true, folder, "g.png")), true, Exact);
    }

    [Fact]
    public void Bmp_decodes_exactly()
    {
        var rgb = Pattern();
        var path = WriteBmp(rgb, Path.Combine(TestData.TempFolder("bmp"), "c.bmp"));
        AssertPixels(rgb, ImageLoader.LoadRgb(path), false, Exact);
    }

    [Fact]
    public void Jpeg_colour_and_grey_decode_within_compression_error()
    {
        var folder = TestData.TempFolder("jpg");
        // A smooth 32x32 image: JPEG at quality 100 keeps it within a few grey levels.
        var rgb = new byte[32, 32, 3];
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) { rgb[y, x, 0] = (byte)(4 * x + 50); rgb[y, x, 1] = (byte)(4 * y + 40); rgb[y, x, 2] = 128; }
        AssertPixels(rgb, ImageLoader.LoadRgb(WriteSkia(rgb, SKEncodedImageFormat.Jpeg, false, folder, "c.jpg")), false, 8 / 255f);
        AssertPixels(rgb, ImageLoader.LoadRgb(WriteSkia(rgb, SKEncodedImageFormat.Jpeg, true, folder, "g.jpeg")), true, 4 / 255f);
    }

    [Fact]
    public void Truncated_unreadable_and_missing_files_give_clear_errors()
    {
        var folder = TestData.TempFolder("bad");
        var real = File.ReadAllBytes(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good"))[0]);
        var truncated = Path.Combine(folder, "truncated.jpg");
        File.WriteAllBytes(truncated, real[..(real.Length / 3)]);
        var e = Assert.Throws<PipelineException>(() => ImageLoader.LoadRgb(truncated));
        Assert.Contains("truncated.jpg", e.Message);
        Assert.Contains("truncated or damaged", e.Message); // the codec's reason, not the later JpegDamage check's

        var text = Path.Combine(folder, "notes.png");
        File.WriteAllText(text, "not an image");
        e = Assert.Throws<PipelineException>(() => ImageLoader.LoadRgb(text));
        Assert.Contains("notes.png", e.Message);

        e = Assert.Throws<PipelineException>(() => ImageLoader.LoadRgb(Path.Combine(folder, "missing.png")));
        Assert.Contains("missing.png", e.Message);
    }

    [Fact]
    public void An_icon_named_png_is_refused_naming_its_format_in_plain_words()
    {
        var folder = TestData.TempFolder("ico");
        var png = File.ReadAllBytes(WriteSkia(Pattern(16, 16), SKEncodedImageFormat.Png, false, folder, "inner.png"));
        // An ICO file holding one 16 x 16 PNG: the header, one directory entry, then the PNG itself.
        var icon = new MemoryStream();
        using (var writer = new BinaryWriter(icon, System.Text.Encoding.ASCII, leaveOpen: true))
        {
            writer.Write((short)0); writer.Write((short)1); writer.Write((short)1);
            writer.Write((byte)16); writer.Write((byte)16); writer.Write((byte)0); writer.Write((byte)0);
            writer.Write((short)1); writer.Write((short)32); writer.Write(png.Length); writer.Write(6 + 16);
            writer.Write(png);
        }
        var path = Path.Combine(folder, "favicon.png");
        File.WriteAllBytes(path, icon.ToArray());
        var e = Assert.Throws<PipelineException>(() => ImageLoader.LoadRgb(path));
        // Before: "Image favicon.png is a ICO file; ...".
        Assert.Equal($"Image {path} is in ICO format; only PNG, JPEG and BMP are read. Convert it.", e.Message);
    }

    [Fact]
    public void Preprocessing_resizes_then_centre_crops_and_binarises_masks()
    {
        // 8 wide, 4 high, left half black, right half white; resized to the square 8x8 (only rows change), cropped to 4x4.
        var pixels = new float[3 * 4 * 8];
        for (int c = 0; c < 3; c++) for (int y = 0; y < 4; y++) for (int x = 4; x < 8; x++) pixels[(c * 4 + y) * 8 + x] = 1f;
        var image = new ImageTensor(3, 4, 8, pixels);
        var result = new Preprocessing(8, 4).Apply(image);
        Assert.Equal((3, 4, 4), (result.Channels, result.Height, result.Width));
        // The centre crop keeps columns 2..5: two black, two white.
        Assert.Equal([0f, 0f, 1f, 1f], result.Pixels[..4]);

        var mask = new Grid2D(4, 8, pixels[..32].Select(v => v * 0.8f).ToArray());
        var m = new Preprocessing(8, 4).ApplyToMask(mask);
        Assert.All(m.Values, v => Assert.True(v is 0f or 1f));
        Assert.Equal([0f, 0f, 1f, 1f], m.Values[..4]);
    }
}
