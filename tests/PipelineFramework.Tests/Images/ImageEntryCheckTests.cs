using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Images;

/// <summary>What the loader checks as an image enters: declared size, EXIF orientation, file type and format list.</summary>
public class ImageEntryCheckTests
{
    // ------------------------------------------------------------------ declared size

    [Fact]
    public void Png_declaring_60000_by_60000_is_refused_from_its_header_without_allocating()
    {
        var path = Path.Combine(TestData.TempFolder("huge"), "huge.png");
        File.WriteAllBytes(path, PngDeclaring(60000, 60000));
        Assert.True(new FileInfo(path).Length < 200);
        AssertRefusedForSize(path, "60000 x 60000");
    }

    [Fact]
    public void Jpeg_declaring_60000_by_60000_is_refused_from_its_header_without_allocating()
    {
        var jpeg = Encode(Blocks(16, 16), SKEncodedImageFormat.Jpeg);
        int sof = FindMarker(jpeg, 0xC0, 0xC1, 0xC2);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), 60000); // height
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), 60000); // width
        var path = Path.Combine(TestData.TempFolder("huge"), "huge.jpg");
        File.WriteAllBytes(path, jpeg);
        AssertRefusedForSize(path, "60000 x 60000");
    }

    static void AssertRefusedForSize(string path, string declared)
    {
        ImageLoader.LoadRgb(Path.Combine(TestData.Hazelnut, "train", "good", "00.jpg")); // warm up the codec
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<PipelineException>(() => ImageLoader.LoadRgb(path));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 1 << 20, "allocated a pixel buffer");
        Assert.Contains(path, e.Message);
        Assert.Contains(declared, e.Message);
        Assert.Contains($"{ImageLoader.MaxSide} pixels a side", e.Message);
        Assert.Contains(declared, Assert.Throws<PipelineException>(() => ImageLoader.ReadSize(path)).Message);
    }

    /// <summary>A PNG whose IHDR declares the size (valid CRCs), with a token IDAT: a header that claims far more than the file holds.</summary>
    static byte[] PngDeclaring(int width, int height)
    {
        var png = new MemoryStream();
        png.Write(PngChunks.Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; header[9] = 2; // 8-bit RGB
        PngChunks.Write(png, "IHDR", header);
        var zlib = new MemoryStream();
        using (var z = new ZLibStream(zlib, CompressionLevel.SmallestSize, leaveOpen: true)) z.Write(new byte[64]);
        PngChunks.Write(png, "IDAT", zlib.ToArray());
        PngChunks.Write(png, "IEND", []);
        return png.ToArray();
    }

    // ------------------------------------------------------------------ EXIF orientation

    /// <summary>
    /// For each EXIF orientation, which stored pixel (x, y) the upright image shows at (X, Y); w, h: stored size.
    /// 6 = the camera was turned 90 degrees clockwise, so the stored image is turned clockwise to be shown.
    /// </summary>
    static (int X, int Y) StoredPixel(int orientation, int X, int Y, int w, int h) => orientation switch
    {
        1 => (X, Y),
        2 => (w - 1 - X, Y),             // mirrored left-right
        3 => (w - 1 - X, h - 1 - Y),     // turned 180
        4 => (X, h - 1 - Y),             // mirrored top-bottom
        5 => (Y, X),                     // transposed
        6 => (Y, h - 1 - X),             // turned 90 clockwise
        7 => (w - 1 - Y, h - 1 - X),     // transversed
        8 => (w - 1 - Y, X),             // turned 90 counter-clockwise
        _ => throw new ArgumentOutOfRangeException(nameof(orientation)),
    };

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)] [InlineData(7)] [InlineData(8)]
    public void Jpeg_with_exif_orientation_is_decoded_upright(int orientation)
    {
        const int w = 48, h = 32; // 6 x 4 blocks of 8 x 8, each its own colour
        var stored = Blocks(w, h);
        var jpeg = WithExifOrientation(Encode(stored, SKEncodedImageFormat.Jpeg), orientation);
        var path = Path.Combine(TestData.TempFolder("exif"), $"o{orientation}.jpg");
        File.WriteAllBytes(path, jpeg);

        var image = ImageLoader.LoadRgb(path);
        bool turned = orientation >= 5;
        Assert.Equal(turned ? (h, w) : (w, h), (image.Width, image.Height));
        Assert.Equal(turned ? (h, w) : (w, h), ImageLoader.ReadSize(path));
        // Block centres only: JPEG's chroma subsampling blurs colours across block edges.
        for (int Y = 4; Y < image.Height; Y += 8)
            for (int X = 4; X < image.Width; X += 8)
            {
                var (x, y) = StoredPixel(orientation, X, Y, w, h);
                for (int c = 0; c < 3; c++)
                {
                    float expected = stored[y, x, c] / 255f, actual = image.Pixels[(c * image.Height + Y) * image.Width + X];
                    Assert.True(Math.Abs(actual - expected) <= 10 / 255f, $"orientation {orientation}, channel {c} at ({X},{Y}): {actual * 255:0} vs {expected * 255:0}");
                }
            }
        // The anchor a person checks by eye: where the stored top-left corner ends up.
        var corner = orientation switch { 1 or 5 => (0, 0), 2 or 6 => (image.Width - 1, 0), 3 or 7 => (image.Width - 1, image.Height - 1), _ => (0, image.Height - 1) };
        Assert.Equal((0, 0), StoredPixel(orientation, corner.Item1, corner.Item2, w, h));
    }

    [Fact]
    public void Grey_decoding_for_masks_applies_the_exif_orientation_too()
    {
        var folder = TestData.TempFolder("exif-grey");
        var path = Path.Combine(folder, "turned.jpg");
        File.WriteAllBytes(path, WithExifOrientation(Encode(Blocks(48, 32), SKEncodedImageFormat.Jpeg), 6));
        var grey = ImageLoader.LoadGrey(path);
        Assert.Equal((32, 48), (grey.Width, grey.Height));
    }

    /// <summary>Inserts an APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation) right after SOI.</summary>
    static byte[] WithExifOrientation(byte[] jpeg, int orientation)
    {
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        var tiff = new byte[]
        {
            (byte)'M', (byte)'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // header, IFD0 at offset 8
            0x00, 0x01,                                              // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,          // Orientation, SHORT, count 1
            0x00, (byte)orientation, 0x00, 0x00,                     // value, padding
            0x00, 0x00, 0x00, 0x00,                                  // no next IFD
        };
        var payload = Encoding.ASCII.GetBytes("Exif\0\0").Concat(tiff).ToArray();
        var segment = new byte[4 + payload.Length];
        segment[0] = 0xFF; segment[1] = 0xE1;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)(2 + payload.Length));
        payload.CopyTo(segment, 4);
        return [.. jpeg[..2], .. segment, .. jpeg[2..]];
    }

    static byte[,,] Blocks(int w, int h)
    {
        var rgb = new byte[h, w, 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int bx = x / 8, by = y / 8;
                rgb[y, x, 0] = (byte)(30 + 40 * bx);
                rgb[y, x, 1] = (byte)(30 + 60 * by);
                rgb[y, x, 2] = (byte)(((bx + by) % 2) * 160 + 40);
            }
        return rgb;
    }

    static byte[] Encode(byte[,,] rgb, SKEncodedImageFormat format)
    {
        int h = rgb.GetLength(0), w = rgb.GetLength(1);
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bitmap.SetPixel(x, y, new SKColor(rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2]));
        using var data = bitmap.Encode(format, 100);
        return data.ToArray();
    }

    static int FindMarker(byte[] jpeg, params byte[] markers)
    {
        for (int i = 2; i + 1 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && markers.Contains(jpeg[i + 1])) return i;
        throw new InvalidOperationException("marker not found");
    }

    // ------------------------------------------------------------------ regular files only

    /// <summary>A FIFO named like an image, or null where mkfifo is unavailable.</summary>
    static string? MakeFifo(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        try
        {
            using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { RedirectStandardError = true })!;
            mkfifo.WaitForExit();
            return mkfifo.ExitCode == 0 ? path : null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }

    /// <summary>
    /// Runs the action with a deadline; a reader blocked on the FIFO is released by opening its write end. The action
    /// has a thread of its own: on the thread pool, with the classes beside this one keeping it busy, it could wait to
    /// start until the deadline had passed.
    /// </summary>
    static Exception? WithinSeconds(string fifo, Action action)
    {
        var task = Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)))
        {
            using (new FileStream(fifo, FileMode.Open, FileAccess.Write)) { }
            Assert.Fail($"blocked on the FIFO {fifo}");
        }
        return task.Exception?.InnerException;
    }

    [Fact]
    public void Fifo_named_like_an_image_is_refused_without_blocking()
    {
        var fifo = MakeFifo(Path.Combine(TestData.TempFolder("fifo"), "x.jpg"));
        if (fifo is null) return; // no mkfifo here (Windows): nothing can block this way

        var e = WithinSeconds(fifo, () => ImageLoader.LoadRgb(fifo));
        var refused = Assert.IsType<PipelineException>(e);
        Assert.Contains(fifo, refused.Message);
        Assert.Contains("FIFO", refused.Message);
        Assert.IsType<PipelineException>(WithinSeconds(fifo, () => ImageLoader.ReadSize(fifo)));
    }

    [Fact]
    public void Folder_listing_leaves_out_a_fifo_and_says_which()
    {
        var category = TestData.TempFolder("fifo-category");
        var train = Directory.CreateDirectory(Path.Combine(category, "train", "good")).FullName;
        foreach (var name in new[] { "00.jpg", "01.jpg" })
            File.Copy(Path.Combine(TestData.Hazelnut, "train", "good", name), Path.Combine(train, name));
        var fifo = MakeFifo(Path.Combine(train, "02.jpg"));
        if (fifo is null) return;

        IReadOnlyList<string> images = [], skipped = [];
        Assert.Null(WithinSeconds(fifo, () => images = ImageDataset.ListImages(train, out skipped)));
        Assert.Equal(["00.jpg", "01.jpg"], images.Select(Path.GetFileName));
        Assert.Equal([fifo], skipped);
        var data = ImageDataset.LoadMvtec(category);
        Assert.Equal(2, data.Train.Count);
        Assert.Equal([fifo], data.Skipped);
        Assert.All(data.Train, t => ImageLoader.LoadRgb(t.Path));

        // Only the FIFO: the error names it rather than saying the folder is empty.
        foreach (var name in new[] { "00.jpg", "01.jpg" }) File.Delete(Path.Combine(train, name));
        var e = Assert.IsType<PipelineException>(WithinSeconds(fifo, () => ImageDataset.LoadMvtec(category)));
        Assert.Contains("02.jpg", e.Message);
        Assert.Contains("not regular files", e.Message);
    }

    // ------------------------------------------------------------------ one format list

    [Fact]
    public void A_file_loads_alone_exactly_when_its_folder_lists_it()
    {
        var folder = TestData.TempFolder("formats");
        var png = Encode(Blocks(16, 8), SKEncodedImageFormat.Png);
        var jpeg = Encode(Blocks(16, 8), SKEncodedImageFormat.Jpeg);
        var webp = Encode(Blocks(16, 8), SKEncodedImageFormat.Webp);
        var files = new Dictionary<string, byte[]>
        {
            ["upper.PNG"] = png, ["mixed.JpG"] = jpeg, ["long.jpeg"] = jpeg, ["content-is-png.jpg"] = png,
            ["scan.tif"] = png, ["no-extension"] = png, ["photo.webp"] = webp, ["webp-inside.png"] = webp, ["notes.txt"] = png,
        };
        foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(folder, name), bytes);

        var listed = ImageDataset.ListImages(folder).Select(Path.GetFileName).ToHashSet();
        Assert.Equal(["content-is-png.jpg", "long.jpeg", "mixed.JpG", "upper.PNG", "webp-inside.png"], listed.Order(StringComparer.Ordinal));
        foreach (var name in files.Keys)
        {
            var path = Path.Combine(folder, name);
            Exception? error = Record.Exception(() => ImageLoader.LoadRgb(path));
            if (error is null) Assert.True(listed.Contains(name), $"{name} loads alone but its folder listing leaves it out");
            else
            {
                var refused = Assert.IsType<PipelineException>(error);
                Assert.Contains(name, refused.Message);
                if (!listed.Contains(name)) Assert.Contains(".png, .jpg, .jpeg, .bmp", refused.Message);
                else Assert.Contains("WEBP", refused.Message); // listed by name, refused loudly by content
            }
        }
        Assert.Equal(4, files.Keys.Count(n => Record.Exception(() => ImageLoader.LoadRgb(Path.Combine(folder, n))) is null));
    }
}
