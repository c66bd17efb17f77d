using System.Numerics;

namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// ROC curve, one point per distinct score, ordered by decreasing threshold. Point 0 is (0, 0) with threshold
/// +infinity; point k predicts positive for every score &gt;= <c>Thresholds[k]</c>. The last point is (1, 1).
/// </summary>
public sealed record RocCurve(double[] FalsePositiveRate, double[] TruePositiveRate, double[] Thresholds);

/// <summary>
/// Precision-recall curve, one point per distinct score, ordered by decreasing threshold (increasing recall).
/// Point 0 is (recall 0, precision 1) with threshold +infinity, as sklearn appends it; point k predicts positive for
/// every score &gt;= <c>Thresholds[k]</c>.
/// </summary>
public sealed record PrCurve(double[] Precision, double[] Recall, double[] Thresholds);

/// <summary>
/// Per-region overlap curve (MVTec AD): point 0 is (0, 0) with threshold +infinity, then one point per distinct
/// pixel score in decreasing order, then (1, 1) as the official code appends it.
/// </summary>
public sealed record ProCurve(double[] FalsePositiveRate, double[] Overlap, double[] Thresholds);

/// <summary>Confusion counts at one threshold; positive = defect (label 1).</summary>
public sealed record BinaryStats(int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives)
{
    public int Positives => TruePositives + FalseNegatives;
    public int Negatives => FalsePositives + TrueNegatives;

    /// <summary>TP / (TP + FP); 0 when nothing is predicted positive (sklearn's zero_division=0).</summary>
    public double Precision => TruePositives + FalsePositives == 0 ? 0 : (double)TruePositives / (TruePositives + FalsePositives);

    /// <summary>TP / (TP + FN); 0 when there are no positives.</summary>
    public double Recall => Positives == 0 ? 0 : (double)TruePositives / Positives;

    /// <summary>2TP / (2TP + FP + FN) (the harmonic mean of precision and recall); 0 when TP = FP = FN = 0.</summary>
    public double F1 => 2 * TruePositives + FalsePositives + FalseNegatives == 0
        ? 0 : 2.0 * TruePositives / (2 * TruePositives + FalsePositives + FalseNegatives);

    /// <summary>FP / (FP + TN); 0 when there are no negatives.</summary>
    public double FalsePositiveRate => Negatives == 0 ? 0 : (double)FalsePositives / Negatives;
}

/// <summary>
/// Exact threshold-free detection metrics. Every sort-based metric sorts once (radix sort for float scores) and sweeps the distinct
/// scores once; equal scores form one group, i.e. one curve point per distinct threshold, as sklearn does. Labels
/// are 1 = positive (defect), 0 = negative (good); scores are higher = more anomalous. NaN scores are rejected.
/// See docs/metrics.md for the definitions.
/// </summary>
public static class Metrics
{
    // ---------------------------------------------------------------- image / pixel level, binary labels

    /// <summary>
    /// Area under the ROC curve (trapezoidal over one point per distinct score), equal to sklearn's
    /// <c>roc_auc_score</c> and to the Mann-Whitney U / (P N) with ties counted 1/2.
    /// </summary>
    /// <exception cref="ArgumentException">Only one class is present, lengths differ, a label is not 0/1, or a score is NaN.</exception>
    public static double Auroc(ReadOnlySpan<float> scores, ReadOnlySpan<byte> labels) => SweepSummary.Create(scores, labels).CheckedAuroc();

    /// <inheritdoc cref="Auroc(ReadOnlySpan{float}, ReadOnlySpan{byte})"/>
    public static double Auroc(ReadOnlySpan<double> scores, ReadOnlySpan<byte> labels) => SweepSummary.Create(scores, labels).CheckedAuroc();

    /// <summary>ROC curve from (0, 0) to (1, 1), one point per distinct score (no intermediate points dropped).</summary>
    public static RocCurve Roc(ReadOnlySpan<float> scores, ReadOnlySpan<byte> labels) => Sweep.Create(scores, labels).Roc();

    /// <inheritdoc cref="Roc(ReadOnlySpan{float}, ReadOnlySpan{byte})"/>
    public static RocCurve Roc(ReadOnlySpan<double> scores, ReadOnlySpan<byte> labels) => Sweep.Create(scores, labels).Roc();

    /// <summary>Precision-recall curve; needs at least one positive.</summary>
    public static PrCurve PrecisionRecall(ReadOnlySpan<float> scores, ReadOnlySpan<byte> labels) => Sweep.Create(scores, labels).PrecisionRecall();

    /// <inheritdoc cref="PrecisionRecall(ReadOnlySpan{float}, ReadOnlySpan{byte})"/>
    public static PrCurve PrecisionRecall(ReadOnlySpan<double> scores, ReadOnlySpan<byte> labels) => Sweep.Create(scores, labels).PrecisionRecall();

    /// <summary>
    /// Average precision as sklearn defines it: sum over distinct thresholds (decreasing) of
    /// (R_n - R_{n-1}) P_n, with R_{-1} = 0 (a step function, no interpolation). Needs at least one positive.
    /// </summary>
    public static double AveragePrecision(ReadOnlySpan<float> scores, ReadOnlySpan<byte> labels) => SweepSummary.Create(scores, labels).CheckedAveragePrecision();

    /// <inheritdoc cref="AveragePrecision(ReadOnlySpan{float}, ReadOnlySpan{byte})"/>
    public static double AveragePrecision(ReadOnlySpan<double> scores, ReadOnlySpan<byte> labels) => SweepSummary.Create(scores, labels).CheckedAveragePrecision();

    /// <summary>
    /// The best F1 over all distinct thresholds, predicting positive when score &gt;= threshold, and that threshold
    /// (the highest one when several reach the maximum). Needs at least one positive.
    /// </summary>
    public static (double F1, double Threshold) F1Max(ReadOnlySpan<float> scores, ReadOnlySpan<byte> labels) => SweepSummary.Create(scores, labels).CheckedF1Max();

    /// <inheritdoc cref="F1Max(ReadOnlySpan{float}, ReadOnlySpan{byte})"/>
    public static (double F1, double Threshold) F1Max(ReadOnlySpan<double> scores, ReadOnlySpan<byte> labels) => SweepSummary.Create(scores, labels).CheckedF1Max();

    /// <summary>
    /// Confusion counts when predicting anomalous for score &gt; threshold (strictly greater, as the model's
    /// <c>IsAnomaly = raw &gt; threshold</c>). A NaN score is never &gt; threshold, so it counts as predicted good.
    /// </summary>
    public static BinaryStats AtThreshold(ReadOnlySpan<float> scores, ReadOnlySpan<byte> labels, double threshold)
    {
        CheckLengths(scores.Length, labels.Length);
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            bool positive = CheckLabel(labels[i]);
            bool predicted = scores[i] > threshold;
            if (positive) { if (predicted) tp++; else fn++; }
            else if (predicted) fp++;
            else tn++;
        }
        return new BinaryStats(tp, fp, tn, fn);
    }

    /// <inheritdoc cref="AtThreshold(ReadOnlySpan{float}, ReadOnlySpan{byte}, double)"/>
    public static BinaryStats AtThreshold(ReadOnlySpan<double> scores, ReadOnlySpan<byte> labels, double threshold)
    {
        CheckLengths(scores.Length, labels.Length);
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            bool positive = CheckLabel(labels[i]);
            bool predicted = scores[i] > threshold;
            if (positive) { if (predicted) tp++; else fn++; }
            else if (predicted) fp++;
            else tn++;
        }
        return new BinaryStats(tp, fp, tn, fn);
    }

    // ---------------------------------------------------------------- AUPRO

    /// <summary>
    /// Normalised area under the per-region-overlap curve up to <paramref name="maxFpr"/> (MVTec AD, Bergmann et al.
    /// 2021; the official <c>generic_util.compute_pro</c> + <c>trapezoid</c>): regions are the 8-connected components
    /// of each mask; PRO(t) = mean over all regions of the fraction of the region's pixels scoring &gt;= t; FPR(t) =
    /// fraction of all mask-0 pixels (all images, good ones included) scoring &gt;= t. The curve is integrated with the
    /// trapezoid rule from 0 to <paramref name="maxFpr"/> (interpolated linearly at exactly maxFpr) and divided by
    /// maxFpr, so a perfect detector scores 1. Masks: nonzero = defect; a null mask means all good.
    /// </summary>
    /// <exception cref="ArgumentException">No defect region or no good pixel, shapes differ, NaN scores, or maxFpr not in (0, 1].</exception>
    public static double Aupro(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]> masks, int height, int width, double maxFpr = 0.3)
    {
        var pixels = PixelSet.Build(Shapes(maps, masks, height, width));
        return pixels.Aupro(maxFpr);
    }

    /// <summary>The PRO curve behind <see cref="Aupro"/>.</summary>
    public static ProCurve Pro(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]> masks, int height, int width)
    {
        var pixels = PixelSet.Build(Shapes(maps, masks, height, width));
        return pixels.ProCurve();
    }

    static IEnumerable<PixelImage> Shapes(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]> masks, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(masks);
        if (maps.Count != masks.Count) throw new ArgumentException($"{maps.Count} maps but {masks.Count} masks.");
        if (height <= 0 || width <= 0) throw new ArgumentException($"Map shape {height}x{width} is empty.");
        for (int i = 0; i < maps.Count; i++)
            yield return new PixelImage(maps[i], masks[i], height, width);
    }

    /// <summary>
    /// Trapezoidal area under (x, y) for x from x[0] to <paramref name="xMax"/>; x must be non-decreasing. The curve is
    /// interpolated linearly at xMax (the official MVTec <c>trapezoid(x, y, x_max)</c>).
    /// </summary>
    internal static double TrapezoidUpTo(double[] x, double[] y, double xMax)
    {
        double area = 0;
        for (int i = 1; i < x.Length; i++)
        {
            double x0 = x[i - 1], x1 = x[i];
            if (x0 >= xMax) break;
            if (x1 <= xMax) { area += 0.5 * (y[i] + y[i - 1]) * (x1 - x0); continue; }
            double yAt = y[i - 1] + (y[i] - y[i - 1]) * (xMax - x0) / (x1 - x0);
            area += 0.5 * (yAt + y[i - 1]) * (xMax - x0);
            break;
        }
        return area;
    }

    // ---------------------------------------------------------------- connected components

    /// <summary>
    /// Labels the 8-connected components of the nonzero pixels of <paramref name="mask"/> (scipy.ndimage.label with a
    /// 3x3 structure of ones) and writes, for every pixel, the size of its component (0 for mask-0 pixels) into
    /// <paramref name="regionSize"/>, which must be zero on entry. <paramref name="queue"/> needs height*width entries.
    /// Returns the number of components.
    /// </summary>
    internal static int LabelRegions(ReadOnlySpan<byte> mask, int height, int width, Span<int> regionSize, Span<int> queue)
    {
        int count = 0, n = height * width;
        for (int start = 0; start < n; start++)
        {
            if (mask[start] == 0 || regionSize[start] != 0) continue;
            count++;
            int head = 0, tail = 0;
            queue[tail++] = start;
            regionSize[start] = -1; // visited
            while (head < tail)
            {
                int p = queue[head++];
                int y = p / width, x = p - y * width;
                int y0 = Math.Max(0, y - 1), y1 = Math.Min(height - 1, y + 1);
                int x0 = Math.Max(0, x - 1), x1 = Math.Min(width - 1, x + 1);
                for (int yy = y0; yy <= y1; yy++)
                {
                    int row = yy * width;
                    for (int xx = x0; xx <= x1; xx++)
                    {
                        int q = row + xx;
                        if (mask[q] != 0 && regionSize[q] == 0) { regionSize[q] = -1; queue[tail++] = q; }
                    }
                }
            }
            for (int i = 0; i < tail; i++) regionSize[queue[i]] = tail;
        }
        return count;
    }

    // ---------------------------------------------------------------- helpers

    internal static void CheckLengths(int scores, int labels)
    {
        if (scores != labels) throw new ArgumentException($"{scores} scores but {labels} labels.");
    }

    internal static bool CheckLabel(byte label) => label switch
    {
        0 => false,
        1 => true,
        _ => throw new ArgumentException($"Label {label} is not 0 (good) or 1 (defect)."),
    };
}

/// <summary>
/// Distinct scores in decreasing order with cumulative true / false positive counts: group g predicts positive for
/// every score &gt;= Thresholds[g].
/// </summary>
/// <summary>The input checks and the ascending sort every sweep starts from.</summary>
internal static class ScoreSorting
{
    public static (T[] Keys, byte[] Labels) CheckedCopy<T>(ReadOnlySpan<T> scores, ReadOnlySpan<byte> labels) where T : struct
    {
        Metrics.CheckLengths(scores.Length, labels.Length);
        if (scores.Length == 0) throw new ArgumentException("No scores given.");
        return (scores.ToArray(), labels.ToArray());
    }

    /// <summary>Refuses NaN scores and labels other than 0/1, then sorts both arrays in place by score, ascending.</summary>
    public static void CheckAndSort<T>(T[] keys, byte[] labels) where T : struct, IBinaryFloatingPointIeee754<T>
    {
        foreach (var k in keys) if (T.IsNaN(k)) throw new ArgumentException("A score is NaN.");
        foreach (var l in labels) Metrics.CheckLabel(l);
        if (typeof(T) == typeof(float)) RadixSort.Sort((float[])(object)keys, labels);
        else Array.Sort(keys, labels);
    }
}

internal sealed class Sweep
{
    public required double[] Thresholds { get; init; }
    public required int[] TruePositives { get; init; }
    public required int[] FalsePositives { get; init; }
    public required int Positives { get; init; }
    public required int Negatives { get; init; }
    public int Count => Thresholds.Length;

    public static Sweep Create<T>(ReadOnlySpan<T> scores, ReadOnlySpan<byte> labels) where T : struct, IBinaryFloatingPointIeee754<T>
    {
        var (keys, items) = ScoreSorting.CheckedCopy(scores, labels);
        return FromUnsorted(keys, items);
    }

    /// <summary>Sorts <paramref name="keys"/> and <paramref name="labels"/> in place, then sweeps.</summary>
    public static Sweep FromUnsorted<T>(T[] keys, byte[] labels) where T : struct, IBinaryFloatingPointIeee754<T>
    {
        ScoreSorting.CheckAndSort(keys, labels);
        return FromSortedAscending(keys, labels);
    }

    /// <summary>Sweeps keys sorted ascending (NaN-free) with their 0/1 labels, from the highest score down.</summary>
    public static Sweep FromSortedAscending<T>(T[] keys, byte[] labels) where T : struct, IBinaryFloatingPointIeee754<T>
    {
        int n = keys.Length;
        int distinct = n == 0 ? 0 : 1;
        for (int i = 1; i < n; i++) if (keys[i] != keys[i - 1]) distinct++;
        var thresholds = new double[distinct];
        var tps = new int[distinct];
        var fps = new int[distinct];
        int tp = 0, fp = 0, g = 0;
        for (int i = n - 1; i >= 0;)
        {
            T key = keys[i];
            while (i >= 0 && keys[i] == key)
            {
                if (labels[i] != 0) tp++; else fp++;
                i--;
            }
            thresholds[g] = double.CreateTruncating(key);
            tps[g] = tp; fps[g] = fp;
            g++;
        }
        return new Sweep { Thresholds = thresholds, TruePositives = tps, FalsePositives = fps, Positives = tp, Negatives = fp };
    }

    void NeedBothClasses()
    {
        if (Positives == 0 || Negatives == 0)
            throw new ArgumentException($"AUROC needs both classes; got {Positives} positive (defect) and {Negatives} negative (good) samples.");
    }

    void NeedPositives()
    {
        if (Positives == 0) throw new ArgumentException("Precision-recall metrics need at least one positive (defect) sample.");
    }

    public RocCurve Roc()
    {
        NeedBothClasses();
        var fpr = new double[Count + 1];
        var tpr = new double[Count + 1];
        var th = new double[Count + 1];
        th[0] = double.PositiveInfinity;
        for (int g = 0; g < Count; g++)
        {
            fpr[g + 1] = (double)FalsePositives[g] / Negatives;
            tpr[g + 1] = (double)TruePositives[g] / Positives;
            th[g + 1] = Thresholds[g];
        }
        return new RocCurve(fpr, tpr, th);
    }

    public PrCurve PrecisionRecall()
    {
        NeedPositives();
        var precision = new double[Count + 1];
        var recall = new double[Count + 1];
        var th = new double[Count + 1];
        precision[0] = 1; th[0] = double.PositiveInfinity;
        for (int g = 0; g < Count; g++)
        {
            int tp = TruePositives[g], fp = FalsePositives[g];
            precision[g + 1] = (double)tp / (tp + fp); // every group adds at least one prediction: tp + fp > 0
            recall[g + 1] = (double)tp / Positives;
            th[g + 1] = Thresholds[g];
        }
        return new PrCurve(precision, recall, th);
    }
}

/// <summary>
/// AUROC, average precision and F1-max from one sweep over sorted scores, without materialising the curve (for
/// millions of pixels). Same arithmetic as <see cref="Sweep"/>.
/// </summary>
internal readonly record struct SweepSummary(int Positives, int Negatives, double Auroc, double AveragePrecision, double F1Max, double F1MaxThreshold)
{
    public bool HasBothClasses => Positives > 0 && Negatives > 0;

    public static SweepSummary Create<T>(ReadOnlySpan<T> scores, ReadOnlySpan<byte> labels) where T : struct, IBinaryFloatingPointIeee754<T>
    {
        var (keys, items) = ScoreSorting.CheckedCopy(scores, labels);
        return FromUnsorted(keys, items);
    }

    /// <summary>Sorts both arrays in place (ascending), then sweeps.</summary>
    public static SweepSummary FromUnsorted<T>(T[] keys, byte[] labels) where T : struct, IBinaryFloatingPointIeee754<T>
    {
        ScoreSorting.CheckAndSort(keys, labels);
        return FromSortedAscending(keys, labels);
    }

    /// <summary>Keys sorted ascending, NaN-free; a label is positive when nonzero.</summary>
    public static SweepSummary FromSortedAscending<T, TLabel>(T[] keys, TLabel[] labels)
        where T : struct, IBinaryFloatingPointIeee754<T>
        where TLabel : struct, IBinaryInteger<TLabel>
        => FromSortedAscending(keys, labels, TLabel.AllBitsSet);

    /// <summary>Keys sorted ascending, NaN-free; a label is positive when <c>(label &amp; mask) != 0</c>.</summary>
    public static SweepSummary FromSortedAscending<T, TLabel>(T[] keys, TLabel[] labels, TLabel mask)
        where T : struct, IBinaryFloatingPointIeee754<T>
        where TLabel : struct, IBinaryInteger<TLabel>
    {
        int positives = 0;
        foreach (var l in labels) if ((l & mask) != TLabel.Zero) positives++;
        int negatives = keys.Length - positives;

        long twiceArea = 0;
        double ap = 0, bestF1 = -1, bestAt = double.PositiveInfinity;
        int tp = 0, fp = 0;
        for (int i = keys.Length - 1; i >= 0;)
        {
            T key = keys[i];
            int tpPrev = tp, fpPrev = fp;
            while (i >= 0 && keys[i] == key)
            {
                if ((labels[i] & mask) != TLabel.Zero) tp++; else fp++;
                i--;
            }
            long dtp = tp - tpPrev, dfp = fp - fpPrev;
            twiceArea += dfp * (2L * tpPrev + dtp);
            if (positives > 0)
            {
                if (dtp != 0) ap += (double)dtp / positives * ((double)tp / (tp + fp));
                double f1 = 2.0 * tp / (tp + fp + positives);
                if (f1 > bestF1) { bestF1 = f1; bestAt = double.CreateTruncating(key); }
            }
        }
        double auroc = positives > 0 && negatives > 0 ? twiceArea / (2.0 * positives * (double)negatives) : double.NaN;
        return positives > 0
            ? new SweepSummary(positives, negatives, auroc, ap, bestF1, bestAt)
            : new SweepSummary(positives, negatives, auroc, double.NaN, double.NaN, double.NaN);
    }

    public double CheckedAuroc()
    {
        if (!HasBothClasses)
            throw new ArgumentException($"AUROC needs both classes; got {Positives} positive (defect) and {Negatives} negative (good) samples.");
        return Auroc;
    }

    public double CheckedAveragePrecision()
    {
        if (Positives == 0) throw new ArgumentException("Precision-recall metrics need at least one positive (defect) sample.");
        return AveragePrecision;
    }

    public (double F1, double Threshold) CheckedF1Max()
    {
        if (Positives == 0) throw new ArgumentException("Precision-recall metrics need at least one positive (defect) sample.");
        return (F1Max, F1MaxThreshold);
    }
}
