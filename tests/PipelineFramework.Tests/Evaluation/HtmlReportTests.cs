using System.Text.RegularExpressions;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Evaluation;
using SkiaSharp;

namespace PipelineFramework.Tests.Evaluation;

public class HtmlReportTests
{
    const double Threshold = 0.4;
    static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    internal static CategoryReport Report(string category = "screw <&> \"cap\"")
    {
        var images = MetricsSuiteTests.Category();
        var metrics = MetricsSuite.Compute(images, Threshold);
        var random = new Random(1);
        var gallery = HtmlReport.WorstFirst(images, Threshold).Select(i =>
        {
            var pixels = new float[3 * 8 * 8];
            for (int p = 0; p < pixels.Length; p++) pixels[p] = random.NextSingle();
            return new GalleryItem(i.Path, i.DefectType, i.Label, i.Score, i.Score > Threshold, new ImageTensor(3, 8, 8, pixels), i.Map!, i.Mask);
        }).ToList();
        return new CategoryReport(category, "patchcore <wide_resnet50>", metrics, Threshold, images, gallery);
    }

    [Fact]
    public void Render_IsSelfContainedWithMetricsPlotsAndGallery()
    {
        var report = Report();
        string html = HtmlReport.Render([report], "Evaluation & report");

        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("screw &lt;&amp;&gt; &quot;cap&quot;", html);
        Assert.DoesNotContain("<&>", html);
        Assert.Contains("patchcore &lt;wide_resnet50&gt;", html);
        Assert.Contains("Evaluation &amp; report", html);

        var m = report.Metrics;
        Assert.Contains(m.ImageAuroc.ToString("F4", System.Globalization.CultureInfo.InvariantCulture), html); // 0.7778
        Assert.Contains("0.7778", html);
        Assert.Contains(m.PixelAuroc!.Value.ToString("F4", System.Globalization.CultureInfo.InvariantCulture), html);
        Assert.Contains(m.Aupro!.Value.ToString("F4", System.Globalization.CultureInfo.InvariantCulture), html);
        Assert.Contains("scratch", html);
        Assert.Contains("dent", html);
        Assert.Contains("MISSED DEFECT", html);  // scratch/001 at 0.3
        Assert.Contains("FALSE REJECT", html);   // good/001 at 0.5

        var images = Regex.Matches(html, "data:image/png;base64,([A-Za-z0-9+/=]+)");
        Assert.True(images.Count >= 3 + report.Gallery.Count, $"{images.Count} embedded images");
        foreach (Match match in images)
        {
            var bytes = Convert.FromBase64String(match.Groups[1].Value);
            Assert.Equal(PngSignature, bytes.Take(8).ToArray());
            using var bitmap = SKBitmap.Decode(bytes);
            Assert.NotNull(bitmap);
        }

        Assert.DoesNotContain("src=\"http", html);
        Assert.DoesNotContain("href=\"http", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("url(", html);
    }

    [Fact]
    public void Render_ManyCategoriesAddsSummaryAndWorksWithoutPixelMetrics()
    {
        var withoutMasks = MetricsSuiteTests.Category(withMasks: false);
        var plain = new CategoryReport("bottle", "padim", MetricsSuite.Compute(withoutMasks, Threshold), Threshold, withoutMasks, []);
        string html = HtmlReport.Render([Report("screw"), plain], "All");
        Assert.Contains("<h2>Summary</h2>", html);
        Assert.Contains("href=\"#cat-1-bottle\"", html);
        Assert.Contains("id=\"cat-1-bottle\"", html);
        Assert.Contains("n/a", html);
        Assert.True(Regex.Matches(html, "data:image/png;base64,").Count >= 6);
    }

    [Fact]
    public void WorstFirst_MissesFirstThenClosestToThreshold()
    {
        ScoredImage I(string path, int label, double score) => new(path, label == 0 ? "good" : "d", label, score, null, null);
        var images = new[]
        {
            I("good-low", 0, 0.1), I("good-near", 0, 0.38), I("good-fr-small", 0, 0.45), I("good-fr-big", 0, 0.9),
            I("def-miss-low", 1, 0.05), I("def-miss-at", 1, 0.4), I("def-hit-near", 1, 0.41), I("def-hit-far", 1, 0.95),
        };
        var order = HtmlReport.WorstFirst(images, 0.4).Select(i => i.Path).ToArray();
        Assert.Equal(
        [
            "def-miss-low", "def-miss-at",     // missed defects, ascending score (score == threshold is a miss)
            "good-fr-big", "good-fr-small",    // false rejects, descending score
            "def-hit-near", "good-near", "good-low", "def-hit-far", // rest: |score - 0.4| = .01, .02, .3, .55
        ], order);
    }

    [Fact]
    public void Overlay_LeavesNormalPixelsDrawsHeatAndMaskOutline()
    {
        // 5x5 grey image; map 0 everywhere except a hot 3x3 centre at 1.0; mask = the same 3x3 block.
        var image = new ImageTensor(3, 5, 5, Enumerable.Repeat(0.5f, 75).ToArray());
        var map = new Grid2D(5, 5);
        var mask = new Grid2D(5, 5);
        for (int y = 1; y <= 3; y++) for (int x = 1; x <= 3; x++) { map[y, x] = 1f; mask[y, x] = 1f; }
        map[2, 2] = 0.5f; // centre: mid-scale, inside the mask (not an outline pixel)
        var item = new GalleryItem("x", "d", 1, 1, true, image, map, mask);
        using var bitmap = SKBitmap.Decode(HtmlReport.Overlay(item, lo: 0.0, hi: 1.0));
        Assert.Equal(5, bitmap.Width);

        var corner = bitmap.GetPixel(0, 0);
        Assert.Equal((128, 128, 128), ((int)corner.Red, (int)corner.Green, (int)corner.Blue)); // map 0 <= lo: untouched
        var edge = bitmap.GetPixel(1, 1);
        Assert.Equal((0, 255, 0), ((int)edge.Red, (int)edge.Green, (int)edge.Blue)); // outline
        var centre = bitmap.GetPixel(2, 2);
        var (r, g, b) = HtmlReport.Jet(0.5);
        Assert.Equal(((128 + r) / 2.0, (128 + g) / 2.0, (128 + b) / 2.0), ((double)centre.Red, (double)centre.Green, (double)centre.Blue), new Tolerance());
    }

    [Fact]
    public void Jet_Endpoints()
    {
        Assert.Equal(((byte)0, (byte)0, (byte)128), HtmlReport.Jet(0));
        Assert.Equal(((byte)128, (byte)0, (byte)0), HtmlReport.Jet(1));
        Assert.Equal(((byte)0, (byte)255, (byte)255), HtmlReport.Jet(0.375));
    }

    [Fact]
    public void HeatScale_FromLowestGoodScoreToHighestGalleryMapValue()
    {
        var report = Report();
        var (lo, hi) = HtmlReport.HeatScale(report);
        Assert.Equal(0.2, lo, 1e-12);
        Assert.Equal(report.Gallery.Max(g => g.Map.Values.Max()), hi, 1e-12);
    }

    sealed class Tolerance : IEqualityComparer<(double, double, double)>
    {
        public bool Equals((double, double, double) a, (double, double, double) b) =>
            Math.Abs(a.Item1 - b.Item1) <= 1 && Math.Abs(a.Item2 - b.Item2) <= 1 && Math.Abs(a.Item3 - b.Item3) <= 1;
        public int GetHashCode((double, double, double) obj) => 0;
    }
}
