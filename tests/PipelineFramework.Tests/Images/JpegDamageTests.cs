using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;
using SkiaSharp;
using Xunit.Abstractions;

namespace PipelineFramework.Tests.Images;

/// <summary>
/// JPEG files whose data was overwritten but that still end with their end-of-image marker: libjpeg only warns, the
/// codec reports Success, and before the check they decoded grey, blurred or in wrong colours and were scored.
/// </summary>
public class JpegDamageTests(ITestOutputHelper output)
{
    /// <summary>A shipped hazelnut image: progressive, as the data set ships them.</summary>
    static byte[] Progressive() => File.ReadAllBytes(Path.Combine(TestData.Hazelnut, "train", "good", "00.jpg"));

    /// <summary>The same image re-encoded by SkiaSharp: baseline, standard Huffman tables.</summary>
    static byte[] Baseline()
    {
        using var bitmap = SKBitmap.Decode(Progressive());
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    /// <summary>The second half of the file zeroed, its end marker kept.</summary>
    static byte[] SecondHalfZeroed(byte[] jpeg)
    {
        var damaged = (byte[])jpeg.Clone();
        Array.Clear(damaged, jpeg.Length / 2, jpeg.Length - jpeg.Length / 2 - 2);
        return damaged;
    }

    static string TestFile(string name) => Path.Combine(TestData.RepoRoot, "tests", "PipelineFramework.Tests", "TestFiles", "jpeg", name);

    static string Write(byte[] bytes, string name)
    {
        var path = Path.Combine(TestData.TempFolder("jpeg-damage"), name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static string RefusalOf(string path)
    {
        var e = Assert.Throws<PipelineException>(() => ImageLoader.LoadRgb(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("is damaged", e.Message);
        Assert.Contains("Copy it again from its source, or remove it", e.Message);
        return e.Message;
    }

    [Fact]
    public void A_progressive_jpeg_with_its_second_half_zeroed_is_refused()
    {
        var jpeg = Progressive();
        Assert.Contains(Enumerable.Range(2, jpeg.Length - 3), k => jpeg[k] == 0xFF && jpeg[k + 1] == 0xC2); // progressive frame
        var message = RefusalOf(Write(SecondHalfZeroed(Progressive()), "progressive-half-zero.jpg"));
        Assert.Contains("zero bytes in a row", message);
    }

    [Fact]
    public void A_baseline_jpeg_with_its_second_half_zeroed_is_refused()
    {
        var message = RefusalOf(Write(SecondHalfZeroed(Baseline()), "baseline-half-zero.jpg"));
        Assert.Contains("zero bytes in a row", message);
    }

    [Fact]
    public void Sixty_four_zero_bytes_in_the_middle_of_a_baseline_jpeg_are_refused()
    {
        var damaged = Baseline();
        Array.Clear(damaged, damaged.Length / 2, 64);
        var message = RefusalOf(Write(damaged, "baseline-mid-64-zeros.jpg"));
        Assert.Contains("zero bytes in a row", message);
    }

    [Fact]
    public void A_progressive_jpeg_whose_later_scans_are_gone_is_refused()
    {
        // Cut just before the third scan and end the file there: what remains is well formed, only coarse.
        var jpeg = Progressive();
        int scans = 0, cut = 2;
        while (scans < 3) { cut = Array.IndexOf(jpeg, (byte)0xFF, cut + 1); if (jpeg[cut + 1] == 0xDA) scans++; }
        var message = RefusalOf(Write([.. jpeg[..cut], 0xFF, 0xD9], "progressive-two-scans.jpg"));
        Assert.Contains("coefficients", message);
    }

    [Fact]
    public void Restart_markers_out_of_order_are_refused()
    {
        // cjpeg -restart 1 of a 64 x 64 gradient: restart markers 0, 1, 2 between its four rows of blocks.
        var jpeg = File.ReadAllBytes(TestFile("restart-every-row.jpg"));
        ImageLoader.Decode(jpeg, "intact");
        int second = Enumerable.Range(2, jpeg.Length - 3).First(k => jpeg[k] == 0xFF && jpeg[k + 1] == 0xD1);
        jpeg[second + 1] = 0xD3;
        var message = RefusalOf(Write(jpeg, "restart-out-of-order.jpg"));
        Assert.Contains("restart marker 3", message);
    }

    [Theory]
    [InlineData("flat-grey-optimized.jpg")] // cjpeg -optimize of a uniform 256 x 256 grey: 256 zero bytes in a row
    [InlineData("flat-grey-progressive.jpg")] // cjpeg -progressive of the same: 128
    public void Flat_images_whose_data_is_mostly_zero_bytes_still_load(string name)
    {
        // Tables whose all-zero code means "no change" code a uniform area as zero bits: not damage.
        var image = ImageLoader.LoadRgb(TestFile(name));
        Assert.All(image.Pixels, v => Assert.Equal(128 / 255f, v, 2 / 255f));
    }

    /// <summary>Every real JPEG at hand must pass: the shipped set, and the shared data sets where present.</summary>
    [Fact]
    public void No_real_jpeg_of_the_shipped_or_shared_data_sets_is_found_damaged()
    {
        string[] roots = [TestData.Hazelnut, TestData.Bottle, Path.Combine(TestData.SharedDatasets, "kolektorsdd_256", "kolektorsdd")];
        var files = roots.Where(Directory.Exists)
            .SelectMany(r => Directory.EnumerateFiles(r, "*", SearchOption.AllDirectories))
            .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".jpg" or ".jpeg")
            .ToList();
        var found = files.Select(f => (File: f, Damage: JpegDamage.Find(File.ReadAllBytes(f)))).Where(r => r.Damage is not null).ToList();
        output.WriteLine($"{files.Count} JPEGs checked, {found.Count} found damaged");
        Assert.True(files.Count >= 51, $"only {files.Count} JPEGs found");
        Assert.Empty(found);
    }
}
