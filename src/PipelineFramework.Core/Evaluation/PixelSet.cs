namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// One image's pixel scores and mask (nonzero = defect; null = all good) for the pixel metrics. <see cref="Group"/>
/// (0..255) tags the image for per-group pixel AUROC: group 0 pixels take part in every group's AUROC (the good
/// images), group g &gt; 0 pixels only in group g's.
/// </summary>
internal readonly record struct PixelImage(float[] Map, byte[]? Mask, int Height, int Width, int Group = 0);

/// <summary>
/// All pixels of a set of images, sorted once by score (ascending), each with the size of its ground-truth region
/// (0 = good pixel) and its image's group packed into one int: everything for pixel AUROC / AP / F1-max, AUPRO and the
/// per-group pixel AUROC comes from this single sort.
/// </summary>
internal sealed class PixelSet
{
    /// <summary>Low bits of an item: region size. A map must have fewer pixels than this for groups to be packed.</summary>
    public const int SizeBits = 23;
    public const int SizeMask = (1 << SizeBits) - 1;
    public const int MaxGroup = 255;

    public required float[] Scores { get; init; }
    /// <summary>Per sorted pixel: region size (low <see cref="SizeBits"/> bits; 0 = good pixel) | group &lt;&lt; SizeBits.</summary>
    public required int[] Items { get; init; }
    public required int Regions { get; init; }
    public required int GoodPixels { get; init; }
    /// <summary>Highest group present (0 when none was given).</summary>
    public required int Groups { get; init; }
    /// <summary><see cref="SizeMask"/>, or all bits when a map is too large to pack groups (then there are none).</summary>
    public required int RegionMask { get; init; }
    public int DefectPixels => Scores.Length - GoodPixels;

    /// <summary>Whether images of <paramref name="pixelsPerImage"/> pixels can carry a group tag.</summary>
    public static bool CanPackGroups(int pixelsPerImage) => pixelsPerImage <= SizeMask;

    public static PixelSet Build(IEnumerable<PixelImage> images)
    {
        var list = images as IReadOnlyList<PixelImage> ?? images.ToList();
        long total = 0;
        int largest = 0, groups = 0;
        foreach (var image in list)
        {
            ArgumentNullException.ThrowIfNull(image.Map, "map");
            if (image.Height <= 0 || image.Width <= 0) throw new ArgumentException($"Map shape {image.Height}x{image.Width} is empty.");
            int n = image.Height * image.Width;
            if (image.Map.Length != n) throw new ArgumentException($"A map holds {image.Map.Length} values; {image.Height}x{image.Width} needs {n}.");
            if (image.Mask is not null && image.Mask.Length != n)
                throw new ArgumentException($"A mask holds {image.Mask.Length} values; its map is {image.Height}x{image.Width}.");
            if (image.Group is < 0 or > MaxGroup) throw new ArgumentOutOfRangeException(nameof(images), $"Pixel group {image.Group} is not in 0..{MaxGroup}.");
            total += n;
            largest = Math.Max(largest, n);
            groups = Math.Max(groups, image.Group);
        }
        if (total == 0) throw new ArgumentException("No pixels given.");
        if (groups > 0 && !CanPackGroups(largest)) throw new ArgumentException($"Maps of {largest} pixels are too large to carry pixel groups.");
        if (total > Array.MaxLength) throw new ArgumentException($"{total} pixels are more than one array can hold; evaluate at a smaller map size.");

        var scores = new float[total];
        var items = new int[total];
        var queue = new int[largest];
        int regions = 0, offset = 0, good = 0;
        foreach (var image in list)
        {
            int n = image.Map.Length;
            var map = image.Map.AsSpan();
            foreach (var v in map) if (float.IsNaN(v)) throw new ArgumentException("An anomaly map holds NaN.");
            map.CopyTo(scores.AsSpan(offset, n));
            var slice = items.AsSpan(offset, n);
            if (image.Mask is not null) regions += Metrics.LabelRegions(image.Mask, image.Height, image.Width, slice, queue);
            int tag = image.Group << SizeBits;
            for (int i = 0; i < slice.Length; i++)
            {
                if (slice[i] == 0) good++;
                slice[i] |= tag;
            }
            offset += n;
        }
        RadixSort.Sort(scores, items);
        return new PixelSet { Scores = scores, Items = items, Regions = regions, GoodPixels = good, Groups = groups,
            RegionMask = CanPackGroups(largest) ? SizeMask : int.MaxValue };
    }

    /// <summary>Pixel AUROC / AP / F1-max (positive = pixel inside a region) from the same sort.</summary>
    public SweepSummary Summary() => SweepSummary.FromSortedAscending(Scores, Items, RegionMask);

    /// <summary>
    /// Pixel AUROC of each group g = 1..<see cref="Groups"/> over the pixels of group g and group 0 (ties 1/2, as
    /// <see cref="Metrics.Auroc(ReadOnlySpan{float}, ReadOnlySpan{byte})"/>), in one sweep; null where a group's
    /// pixels lack a class. Index 0 of the result is unused (null).
    /// </summary>
    public double?[] GroupAurocs()
    {
        if (Groups == 0) return [null];
        int g1 = Groups + 1;
        var tp = new long[g1]; var fp = new long[g1]; var twice = new long[g1];
        var dtp = new long[g1]; var dfp = new long[g1];
        for (int i = Scores.Length - 1; i >= 0;)
        {
            float key = Scores[i];
            while (i >= 0 && Scores[i] == key)
            {
                int item = Items[i];
                if ((item & RegionMask) != 0) dtp[item >> SizeBits]++; else dfp[item >> SizeBits]++;
                i--;
            }
            for (int g = 1; g < g1; g++)
            {
                long t = dtp[g] + dtp[0], f = dfp[g] + dfp[0];
                twice[g] += f * (2 * tp[g] + t);
                tp[g] += t; fp[g] += f;
                dtp[g] = 0; dfp[g] = 0;
            }
            dtp[0] = 0; dfp[0] = 0;
        }
        var result = new double?[g1];
        for (int g = 1; g < g1; g++)
            if (tp[g] > 0 && fp[g] > 0) result[g] = twice[g] / (2.0 * tp[g] * (double)fp[g]);
        return result;
    }

    public ProCurve ProCurve()
    {
        if (Regions == 0) throw new ArgumentException("AUPRO needs at least one defect region; every mask is empty.");
        if (GoodPixels == 0) throw new ArgumentException("AUPRO needs good (mask 0) pixels to measure the false positive rate.");
        int n = Scores.Length;
        int distinct = 1;
        for (int i = 1; i < n; i++) if (Scores[i] != Scores[i - 1]) distinct++;
        var fpr = new double[distinct + 2];
        var pro = new double[distinct + 2];
        var th = new double[distinct + 2];
        th[0] = double.PositiveInfinity;
        // Official formulation: sort descending, each good pixel adds 1/num_ok to the FPR, each defect pixel adds
        // 1/region_size/num_regions to the PRO; keep the last point of each group of equal scores.
        double overlapSum = 0;
        long fp = 0;
        int p = 1;
        for (int i = n - 1; i >= 0;)
        {
            float key = Scores[i];
            while (i >= 0 && Scores[i] == key)
            {
                int size = Items[i] & RegionMask;
                if (size == 0) fp++; else overlapSum += 1.0 / size;
                i--;
            }
            fpr[p] = Math.Min(1.0, (double)fp / GoodPixels);
            pro[p] = Math.Min(1.0, overlapSum / Regions);
            th[p] = key;
            p++;
        }
        fpr[p] = 1; pro[p] = 1; th[p] = double.NegativeInfinity;
        return new ProCurve(fpr, pro, th);
    }

    /// <summary>
    /// Normalised area under the PRO curve up to <paramref name="maxFpr"/>: the same points and arithmetic as
    /// <see cref="Metrics.TrapezoidUpTo"/> over <see cref="ProCurve"/>, integrated while sweeping (no curve arrays).
    /// </summary>
    public double Aupro(double maxFpr)
    {
        if (!(maxFpr > 0 && maxFpr <= 1)) throw new ArgumentException($"maxFpr {maxFpr} must be in (0, 1].");
        if (Regions == 0) throw new ArgumentException("AUPRO needs at least one defect region; every mask is empty.");
        if (GoodPixels == 0) throw new ArgumentException("AUPRO needs good (mask 0) pixels to measure the false positive rate.");
        double area = 0, x0 = 0, y0 = 0, overlapSum = 0;
        long fp = 0;
        bool done = false;
        bool Step(double x1, double y1)
        {
            if (x0 >= maxFpr) return true;
            if (x1 <= maxFpr) { area += 0.5 * (y1 + y0) * (x1 - x0); x0 = x1; y0 = y1; return false; }
            double yAt = y0 + (y1 - y0) * (maxFpr - x0) / (x1 - x0);
            area += 0.5 * (yAt + y0) * (maxFpr - x0);
            return true;
        }
        for (int i = Scores.Length - 1; i >= 0 && !done;)
        {
            float key = Scores[i];
            while (i >= 0 && Scores[i] == key)
            {
                int size = Items[i] & RegionMask;
                if (size == 0) fp++; else overlapSum += 1.0 / size;
                i--;
            }
            done = Step(Math.Min(1.0, (double)fp / GoodPixels), Math.Min(1.0, overlapSum / Regions));
        }
        if (!done) Step(1, 1);
        return area / maxFpr;
    }
}
