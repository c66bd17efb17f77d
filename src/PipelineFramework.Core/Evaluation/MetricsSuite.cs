using System.Text.Json.Serialization;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// One scored test image. <see cref="Score"/> is the raw image score (higher = more anomalous); <see cref="Map"/> the
/// raw pixel scores at the size of <see cref="Mask"/>; <see cref="Mask"/> 1 = defect (binarised at 0.5), null for good
/// images (= all zero) or when the data set has no masks. <see cref="Label"/> 1 = defective, 0 = good.
/// </summary>
public sealed record ScoredImage(string Path, string DefectType, int Label, double Score, Grid2D? Map, Grid2D? Mask);

/// <summary>
/// Metrics of one defect type. <see cref="ImageAuroc"/> / <see cref="PixelAuroc"/>: this type's images against ALL
/// good test images (null for the good type, or when unavailable). <see cref="DetectedRate"/>: share of this type's
/// images classified correctly at the model threshold, i.e. Score &gt; threshold for a defect type and, for the good
/// type, Score &lt;= threshold (share passed).
/// </summary>
public sealed record DefectTypeMetrics(
    [property: JsonPropertyName("defect_type")] string DefectType,
    [property: JsonPropertyName("images")] int Images,
    [property: JsonPropertyName("image_auroc")] double? ImageAuroc,
    [property: JsonPropertyName("pixel_auroc")] double? PixelAuroc,
    [property: JsonPropertyName("detected_rate")] double DetectedRate);

/// <summary>
/// What an evaluation reports for one category (metrics only; the threshold, training set and pipeline are the
/// caller's). Serialises straight into metrics.json with snake_case names; the curves are not serialised.
/// Image-level metrics use the raw image scores; threshold-dependent ones predict anomalous for Score &gt; threshold.
/// </summary>
public sealed record CategoryMetrics
{
    [JsonPropertyName("images")] public required int Images { get; init; }
    [JsonPropertyName("good_images")] public required int GoodImages { get; init; }
    [JsonPropertyName("defective_images")] public required int DefectiveImages { get; init; }

    [JsonPropertyName("image_auroc")] public required double ImageAuroc { get; init; }
    [JsonPropertyName("image_ap")] public required double ImageAp { get; init; }
    [JsonPropertyName("image_f1_max")] public required double ImageF1Max { get; init; }
    /// <summary>The score at which <see cref="ImageF1Max"/> is reached, predicting anomalous for score &gt;= it.</summary>
    [JsonPropertyName("image_f1_max_threshold")] public required double ImageF1MaxThreshold { get; init; }

    [JsonPropertyName("pixel_auroc")] public required double? PixelAuroc { get; init; }
    [JsonPropertyName("pixel_ap")] public required double? PixelAp { get; init; }
    [JsonPropertyName("pixel_f1_max")] public required double? PixelF1Max { get; init; }
    /// <summary>Normalised area under the PRO curve up to FPR 0.3.</summary>
    [JsonPropertyName("aupro")] public required double? Aupro { get; init; }
    /// <summary>
    /// Images whose pixels the pixel metrics count: the good ones and the defective ones with a mask (0 when there are
    /// no pixel metrics). Fewer than <see cref="Images"/> means defective images without a usable mask were left out.
    /// </summary>
    [JsonPropertyName("pixel_metric_images")] public int PixelMetricImages { get; init; }

    /// <summary>Image-level precision at the model threshold (0 when no image is predicted anomalous).</summary>
    [JsonPropertyName("precision")] public required double Precision { get; init; }
    /// <summary>Image-level recall at the model threshold.</summary>
    [JsonPropertyName("recall")] public required double Recall { get; init; }
    [JsonPropertyName("f1")] public required double F1 { get; init; }
    /// <summary>Share of good test images with score &gt; threshold.</summary>
    [JsonPropertyName("good_false_reject_rate")] public required double GoodFalseRejectRate { get; init; }
    /// <summary>Share of defective test images with score &lt;= threshold.</summary>
    [JsonPropertyName("missed_defect_rate")] public required double MissedDefectRate { get; init; }
    [JsonPropertyName("true_positives")] public required int TruePositives { get; init; }
    [JsonPropertyName("false_positives")] public required int FalsePositives { get; init; }
    [JsonPropertyName("true_negatives")] public required int TrueNegatives { get; init; }
    [JsonPropertyName("false_negatives")] public required int FalseNegatives { get; init; }

    [JsonPropertyName("per_defect_type")] public required IReadOnlyList<DefectTypeMetrics> PerDefectType { get; init; }

    /// <summary>
    /// MVTec LOCO's split: image AUROC of <c>test/logical_anomalies</c> and of <c>test/structural_anomalies</c>, each
    /// against all good test images; null when the data set has no such folder.
    /// </summary>
    [JsonPropertyName("logical_auroc")] public double? LogicalAuroc => TypeAuroc("logical_anomalies");
    [JsonPropertyName("structural_auroc")] public double? StructuralAuroc => TypeAuroc("structural_anomalies");

    double? TypeAuroc(string type) => PerDefectType.FirstOrDefault(t => t.DefectType == type)?.ImageAuroc;

    /// <summary>Image-level ROC curve (not serialised; empty after deserialisation).</summary>
    [JsonIgnore] public RocCurve ImageRoc { get; init; } = new([], [], []);
    /// <summary>Image-level precision-recall curve (not serialised; empty after deserialisation).</summary>
    [JsonIgnore] public PrCurve ImagePr { get; init; } = new([], [], []);
}

public static class MetricsSuite
{
    /// <summary>The AUPRO integration limit (MVTec AD standard).</summary>
    public const double AuproMaxFpr = 0.3;

    /// <summary>
    /// Computes the category's metrics. Pixel metrics (pixel AUROC / AP / F1-max, AUPRO and the per-type pixel AUROC)
    /// are computed when every image has a Map, over the good images (a null Mask = all zeros) and the defective images
    /// that have a Mask, provided there are both defect and good pixels; otherwise they are null.
    /// <see cref="CategoryMetrics.PixelMetricImages"/> says how many images they count; a defective image without a
    /// mask is left out of them (never counted as all good), and the caller reports why.
    /// </summary>
    /// <exception cref="ArgumentException">No good or no defective image, a label other than 0/1, a NaN score, or a mask
    /// whose size differs from its map.</exception>
    public static CategoryMetrics Compute(IReadOnlyList<ScoredImage> images, double threshold)
    {
        ArgumentNullException.ThrowIfNull(images);
        var scores = new double[images.Count];
        var labels = new byte[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
            if (image.Label is not (0 or 1)) throw new ArgumentException($"Image {image.Path} has label {image.Label}; expected 0 (good) or 1 (defect).");
            if (double.IsNaN(image.Score)) throw new ArgumentException($"Image {image.Path} has a NaN score.");
            scores[i] = image.Score;
            labels[i] = (byte)image.Label;
        }
        int good = labels.Count(l => l == 0), defective = images.Count - good;
        if (good == 0 || defective == 0)
            throw new ArgumentException($"Image metrics need good and defective test images; got {good} good and {defective} defective.");

        var summary = SweepSummary.Create<double>(scores, labels);
        var stats = Metrics.AtThreshold(scores, labels, threshold);
        var sweep = Sweep.Create<double>(scores, labels);

        // Defect types in report order; each type with defective images gets a pixel group 1..k (good images: 0).
        var types = images.GroupBy(i => i.DefectType, StringComparer.Ordinal)
            .OrderBy(g => g.Any(i => i.Label == 1)).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var groupOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var type in types) if (type.Any(i => i.Label == 1)) groupOf[type.Key] = groupOf.Count + 1;

        double? pixelAuroc = null, pixelAp = null, pixelF1 = null, aupro = null;
        double?[]? groupAurocs = null;
        bool pixels = images.All(i => i.Map is not null);
        var pixelImages = pixels ? images.Where(HasPixelTruth).ToList() : [];
        if (pixels)
        {
            // Pack each pixel's defect type into the sort when possible, so per-type pixel AUROC needs no more sorts.
            bool packed = groupOf.Count <= PixelSet.MaxGroup && pixelImages.All(i => PixelSet.CanPackGroups(i.Map!.Values.Length));
            var set = PixelSet.Build(pixelImages.Select(i => ToPixelImage(i, packed && i.Label == 1 ? groupOf[i.DefectType] : 0)));
            if (set.Regions > 0 && set.GoodPixels > 0)
            {
                var pixelSummary = set.Summary();
                pixelAuroc = pixelSummary.Auroc;
                pixelAp = pixelSummary.AveragePrecision;
                pixelF1 = pixelSummary.F1Max;
                aupro = set.Aupro(AuproMaxFpr);
                if (packed) groupAurocs = set.GroupAurocs();
            }
            else pixels = false;
        }

        double? TypePixelAuroc(string type, List<ScoredImage> subset)
        {
            if (!pixels) return null;
            if (groupAurocs is not null) return groupOf[type] < groupAurocs.Length ? groupAurocs[groupOf[type]] : null;
            return PixelAurocBySorting(subset);
        }

        return new CategoryMetrics
        {
            Images = images.Count,
            GoodImages = good,
            DefectiveImages = defective,
            ImageAuroc = summary.Auroc,
            ImageAp = summary.AveragePrecision,
            ImageF1Max = summary.F1Max,
            ImageF1MaxThreshold = summary.F1MaxThreshold,
            PixelAuroc = pixelAuroc,
            PixelAp = pixelAp,
            PixelF1Max = pixelF1,
            Aupro = aupro,
            PixelMetricImages = pixels ? pixelImages.Count : 0,
            Precision = stats.Precision,
            Recall = stats.Recall,
            F1 = stats.F1,
            GoodFalseRejectRate = stats.FalsePositiveRate,
            MissedDefectRate = 1 - stats.Recall,
            TruePositives = stats.TruePositives,
            FalsePositives = stats.FalsePositives,
            TrueNegatives = stats.TrueNegatives,
            FalseNegatives = stats.FalseNegatives,
            PerDefectType = PerDefectType(types, images, threshold, TypePixelAuroc),
            ImageRoc = sweep.Roc(),
            ImagePr = sweep.PrecisionRecall(),
        };
    }

    /// <summary>Whether an image's pixels have a known truth: a good image (all zeros) or a defective one with its mask.</summary>
    static bool HasPixelTruth(ScoredImage image) => image.Label == 0 || image.Mask is not null;

    static PixelImage ToPixelImage(ScoredImage image, int group = 0)
    {
        var map = image.Map!;
        byte[]? mask = null;
        if (image.Mask is { } m)
        {
            if (m.Height != map.Height || m.Width != map.Width)
                throw new ArgumentException($"Image {image.Path}: mask is {m.Height}x{m.Width} but its map is {map.Height}x{map.Width}; resize the map to the mask.");
            mask = new byte[m.Values.Length];
            for (int i = 0; i < mask.Length; i++) mask[i] = m.Values[i] > 0.5f ? (byte)1 : (byte)0;
        }
        return new PixelImage(map.Values, mask, map.Height, map.Width, group);
    }

    /// <summary>Per type (good types first, then defect types in ordinal order): AUROC against all good images.</summary>
    static List<DefectTypeMetrics> PerDefectType(List<IGrouping<string, ScoredImage>> types, IReadOnlyList<ScoredImage> images, double threshold,
        Func<string, List<ScoredImage>, double?> pixelAuroc)
    {
        var goodImages = images.Where(i => i.Label == 0).ToList();
        var result = new List<DefectTypeMetrics>();
        foreach (var type in types)
        {
            var members = type.ToList();
            int correct = members.Count(i => i.Label == 1 ? i.Score > threshold : !(i.Score > threshold));
            var defects = members.Where(i => i.Label == 1).ToList();
            double? imageAuroc = null, typePixelAuroc = null;
            if (defects.Count > 0 && goodImages.Count > 0)
            {
                var subset = defects.Concat(goodImages).ToList();
                imageAuroc = Metrics.Auroc(subset.Select(i => i.Score).ToArray(), subset.Select(i => (byte)i.Label).ToArray());
                typePixelAuroc = pixelAuroc(type.Key, subset);
            }
            result.Add(new DefectTypeMetrics(type.Key, members.Count, imageAuroc, typePixelAuroc, (double)correct / members.Count));
        }
        return result;
    }

    /// <summary>Fallback when pixel groups cannot be packed (over 255 defect types or huge maps): one sort per type.</summary>
    internal static double? PixelAurocBySorting(List<ScoredImage> subset)
    {
        subset = subset.Where(HasPixelTruth).ToList();
        long total = subset.Sum(i => (long)i.Map!.Values.Length);
        if (total > Array.MaxLength) throw new ArgumentException($"{total} pixels are more than one array can hold.");
        var keys = new float[total];
        var labels = new byte[total];
        int offset = 0;
        foreach (var image in subset)
        {
            var pixel = ToPixelImage(image);
            pixel.Map.CopyTo(keys, offset);
            pixel.Mask?.CopyTo(labels, offset);
            offset += pixel.Map.Length;
        }
        var summary = SweepSummary.FromUnsorted(keys, labels);
        return summary.HasBothClasses ? summary.Auroc : null;
    }
}
