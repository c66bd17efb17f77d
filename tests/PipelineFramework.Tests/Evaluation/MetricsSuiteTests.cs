using System.Text.Json;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Evaluation;

namespace PipelineFramework.Tests.Evaluation;

public class MetricsSuiteTests
{
    const double Tol = 1e-12;
    const double Threshold = 0.4;

    /// <summary>
    /// 3 good + 3 defective 8x8 images, two defect types. Image scores: good 0.2, 0.5, 0.35; scratch 0.6, 0.3;
    /// dent 0.9. Maps: noise in [0, 0.5) plus 0.3 on defect pixels; masks: scratch 1 = a line on row 2, scratch 2 =
    /// two diagonal pixels plus one 0.4 pixel (below the 0.5 binarisation), dent = a 3x3 block.
    /// </summary>
    internal static List<ScoredImage> Category(bool withMasks = true, bool withMaps = true)
    {
        var random = new Random(5);
        Grid2D Map(Grid2D? mask)
        {
            var map = new Grid2D(8, 8);
            for (int i = 0; i < 64; i++) map.Values[i] = 0.5f * random.NextSingle() + (mask is not null && mask.Values[i] > 0.5f ? 0.3f : 0f);
            return map;
        }
        var scratch1 = new Grid2D(8, 8);
        for (int x = 1; x <= 5; x++) scratch1[2, x] = 1;
        var scratch2 = new Grid2D(8, 8);
        scratch2[6, 6] = 1; scratch2[7, 7] = 1; scratch2[0, 0] = 0.4f;
        var dent = new Grid2D(8, 8);
        for (int y = 3; y <= 5; y++) for (int x = 2; x <= 4; x++) dent[y, x] = 1;

        var images = new List<ScoredImage>
        {
            new("good/000.png", "good", 0, 0.2, Map(null), null),
            new("good/001.png", "good", 0, 0.5, Map(null), new Grid2D(8, 8)), // explicit all-zero mask
            new("good/002.png", "good", 0, 0.35, Map(null), null),
            new("scratch/000.png", "scratch", 1, 0.6, Map(scratch1), scratch1),
            new("scratch/001.png", "scratch", 1, 0.3, Map(scratch2), scratch2),
            new("dent/000.png", "dent", 1, 0.9, Map(dent), dent),
        };
        return images.Select(i => i with { Map = withMaps ? i.Map : null, Mask = withMasks ? i.Mask : null }).ToList();
    }

    [Fact]
    public void ImageMetrics_HandValues()
    {
        var m = MetricsSuite.Compute(Category(), Threshold);
        Assert.Equal(6, m.Images);
        Assert.Equal(3, m.GoodImages);
        Assert.Equal(3, m.DefectiveImages);
        // Pairs: 0.6 beats 3 goods, 0.3 beats 0.2 only, 0.9 beats 3: 7 / 9.
        Assert.Equal(7.0 / 9, m.ImageAuroc, Tol);
        // Descending: .9 P, .6 P, .5 N, .35 N, .3 P, .2 N -> AP = 1/3 * 1 + 1/3 * 1 + 1/3 * 3/5.
        Assert.Equal(2.0 / 3 + 0.2, m.ImageAp, Tol);
        // F1 = 2TP / (TP + FP + 3): .9 -> 2/4, .6 -> 4/5, .5 -> 4/6, .35 -> 4/7, .3 -> 6/8, .2 -> 6/9.
        Assert.Equal(0.8, m.ImageF1Max, Tol);
        Assert.Equal(0.6, m.ImageF1MaxThreshold, Tol);
        // > 0.4: 0.6, 0.9 (defects) and 0.5 (good) -> TP 2, FP 1, TN 2, FN 1.
        Assert.Equal((2, 1, 2, 1), (m.TruePositives, m.FalsePositives, m.TrueNegatives, m.FalseNegatives));
        Assert.Equal(2.0 / 3, m.Precision, Tol);
        Assert.Equal(2.0 / 3, m.Recall, Tol);
        Assert.Equal(2.0 / 3, m.F1, Tol);
        Assert.Equal(1.0 / 3, m.GoodFalseRejectRate, Tol);
        Assert.Equal(1.0 / 3, m.MissedDefectRate, Tol);
        Assert.Equal(7, m.ImageRoc.Thresholds.Length);
        Assert.Equal(7, m.ImagePr.Thresholds.Length);
    }

    [Fact]
    public void PerDefectType_HandValues()
    {
        var types = MetricsSuite.Compute(Category(), Threshold).PerDefectType;
        Assert.Equal(["good", "dent", "scratch"], types.Select(t => t.DefectType).ToArray());

        Assert.Equal(3, types[0].Images);
        Assert.Null(types[0].ImageAuroc);
        Assert.Null(types[0].PixelAuroc);
        Assert.Equal(2.0 / 3, types[0].DetectedRate, Tol); // 0.2 and 0.35 pass, 0.5 is rejected

        Assert.Equal(1, types[1].Images);
        Assert.Equal(1.0, types[1].ImageAuroc!.Value, Tol); // 0.9 beats all goods
        Assert.Equal(1.0, types[1].DetectedRate, Tol);

        Assert.Equal(2, types[2].Images);
        Assert.Equal(4.0 / 6, types[2].ImageAuroc!.Value, Tol); // 0.6 beats 3, 0.3 beats 1
        Assert.Equal(0.5, types[2].DetectedRate, Tol);
    }

    [Fact]
    public void PixelMetrics_MatchIndependentComputation()
    {
        var images = Category();
        var m = MetricsSuite.Compute(images, Threshold);

        var (scores, labels) = Pixels(images);
        Assert.Equal(6 * 64 - 5 - 2 - 9, labels.Count(l => l == 0)); // the 0.4 mask pixel is good
        Assert.Equal(MetricsTests.MannWhitney(scores, labels), m.PixelAuroc!.Value, 1e-12);
        Assert.Equal(NaiveAveragePrecision(scores, labels), m.PixelAp!.Value, 1e-12);
        Assert.Equal(NaiveF1Max(scores, labels), m.PixelF1Max!.Value, 1e-12);

        var maps = images.Select(i => i.Map!.Values).ToList();
        var masks = images.Select(i => i.Mask is null ? new byte[64] : i.Mask.Values.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray()).ToList();
        Assert.Equal(Metrics.Aupro(maps, masks, 8, 8, 0.3), m.Aupro!.Value, 1e-12);
        Assert.InRange(m.Aupro.Value, 0.0, 1.0);

        var types = m.PerDefectType;
        var goods = images.Where(i => i.Label == 0);
        var (dentScores, dentLabels) = Pixels(images.Where(i => i.DefectType == "dent").Concat(goods).ToList());
        Assert.Equal(MetricsTests.MannWhitney(dentScores, dentLabels), types[1].PixelAuroc!.Value, 1e-12);
        var (scratchScores, scratchLabels) = Pixels(images.Where(i => i.DefectType == "scratch").Concat(goods).ToList());
        Assert.Equal(MetricsTests.MannWhitney(scratchScores, scratchLabels), types[2].PixelAuroc!.Value, 1e-12);
    }

    [Fact]
    public void PerTypePixelAuroc_SortingFallbackAgrees()
    {
        var images = Category();
        var m = MetricsSuite.Compute(images, Threshold);
        var goods = images.Where(i => i.Label == 0).ToList();
        var dent = images.Where(i => i.DefectType == "dent").Concat(goods).ToList();
        Assert.Equal(m.PerDefectType[1].PixelAuroc!.Value, MetricsSuite.PixelAurocBySorting(dent)!.Value, 1e-12);
    }

    [Fact]
    public void PerTypePixelAuroc_MoreTypesThanPackableGroups()
    {
        // 300 defect types of one 2x3 image each (more than the 255 packable groups) plus two good images.
        var random = new Random(9);
        Grid2D RandomMap() => new(2, 3, Enumerable.Range(0, 6).Select(_ => random.NextSingle()).ToArray());
        var images = new List<ScoredImage>
        {
            new("g0", "good", 0, 0.1, RandomMap(), null),
            new("g1", "good", 0, 0.2, RandomMap(), null),
        };
        for (int t = 0; t < 300; t++)
        {
            var mask = new Grid2D(2, 3);
            mask.Values[t % 6] = 1;
            images.Add(new ScoredImage($"d{t}", $"type{t:D3}", 1, random.NextDouble(), RandomMap(), mask));
        }
        var m = MetricsSuite.Compute(images, 0.5);
        Assert.Equal(301, m.PerDefectType.Count);
        foreach (int t in new[] { 0, 150, 299 })
        {
            var subset = images.Where(i => i.Label == 0 || i.DefectType == $"type{t:D3}").ToList();
            var (scores, labels) = Pixels(subset);
            var type = m.PerDefectType.Single(d => d.DefectType == $"type{t:D3}");
            Assert.Equal(MetricsTests.MannWhitney(scores, labels), type.PixelAuroc!.Value, 1e-12);
        }
    }

    [Fact]
    public void PixelMetrics_NullWithoutMasksOrMaps_AndWithoutTheDefectImagesThatLackAMask()
    {
        var noMasks = MetricsSuite.Compute(Category(withMasks: false), Threshold);
        Assert.Null(noMasks.PixelAuroc);
        Assert.Null(noMasks.PixelAp);
        Assert.Null(noMasks.PixelF1Max);
        Assert.Null(noMasks.Aupro);
        Assert.All(noMasks.PerDefectType, t => Assert.Null(t.PixelAuroc));
        Assert.Equal(7.0 / 9, noMasks.ImageAuroc, Tol);

        var noMaps = MetricsSuite.Compute(Category(withMaps: false), Threshold);
        Assert.Null(noMaps.PixelAuroc);
        Assert.Null(noMaps.Aupro);

        Assert.Equal(0, noMasks.PixelMetricImages);

        // A defective image without a mask is left out of the pixel metrics, never counted as all good: they equal
        // those of the set without it, and say over how many images they were computed.
        var images = Category();
        images[4] = images[4] with { Mask = null };
        var partial = MetricsSuite.Compute(images, Threshold);
        var without = MetricsSuite.Compute(images.Where((_, i) => i != 4).ToList(), Threshold);
        Assert.NotNull(partial.PixelAuroc);
        Assert.Equal(without.PixelAuroc, partial.PixelAuroc);
        Assert.Equal(without.Aupro, partial.Aupro);
        Assert.Equal(images.Count - 1, partial.PixelMetricImages);
        Assert.Equal(images.Count, partial.Images);
        Assert.Equal(images.Count, MetricsSuite.Compute(Category(), Threshold).PixelMetricImages);

        // A good image without a map too.
        images = Category();
        images[0] = images[0] with { Map = null };
        Assert.Null(MetricsSuite.Compute(images, Threshold).Aupro);
    }

    [Fact]
    public void Compute_Errors()
    {
        var images = Category();
        Assert.Throws<ArgumentException>(() => MetricsSuite.Compute(images.Where(i => i.Label == 0).ToList(), Threshold));
        Assert.Throws<ArgumentException>(() => MetricsSuite.Compute(images.Where(i => i.Label == 1).ToList(), Threshold));
        var badMask = images.ToList();
        badMask[3] = badMask[3] with { Mask = new Grid2D(4, 4) };
        Assert.Throws<ArgumentException>(() => MetricsSuite.Compute(badMask, Threshold));
        var badLabel = images.ToList();
        badLabel[0] = badLabel[0] with { Label = 2 };
        Assert.Throws<ArgumentException>(() => MetricsSuite.Compute(badLabel, Threshold));
    }

    [Fact]
    public void Json_SnakeCaseWithoutCurves()
    {
        var m = MetricsSuite.Compute(Category(), Threshold);
        string json = JsonSerializer.Serialize(m);
        foreach (var name in new[] { "image_auroc", "image_ap", "image_f1_max", "image_f1_max_threshold", "pixel_auroc", "pixel_ap",
                     "pixel_f1_max", "aupro", "precision", "recall", "f1", "good_false_reject_rate", "missed_defect_rate",
                     "per_defect_type", "defect_type", "detected_rate" })
            Assert.Contains($"\"{name}\":", json);
        Assert.DoesNotContain("ImageRoc", json);
        Assert.DoesNotContain("ImagePr", json);
        Assert.DoesNotContain("FalsePositiveRate", json);
        Assert.DoesNotContain("Thresholds", json);

        using var doc = JsonDocument.Parse(json);
        Assert.Equal(7.0 / 9, doc.RootElement.GetProperty("image_auroc").GetDouble(), Tol);
        Assert.Equal(3, doc.RootElement.GetProperty("per_defect_type").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("per_defect_type")[0].GetProperty("image_auroc").ValueKind);

        var back = JsonSerializer.Deserialize<CategoryMetrics>(json)!;
        Assert.Equal(m.ImageAuroc, back.ImageAuroc);
        Assert.Equal(m.Aupro, back.Aupro);
        Assert.Equal(m.PerDefectType, back.PerDefectType);

        var noMasks = JsonSerializer.Serialize(MetricsSuite.Compute(Category(withMasks: false), Threshold));
        Assert.Contains("\"aupro\":null", noMasks);
    }

    // ------------------------------------------------------------------ independent references

    static (float[] Scores, byte[] Labels) Pixels(IReadOnlyList<ScoredImage> images)
    {
        var scores = images.SelectMany(i => i.Map!.Values).ToArray();
        var labels = images.SelectMany(i => i.Mask is null ? new byte[i.Map!.Values.Length] : i.Mask.Values.Select(v => v > 0.5f ? (byte)1 : (byte)0)).ToArray();
        return (scores, labels);
    }

    /// <summary>Per distinct threshold t (descending), precision and recall of score &gt;= t counted directly.</summary>
    static IEnumerable<(double Precision, double Recall, double F1)> NaiveCurve(float[] scores, byte[] labels)
    {
        int positives = labels.Count(l => l == 1);
        foreach (var t in scores.Distinct().OrderByDescending(s => s))
        {
            int tp = 0, fp = 0;
            for (int i = 0; i < scores.Length; i++)
                if (scores[i] >= t) { if (labels[i] == 1) tp++; else fp++; }
            double p = (double)tp / (tp + fp), r = (double)tp / positives;
            yield return (p, r, p + r == 0 ? 0 : 2 * p * r / (p + r));
        }
    }

    static double NaiveAveragePrecision(float[] scores, byte[] labels)
    {
        double ap = 0, previousRecall = 0;
        foreach (var (p, r, _) in NaiveCurve(scores, labels)) { ap += (r - previousRecall) * p; previousRecall = r; }
        return ap;
    }

    static double NaiveF1Max(float[] scores, byte[] labels) => NaiveCurve(scores, labels).Max(c => c.F1);
}
