using PipelineFramework.Core.Evaluation;

namespace PipelineFramework.Tests.Evaluation;

public class MetricsTests
{
    const double Tol = 1e-12;

    // sklearn's documentation example (roc_auc_score, roc_curve, average_precision_score).
    static readonly float[] DocScores = [0.1f, 0.4f, 0.35f, 0.8f];
    static readonly byte[] DocLabels = [0, 0, 1, 1];

    // Ties across classes: positives 0.5, 0.5, 0.2, 0.9; negatives 0.5, 0.2, 0.8.
    static readonly float[] TieScores = [0.5f, 0.5f, 0.5f, 0.2f, 0.8f, 0.2f, 0.9f];
    static readonly byte[] TieLabels = [1, 0, 1, 0, 0, 1, 1];

    [Fact]
    public void Auroc_SklearnDocExample()
    {
        Assert.Equal(0.75, Metrics.Auroc(DocScores, DocLabels), Tol);
    }

    [Fact]
    public void Roc_SklearnDocExample_OnePointPerDistinctScore()
    {
        var roc = Metrics.Roc(DocScores, DocLabels);
        // sklearn roc_curve(drop_intermediate=False): thresholds inf, .8, .4, .35, .1
        Assert.Equal([0, 0, 0.5, 0.5, 1], roc.FalsePositiveRate);
        Assert.Equal([0, 0.5, 0.5, 1, 1], roc.TruePositiveRate);
        Assert.Equal(double.PositiveInfinity, roc.Thresholds[0]);
        Assert.Equal([0.8f, 0.4f, 0.35f, 0.1f], roc.Thresholds.Skip(1).Select(t => (float)t).ToArray());
    }

    [Fact]
    public void Auroc_WithTies_EqualsHandValueAndMannWhitney()
    {
        // Hand count of (positive, negative) pairs, ties 1/2:
        // 0.5 vs {0.5, 0.2, 0.8}: 0.5 + 1 + 0 = 1.5, twice = 3; 0.2: 0 + 0.5 + 0 = 0.5; 0.9: 3. Total 6.5 / 12.
        Assert.Equal(6.5 / 12, Metrics.Auroc(TieScores, TieLabels), Tol);
        Assert.Equal(MannWhitney(TieScores, TieLabels), Metrics.Auroc(TieScores, TieLabels), Tol);
    }

    [Fact]
    public void Auroc_RandomWithManyTies_EqualsMannWhitney()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = random.Next(2, 200);
            var scores = new float[n];
            var labels = new byte[n];
            for (int i = 0; i < n; i++)
            {
                labels[i] = (byte)random.Next(2);
                scores[i] = random.Next(10) / 10f + labels[i] * 0.15f; // coarse values: many ties
            }
            labels[0] = 0; labels[1] = 1;
            Assert.Equal(MannWhitney(scores, labels), Metrics.Auroc(scores, labels), 1e-12);
            var roc = Metrics.Roc(scores, labels);
            Assert.Equal(MannWhitney(scores, labels), Trapezoid(roc.FalsePositiveRate, roc.TruePositiveRate), 1e-12);
            Assert.Equal(scores.Distinct().Count() + 1, roc.Thresholds.Length);
        }
    }

    [Fact]
    public void Auroc_DoubleOverload_KeepsDifferencesBelowFloatPrecision()
    {
        double[] scores = [1.0, 1.0 + 1e-12];
        byte[] labels = [0, 1];
        Assert.Equal(1.0, Metrics.Auroc(scores, labels), Tol);
        Assert.Equal(0.5, Metrics.Auroc(scores.Select(s => (float)s).ToArray(), labels), Tol); // the float tie
    }

    [Fact]
    public void Auroc_Errors()
    {
        Assert.Throws<ArgumentException>(() => Metrics.Auroc(new float[] { 0.1f, 0.2f }, new byte[] { 1, 1 }));
        Assert.Throws<ArgumentException>(() => Metrics.Auroc(new float[] { 0.1f, 0.2f }, new byte[] { 0, 0 }));
        Assert.Throws<ArgumentException>(() => Metrics.Auroc(new float[] { 0.1f, 0.2f }, new byte[] { 0, 2 }));
        Assert.Throws<ArgumentException>(() => Metrics.Auroc(new float[] { 0.1f, float.NaN }, new byte[] { 0, 1 }));
        Assert.Throws<ArgumentException>(() => Metrics.Auroc(new float[] { 0.1f }, new byte[] { 0, 1 }));
        Assert.Throws<ArgumentException>(() => Metrics.Auroc(ReadOnlySpan<float>.Empty, ReadOnlySpan<byte>.Empty));
        Assert.Throws<ArgumentException>(() => Metrics.AveragePrecision(new float[] { 0.1f, 0.2f }, new byte[] { 0, 0 }));
    }

    [Fact]
    public void PrecisionRecall_SklearnDocExample()
    {
        var pr = Metrics.PrecisionRecall(DocScores, DocLabels);
        // Decreasing thresholds inf, .8, .4, .35, .1: (TP, FP) = (0,0), (1,0), (1,1), (2,1), (2,2).
        Assert.Equal([1, 1, 0.5, 2.0 / 3, 0.5], pr.Precision);
        Assert.Equal([0, 0.5, 0.5, 1, 1], pr.Recall);
        Assert.Equal(5, pr.Thresholds.Length);
    }

    [Fact]
    public void AveragePrecision_SklearnDocExample()
    {
        // 0.5 * 1 + 0 * 0.5 + 0.5 * 2/3 = 0.8333...
        Assert.Equal(0.5 + 0.5 * 2.0 / 3, Metrics.AveragePrecision(DocScores, DocLabels), Tol);
        Assert.Equal(0.83333333333333, Metrics.AveragePrecision(DocScores, DocLabels), 1e-12);
    }

    [Fact]
    public void AveragePrecision_WithTies_HandValue()
    {
        // Groups by decreasing score: 0.9 (TP 1, FP 0), 0.8 (1, 1), 0.5 (3, 2), 0.2 (4, 3); P = 4.
        // AP = 0.25 * 1/1 + 0 + 0.5 * 3/5 + 0.25 * 4/7.
        double expected = 0.25 + 0.5 * 0.6 + 0.25 * 4.0 / 7;
        Assert.Equal(expected, Metrics.AveragePrecision(TieScores, TieLabels), Tol);
    }

    [Fact]
    public void F1Max_HandValues()
    {
        // Doc example: F1 = 2TP / (TP + FP + P): .8 -> 2/3, .4 -> 1/2, .35 -> 4/5, .1 -> 4/6.
        var (f1, threshold) = Metrics.F1Max(DocScores, DocLabels);
        Assert.Equal(0.8, f1, Tol);
        Assert.Equal(0.35f, (float)threshold);

        // Ties: .9 -> 2/5, .8 -> 2/6, .5 -> 6/9, .2 -> 8/11.
        (f1, threshold) = Metrics.F1Max(TieScores, TieLabels);
        Assert.Equal(8.0 / 11, f1, Tol);
        Assert.Equal(0.2f, (float)threshold);
    }

    [Fact]
    public void F1Max_PrefersHighestThresholdOnEqualF1()
    {
        // >= 0.9: TP 1, FP 0, P 2 -> 2/3; >= 0.5: TP 2, FP 2 -> 4/6 = 2/3 too; keep 0.9.
        var (f1, threshold) = Metrics.F1Max(new float[] { 0.9f, 0.5f, 0.5f, 0.5f }, new byte[] { 1, 1, 0, 0 });
        Assert.Equal(2.0 / 3, f1, Tol);
        Assert.Equal(0.9f, (float)threshold);
    }

    [Fact]
    public void AtThreshold_StrictlyGreater()
    {
        // > 0.5 predicts only 0.8 (good) and 0.9 (defect); the 0.5 scores are predicted good.
        var stats = Metrics.AtThreshold(TieScores, TieLabels, 0.5);
        Assert.Equal(new BinaryStats(1, 1, 2, 3), stats);
        Assert.Equal(0.5, stats.Precision, Tol);
        Assert.Equal(0.25, stats.Recall, Tol);
        Assert.Equal(2.0 / 6, stats.F1, Tol);
        Assert.Equal(1.0 / 3, stats.FalsePositiveRate, Tol);

        // Just below 0.5: the three 0.5s become anomalous.
        stats = Metrics.AtThreshold(TieScores, TieLabels, 0.49);
        Assert.Equal(new BinaryStats(3, 2, 1, 1), stats);
        Assert.Equal(0.6, stats.Precision, Tol);
        Assert.Equal(0.75, stats.Recall, Tol);

        // Nothing predicted anomalous: precision is defined as 0.
        stats = Metrics.AtThreshold(TieScores, TieLabels, 0.9);
        Assert.Equal(new BinaryStats(0, 0, 3, 4), stats);
        Assert.Equal(0, stats.Precision);
        Assert.Equal(0, stats.Recall);
        Assert.Equal(0, stats.F1);

        var doubles = Metrics.AtThreshold(TieScores.Select(s => (double)s).ToArray(), TieLabels, 0.5);
        Assert.Equal(new BinaryStats(1, 1, 2, 3), doubles);
    }

    // ------------------------------------------------------------------ connected components

    [Fact]
    public void LabelRegions_EightConnected()
    {
        byte[] mask =
        [
            1, 0, 0, 1,
            0, 1, 0, 0,
            0, 0, 0, 1,
            1, 0, 0, 1,
        ];
        var sizes = new int[16];
        int count = Metrics.LabelRegions(mask, 4, 4, sizes, new int[16]);
        // {(0,0),(1,1)} diagonal = one region; (0,3); {(2,3),(3,3)}; (3,0). 4-connectivity would give 5.
        Assert.Equal(4, count);
        Assert.Equal(
        [
            2, 0, 0, 1,
            0, 2, 0, 0,
            0, 0, 0, 2,
            1, 0, 0, 2,
        ], sizes);
    }

    [Fact]
    public void LabelRegions_MatchesNaiveFloodFill()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 30; trial++)
        {
            int h = random.Next(1, 20), w = random.Next(1, 20);
            var mask = new byte[h * w];
            for (int i = 0; i < mask.Length; i++) mask[i] = (byte)(random.NextDouble() < 0.4 ? 1 : 0);
            var sizes = new int[h * w];
            int count = Metrics.LabelRegions(mask, h, w, sizes, new int[h * w]);
            var (refLabels, refCount) = NaiveLabel(mask, h, w);
            Assert.Equal(refCount, count);
            for (int i = 0; i < mask.Length; i++)
                Assert.Equal(refLabels[i] == 0 ? 0 : refLabels.Count(l => l == refLabels[i]), sizes[i]);
        }
    }

    // ------------------------------------------------------------------ AUPRO

    // Two 6x6 images. Defect image: region A = 1 pixel at (0,0) scoring 0.7; region B = the 2x2 block at rows 3-4,
    // columns 3-4 scoring 0.9, 0.9 / 0.5, 0.2; one good pixel (5,5) scoring 0.8 (mask 0 there). Good image: (2,2)
    // scores 0.6 and (1,1) scores 0.5 (tied with a B pixel). All other pixels score 0.
    // Good pixels: 31 + 36 = 67. Regions: 2, so a pixel of A adds 1/1/2 = 0.5 to PRO, a pixel of B 1/4/2 = 0.125.
    // Distinct scores descending -> (FPR, PRO):
    //   0.9: B,B          -> (0,    0.25)
    //   0.8: ok           -> (1/67, 0.25)
    //   0.7: A            -> (1/67, 0.75)
    //   0.6: ok           -> (2/67, 0.75)
    //   0.5: B + ok (tie) -> (3/67, 0.875)
    //   0.2: B            -> (3/67, 1)
    //   0:   64 ok        -> (1,    1)      and the appended (1, 1); the curve starts at (0, 0).
    // Area to 0.3: 0.25/67 + 0.75/67 + (0.75 + 0.875)/2/67 + (0.3 - 3/67) * 1 = 0.3 - 1.1875/67;
    //   normalised: 1 - 1.1875 / (0.3 * 67) = 0.94092039800995...
    // Area to 0.04 (between 2/67 and 3/67, on the tie segment): PRO(0.04) = 0.75 + 0.125 * (0.04 - 2/67) * 67 = 0.835;
    //   area = 0.25/67 + 0.75/67 + (0.75 + 0.835)/2 * (0.04 - 2/67) = (1 + 0.7925 * 0.68) / 67 = 1.5389/67;
    //   normalised: 1.5389 / (67 * 0.04) = 0.57421641791044...
    static (List<float[]> Maps, List<byte[]> Masks) HandCase()
    {
        var defectMap = new float[36];
        var defectMask = new byte[36];
        defectMask[0 * 6 + 0] = 1; defectMap[0 * 6 + 0] = 0.7f;
        defectMask[3 * 6 + 3] = 1; defectMap[3 * 6 + 3] = 0.9f;
        defectMask[3 * 6 + 4] = 1; defectMap[3 * 6 + 4] = 0.9f;
        defectMask[4 * 6 + 3] = 1; defectMap[4 * 6 + 3] = 0.5f;
        defectMask[4 * 6 + 4] = 1; defectMap[4 * 6 + 4] = 0.2f;
        defectMap[5 * 6 + 5] = 0.8f;
        var goodMap = new float[36];
        goodMap[2 * 6 + 2] = 0.6f;
        goodMap[1 * 6 + 1] = 0.5f;
        return ([defectMap, goodMap], [defectMask, new byte[36]]);
    }

    [Fact]
    public void Pro_HandCase_Curve()
    {
        var (maps, masks) = HandCase();
        var curve = Metrics.Pro(maps, masks, 6, 6);
        double[] fpr = [0, 0, 1.0 / 67, 1.0 / 67, 2.0 / 67, 3.0 / 67, 3.0 / 67, 1, 1];
        double[] pro = [0, 0.25, 0.25, 0.75, 0.75, 0.875, 1, 1, 1];
        Assert.Equal(fpr.Length, curve.FalsePositiveRate.Length);
        for (int i = 0; i < fpr.Length; i++)
        {
            Assert.Equal(fpr[i], curve.FalsePositiveRate[i], 1e-15);
            Assert.Equal(pro[i], curve.Overlap[i], 1e-15);
        }
        Assert.Equal([0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.2f, 0f], curve.Thresholds.Skip(1).Take(7).Select(t => (float)t).ToArray());
    }

    [Fact]
    public void Aupro_HandCase_TwoRegionsOfDifferentSize()
    {
        var (maps, masks) = HandCase();
        Assert.Equal(1 - 1.1875 / (0.3 * 67), Metrics.Aupro(maps, masks, 6, 6), 1e-9);
        Assert.Equal(0.940920398009950, Metrics.Aupro(maps, masks, 6, 6), 1e-9);
        Assert.Equal(1.5389 / 67 / 0.04, Metrics.Aupro(maps, masks, 6, 6, maxFpr: 0.04), 1e-9);
        Assert.Equal(0.574216417910448, Metrics.Aupro(maps, masks, 6, 6, maxFpr: 0.04), 1e-9);
        // Up to FPR 1 the area is the plain trapezoid over the whole curve.
        double full = (0.25 + 0.75 + 0.8125) / 67 + (1 - 3.0 / 67);
        Assert.Equal(full, Metrics.Aupro(maps, masks, 6, 6, maxFpr: 1.0), 1e-9);
    }

    [Fact]
    public void Aupro_PerfectDetector_IsOne()
    {
        var random = new Random(11);
        var maps = new List<float[]>();
        var masks = new List<byte[]>();
        for (int k = 0; k < 4; k++)
        {
            var mask = RandomBlobMask(random, 16, 16, blobs: k == 0 ? 0 : 3);
            var map = new float[256];
            for (int i = 0; i < 256; i++) map[i] = mask[i] != 0 ? 0.6f + 0.4f * random.NextSingle() : 0.5f * random.NextSingle();
            maps.Add(map); masks.Add(mask);
        }
        Assert.Equal(1.0, Metrics.Aupro(maps, masks, 16, 16), 1e-12);
        Assert.Equal(1.0, Metrics.Aupro(maps, masks, 16, 16, 0.05), 1e-12);
    }

    [Fact]
    public void Aupro_Errors()
    {
        var map = new float[4];
        Assert.Throws<ArgumentException>(() => Metrics.Aupro([map], [new byte[4]], 2, 2)); // no region
        Assert.Throws<ArgumentException>(() => Metrics.Aupro([map], [new byte[] { 1, 1, 1, 1 }], 2, 2)); // no good pixel
        Assert.Throws<ArgumentException>(() => Metrics.Aupro([map], [new byte[] { 1, 0, 0, 0 }], 2, 3)); // shape
        Assert.Throws<ArgumentException>(() => Metrics.Aupro([map], [new byte[] { 1, 0, 0, 0 }], 2, 2, maxFpr: 0));
        Assert.Throws<ArgumentException>(() => Metrics.Aupro([new float[] { float.NaN, 0, 0, 0 }], [new byte[] { 1, 0, 0, 0 }], 2, 2));
    }

    [Theory]
    [InlineData(1, 0.3, false)]
    [InlineData(2, 0.3, true)]
    [InlineData(3, 0.05, true)]
    [InlineData(4, 1.0, false)]
    [InlineData(5, 0.3, true)]
    public void Aupro_Random_MatchesNaiveReference(int seed, double maxFpr, bool coarseScores)
    {
        var random = new Random(seed);
        const int h = 16, w = 16;
        var maps = new List<float[]>();
        var masks = new List<byte[]>();
        for (int k = 0; k < 6; k++)
        {
            var mask = RandomBlobMask(random, h, w, blobs: k < 2 ? 0 : random.Next(1, 4));
            var map = new float[h * w];
            for (int i = 0; i < map.Length; i++)
            {
                float v = random.NextSingle() + (mask[i] != 0 ? 0.5f : 0f);
                map[i] = coarseScores ? MathF.Round(v * 8) / 8 : v;
            }
            maps.Add(map); masks.Add(mask);
        }
        double expected = NaiveAupro(maps, masks, h, w, maxFpr);
        Assert.Equal(expected, Metrics.Aupro(maps, masks, h, w, maxFpr), 1e-9);
    }

    [Fact]
    public void Aupro_LargeInputThroughRadixSort_MatchesNaiveReferenceAndCurve()
    {
        var random = new Random(21);
        const int h = 128, w = 128; // 3 x 16384 pixels: above the radix-sort cut-over
        var maps = new List<float[]>();
        var masks = new List<byte[]>();
        for (int k = 0; k < 3; k++)
        {
            var mask = RandomBlobMask(random, h, w, blobs: k == 0 ? 0 : 6);
            var map = new float[h * w];
            for (int i = 0; i < map.Length; i++) map[i] = MathF.Round((random.NextSingle() + (mask[i] != 0 ? 0.4f : 0f)) * 40) / 40 - 0.3f;
            maps.Add(map); masks.Add(mask);
        }
        Assert.True(maps.Sum(m => m.Length) >= RadixSort.MinLength);
        foreach (var maxFpr in new[] { 0.3, 0.01, 1.0 })
        {
            double aupro = Metrics.Aupro(maps, masks, h, w, maxFpr);
            Assert.Equal(NaiveAupro(maps, masks, h, w, maxFpr), aupro, 1e-9);
            var curve = Metrics.Pro(maps, masks, h, w);
            Assert.Equal(Metrics.TrapezoidUpTo(curve.FalsePositiveRate, curve.Overlap, maxFpr) / maxFpr, aupro, 1e-12);
        }
    }

    [Fact]
    public void Auroc_LargeInputThroughRadixSort_MatchesComparisonSort()
    {
        var random = new Random(22);
        int n = 3 * RadixSort.MinLength;
        var scores = new float[n];
        var labels = new byte[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (byte)(random.NextDouble() < 0.2 ? 1 : 0);
            scores[i] = (i % 3 == 0 ? MathF.Round(random.NextSingle() * 20) / 20 : random.NextSingle()) + labels[i] * 0.1f - 0.5f;
        }
        var doubles = scores.Select(s => (double)s).ToArray(); // the double overloads sort with Array.Sort
        Assert.Equal(Metrics.Auroc(doubles, labels), Metrics.Auroc(scores, labels), 1e-12);
        Assert.Equal(Metrics.AveragePrecision(doubles, labels), Metrics.AveragePrecision(scores, labels), 1e-12);
        Assert.Equal(Metrics.F1Max(doubles, labels), Metrics.F1Max(scores, labels));
        var roc = Metrics.Roc(scores, labels);
        Assert.Equal(Metrics.Auroc(scores, labels), Trapezoid(roc.FalsePositiveRate, roc.TruePositiveRate), 1e-9);
        var pr = Metrics.PrecisionRecall(scores, labels);
        double ap = 0;
        for (int i = 1; i < pr.Recall.Length; i++) ap += (pr.Recall[i] - pr.Recall[i - 1]) * pr.Precision[i];
        Assert.Equal(Metrics.AveragePrecision(scores, labels), ap, 1e-9);
    }

    // ------------------------------------------------------------------ independent references

    /// <summary>O(n^2) Mann-Whitney: share of (positive, negative) pairs ranked correctly, ties 1/2.</summary>
    internal static double MannWhitney(IReadOnlyList<float> scores, IReadOnlyList<byte> labels)
    {
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < scores.Count; i++)
        {
            if (labels[i] != 1) continue;
            for (int j = 0; j < scores.Count; j++)
            {
                if (labels[j] != 0) continue;
                pairs++;
                if (scores[i] > scores[j]) wins += 1;
                else if (scores[i] == scores[j]) wins += 0.5;
            }
        }
        return wins / pairs;
    }

    static double Trapezoid(double[] x, double[] y)
    {
        double area = 0;
        for (int i = 1; i < x.Length; i++) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
        return area;
    }

    /// <summary>Recursive-free flood fill with a List-based stack, 8-neighbours; labels 1..count.</summary>
    static (int[] Labels, int Count) NaiveLabel(byte[] mask, int h, int w)
    {
        var labels = new int[h * w];
        int count = 0;
        for (int s = 0; s < mask.Length; s++)
        {
            if (mask[s] == 0 || labels[s] != 0) continue;
            count++;
            var stack = new List<(int Y, int X)> { (s / w, s % w) };
            labels[s] = count;
            while (stack.Count > 0)
            {
                var (y, x) = stack[^1];
                stack.RemoveAt(stack.Count - 1);
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        int q = yy * w + xx;
                        if (mask[q] != 0 && labels[q] == 0) { labels[q] = count; stack.Add((yy, xx)); }
                    }
            }
        }
        return (labels, count);
    }

    /// <summary>
    /// The PRO definition evaluated naively: for every distinct threshold t (descending), PRO = mean over regions of
    /// the share of region pixels with score &gt;= t, FPR = share of good pixels with score &gt;= t; (0,0) first, (1,1)
    /// last; trapezoid to maxFpr with linear interpolation there; divided by maxFpr.
    /// </summary>
    static double NaiveAupro(List<float[]> maps, List<byte[]> masks, int h, int w, double maxFpr)
    {
        var regions = new List<List<float>>();
        var good = new List<float>();
        for (int k = 0; k < maps.Count; k++)
        {
            var (labels, count) = NaiveLabel(masks[k], h, w);
            for (int r = 1; r <= count; r++)
                regions.Add(Enumerable.Range(0, h * w).Where(i => labels[i] == r).Select(i => maps[k][i]).ToList());
            good.AddRange(Enumerable.Range(0, h * w).Where(i => labels[i] == 0).Select(i => maps[k][i]));
        }
        var thresholds = maps.SelectMany(m => m).Distinct().OrderByDescending(t => t).ToList();
        var xs = new List<double> { 0 };
        var ys = new List<double> { 0 };
        foreach (var t in thresholds)
        {
            xs.Add(good.Count(v => v >= t) / (double)good.Count);
            ys.Add(regions.Average(r => r.Count(v => v >= t) / (double)r.Count));
        }
        xs.Add(1); ys.Add(1);

        double area = 0;
        for (int i = 1; i < xs.Count; i++)
        {
            if (xs[i] <= maxFpr) { area += (xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2; continue; }
            if (xs[i - 1] < maxFpr)
            {
                double y = ys[i - 1] + (ys[i] - ys[i - 1]) * (maxFpr - xs[i - 1]) / (xs[i] - xs[i - 1]);
                area += (maxFpr - xs[i - 1]) * (y + ys[i - 1]) / 2;
            }
            break;
        }
        return area / maxFpr;
    }

    internal static byte[] RandomBlobMask(Random random, int h, int w, int blobs)
    {
        var mask = new byte[h * w];
        for (int b = 0; b < blobs; b++)
        {
            int cy = random.Next(h), cx = random.Next(w), ry = random.Next(0, 3), rx = random.Next(0, 4);
            for (int y = Math.Max(0, cy - ry); y <= Math.Min(h - 1, cy + ry); y++)
                for (int x = Math.Max(0, cx - rx); x <= Math.Min(w - 1, cx + rx); x++)
                    if (random.NextDouble() < 0.85) mask[y * w + x] = 1;
        }
        return mask;
    }
}
