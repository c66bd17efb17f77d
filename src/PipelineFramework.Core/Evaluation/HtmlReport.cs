using System.Globalization;
using System.Text;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using SkiaSharp;

namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// One image shown in the report. <see cref="Image"/> is the preprocessed RGB image (CHW, [0, 1]); <see cref="Map"/>
/// its raw anomaly scores at the image's size (resampled nearest-neighbour if not); <see cref="Mask"/> the ground
/// truth (1 = defect), null for good images or when there is none.
/// </summary>
public sealed record GalleryItem(string Name, string DefectType, int Label, double Score, bool PredictedAnomalous, ImageTensor Image, Grid2D Map, Grid2D? Mask)
{
    /// <summary>Why the part was rejected (rejected parts only; null when not explained).</summary>
    public Explanation? Explanation { get; init; }
}

/// <summary>
/// One category's evaluation: its metrics at <see cref="Threshold"/>, all scored images, the chosen gallery and the
/// defective images whose mask was missing or unusable (left out of the pixel metrics).
/// </summary>
public sealed record CategoryReport(string Category, string PipelineName, CategoryMetrics Metrics, double Threshold,
    IReadOnlyList<ScoredImage> Images, IReadOnlyList<GalleryItem> Gallery)
{
    public IReadOnlyList<MaskProblem> MaskProblems { get; init; } = [];
}

/// <summary>
/// A self-contained HTML evaluation report: no external resources (plots and images are PNG data URIs), so it opens
/// from disk in any browser. Per category: the metrics, the per-defect-type table, ROC and PR curves, a histogram of
/// image scores (good vs defective) with the threshold, and a gallery of heat-map overlays.
/// <para>
/// Heat maps: jet colours blended at alpha 0.5 over the image. The colour scale is fixed per category, from the lowest
/// image score of the good test images (below which a pixel is no more anomalous than a whole good part's score, so it
/// is left uncovered) to the highest map value in the gallery (red). Without good images the lower end is the lowest
/// map value in the gallery. The true defect mask is outlined in green (mask pixels with a 4-neighbour outside the
/// mask or outside the image).
/// </para>
/// </summary>
public static class HtmlReport
{
    const int PlotWidth = 420, PlotHeight = 320;
    const float OverlayAlpha = 0.5f;
    const float LabelSize = 14;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Render(IReadOnlyList<CategoryReport> categories, string title)
    {
        ArgumentNullException.ThrowIfNull(categories);
        var html = new StringBuilder(1 << 16);
        ReportHtml.Start(html, title, Css);
        html.Append("<h1>").Append(E(title)).Append("</h1>\n");

        var ids = new List<string>();
        for (int i = 0; i < categories.Count; i++) ids.Add($"cat-{i}-{Slug(categories[i].Category)}");

        if (categories.Count > 1) Summary(html, categories, ids);
        for (int i = 0; i < categories.Count; i++) Category(html, categories[i], ids[i]);

        html.Append("<footer>Metric definitions: docs/metrics.md. Scores are raw (higher = more anomalous); ")
            .Append("a part is predicted anomalous when score &gt; threshold.</footer>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// Orders images for review: misses first — missed defects (label 1, score &lt;= threshold) by ascending score,
    /// then false rejects (label 0, score &gt; threshold) by descending score — then all others by their distance to the
    /// threshold (closest first). Ties are broken by path (ordinal), so the order is deterministic.
    /// </summary>
    public static IReadOnlyList<ScoredImage> WorstFirst(IReadOnlyList<ScoredImage> images, double threshold)
    {
        ArgumentNullException.ThrowIfNull(images);
        var missed = images.Where(i => i.Label == 1 && !(i.Score > threshold)).OrderBy(i => i.Score).ThenBy(i => i.Path, StringComparer.Ordinal);
        var rejected = images.Where(i => i.Label == 0 && i.Score > threshold).OrderByDescending(i => i.Score).ThenBy(i => i.Path, StringComparer.Ordinal);
        var rest = images.Where(i => i.Label == 1 ? i.Score > threshold : !(i.Score > threshold))
            .OrderBy(i => Math.Abs(i.Score - threshold)).ThenBy(i => i.Path, StringComparer.Ordinal);
        return missed.Concat(rejected).Concat(rest).ToList();
    }

    // ------------------------------------------------------------------ sections

    static void Summary(StringBuilder html, IReadOnlyList<CategoryReport> categories, List<string> ids)
    {
        html.Append("<h2>Summary</h2>\n<table class=\"metrics\">\n<tr><th>Category</th><th>Pipeline</th><th>Image AUROC</th><th>Image AP</th>")
            .Append("<th>Pixel AUROC</th><th>AUPRO</th><th>F1 @ threshold</th><th>False rejects</th><th>Missed defects</th></tr>\n");
        for (int i = 0; i < categories.Count; i++)
        {
            var c = categories[i];
            var m = c.Metrics;
            html.Append("<tr><td><a href=\"#").Append(ids[i]).Append("\">").Append(E(c.Category)).Append("</a></td><td>").Append(E(c.PipelineName))
                .Append("</td><td>").Append(F(m.ImageAuroc)).Append("</td><td>").Append(F(m.ImageAp))
                .Append("</td><td>").Append(F(m.PixelAuroc)).Append("</td><td>").Append(F(m.Aupro))
                .Append("</td><td>").Append(F(m.F1)).Append("</td><td>").Append(Pct(m.GoodFalseRejectRate))
                .Append("</td><td>").Append(Pct(m.MissedDefectRate)).Append("</td></tr>\n");
        }
        html.Append("</table>\n");
    }

    static void Category(StringBuilder html, CategoryReport report, string id)
    {
        var m = report.Metrics;
        html.Append("<section id=\"").Append(id).Append("\">\n<h2>").Append(E(report.Category)).Append("</h2>\n");
        html.Append("<p class=\"meta\">Pipeline <b>").Append(E(report.PipelineName)).Append("</b> · threshold <b>").Append(S(report.Threshold))
            .Append("</b> (raw score) · ").Append(m.GoodImages.ToString(Inv)).Append(" good and ")
            .Append(m.DefectiveImages.ToString(Inv)).Append(" defective test images</p>\n");

        html.Append("<div class=\"tables\">\n<table class=\"metrics\">\n<tr><th>Metric</th><th>Value</th></tr>\n");
        Row(html, "Image AUROC", F(m.ImageAuroc));
        Row(html, "Image AP", F(m.ImageAp));
        Row(html, "Image F1-max", $"{F(m.ImageF1Max)} at score ≥ {S(m.ImageF1MaxThreshold)}");
        Row(html, "Pixel AUROC", F(m.PixelAuroc));
        Row(html, "Pixel AP", F(m.PixelAp));
        Row(html, "Pixel F1-max", F(m.PixelF1Max));
        Row(html, $"AUPRO (FPR ≤ {MetricsSuite.AuproMaxFpr.ToString(Inv)})", F(m.Aupro));
        Row(html, "Pixel metrics over", m.PixelAuroc is null ? "not computed (no usable ground-truth masks)" : $"{m.PixelMetricImages.ToString(Inv)} of {m.Images.ToString(Inv)} images");
        Row(html, "Precision @ threshold", F(m.Precision));
        Row(html, "Recall @ threshold", F(m.Recall));
        Row(html, "F1 @ threshold", F(m.F1));
        Row(html, "Good parts rejected", $"{Pct(m.GoodFalseRejectRate)} ({m.FalsePositives.ToString(Inv)} of {m.GoodImages.ToString(Inv)})");
        Row(html, "Defects missed", $"{Pct(m.MissedDefectRate)} ({m.FalseNegatives.ToString(Inv)} of {m.DefectiveImages.ToString(Inv)})");
        html.Append("</table>\n");

        html.Append("<table class=\"metrics\">\n<tr><th>Defect type</th><th>Images</th><th>Image AUROC</th><th>Pixel AUROC</th><th>Correct @ threshold</th></tr>\n");
        foreach (var t in m.PerDefectType)
        {
            html.Append("<tr><td>").Append(E(t.DefectType)).Append("</td><td>").Append(t.Images.ToString(Inv)).Append("</td><td>")
                .Append(F(t.ImageAuroc)).Append("</td><td>").Append(F(t.PixelAuroc)).Append("</td><td>").Append(Pct(t.DetectedRate)).Append("</td></tr>\n");
        }
        html.Append("</table>\n</div>\n");
        html.Append("<p class=\"note\">Per-type AUROC: that type's images against all good test images. Correct: share detected (defect types) or passed (good).</p>\n");
        if (report.MaskProblems.Count > 0) MaskProblems(html, report.MaskProblems);

        html.Append("<div class=\"plots\">\n");
        Img(html, RocPlot(m), "ROC curve");
        Img(html, PrPlot(m), "Precision-recall curve");
        Img(html, HistogramPlot(report.Images, report.Threshold), "Histogram of image scores");
        html.Append("</div>\n");

        if (report.Gallery.Count > 0) Gallery(html, report);
        html.Append("</section>\n");
    }

    static void MaskProblems(StringBuilder html, IReadOnlyList<MaskProblem> problems)
    {
        html.Append("<div class=\"problems\">\n<h3>Mask problems: ").Append(problems.Count.ToString(Inv))
            .Append(" defective images left out of the pixel metrics</h3>\n<table class=\"metrics\">\n<tr><th>Image</th><th>Problem</th></tr>\n");
        foreach (var p in problems)
            html.Append("<tr><td>").Append(E(p.Image)).Append("</td><td>").Append(E(p.Problem)).Append("</td></tr>\n");
        html.Append("</table>\n</div>\n");
    }

    /// <summary>The explanation of a rejected part under its picture: summary, reasons, notes, who wrote it.</summary>
    static void ExplanationBlock(StringBuilder html, Explanation why)
    {
        html.Append("<details class=\"why\"><summary>").Append(E(why.Summary)).Append("</summary><ul>");
        foreach (var reason in why.Reasons) html.Append("<li>").Append(E(reason)).Append("</li>");
        html.Append("</ul>");
        foreach (var note in why.Notes) html.Append("<div class=\"note\">").Append(E(note)).Append("</div>");
        html.Append("<div class=\"note\">explained by ").Append(E(why.Source)).Append("</div></details>");
    }

    static void Gallery(StringBuilder html, CategoryReport report)
    {
        var (lo, hi) = HeatScale(report);
        html.Append("<h3>Gallery</h3>\n<div class=\"colorbar\"><span>").Append(S(lo)).Append("</span><div class=\"bar\"></div><span>").Append(S(hi))
            .Append("</span><span class=\"note\">heat-map scale (raw score; below the left end not drawn) · green outline = true defect</span></div>\n");
        html.Append("<div class=\"gallery\">\n");
        foreach (var item in report.Gallery)
        {
            bool miss = (item.Label == 1) != item.PredictedAnomalous;
            string verdict = (item.Label, item.PredictedAnomalous) switch
            {
                (1, true) => "defect detected",
                (1, false) => "MISSED DEFECT",
                (_, true) => "FALSE REJECT",
                _ => "good, passed",
            };
            string png = Convert.ToBase64String(Overlay(item, lo, hi));
            html.Append("<figure class=\"item").Append(miss ? " miss" : "").Append("\"><img alt=\"").Append(E(item.Name))
                .Append("\" src=\"data:image/png;base64,").Append(png).Append("\">\n<figcaption><div class=\"name\">").Append(E(item.Name))
                .Append("</div><div>").Append(E(item.DefectType)).Append(" · score ").Append(S(item.Score)).Append("</div><div class=\"verdict\">")
                .Append(E(verdict)).Append("</div>");
            if (item.Explanation is { } why) ExplanationBlock(html, why);
            html.Append("</figcaption></figure>\n");
        }
        html.Append("</div>\n");
    }

    // ------------------------------------------------------------------ plots (ScottPlot)

    static byte[] RocPlot(CategoryMetrics m) => CurvePlot("Image ROC", "False positive rate", "True positive rate",
        m.ImageRoc.FalsePositiveRate, m.ImageRoc.TruePositiveRate, $"AUROC {F(m.ImageAuroc)}", ScottPlot.Alignment.LowerRight, chanceDiagonal: true);

    static byte[] PrPlot(CategoryMetrics m) => CurvePlot("Image precision-recall", "Recall", "Precision",
        m.ImagePr.Recall, m.ImagePr.Precision, $"AP {F(m.ImageAp)}", ScottPlot.Alignment.LowerLeft, chanceDiagonal: false);

    /// <summary>A curve on the unit square with its summary number in the legend (ROC, PR).</summary>
    static byte[] CurvePlot(string title, string xLabel, string yLabel, double[] xs, double[] ys, string legend,
        ScottPlot.Alignment legendAt, bool chanceDiagonal)
    {
        using var plot = new ScottPlot.Plot();
        if (chanceDiagonal)
        {
            var diagonal = plot.Add.Line(0, 0, 1, 1);
            diagonal.Color = ScottPlot.Colors.Gray;
            diagonal.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        if (xs.Length > 0)
        {
            var curve = plot.Add.Scatter(xs, ys);
            curve.MarkerSize = 0;
            curve.LineWidth = 2;
            curve.LegendText = legend;
        }
        plot.Title(title);
        plot.XLabel(xLabel, LabelSize);
        plot.YLabel(yLabel, LabelSize);
        plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
        plot.ShowLegend(legendAt);
        return plot.GetImageBytes(PlotWidth, PlotHeight, ScottPlot.ImageFormat.Png);
    }

    static byte[] HistogramPlot(IReadOnlyList<ScoredImage> images, double threshold)
    {
        using var plot = new ScottPlot.Plot();
        var finite = images.Where(i => double.IsFinite(i.Score)).ToList();
        double lo = threshold, hi = threshold;
        foreach (var i in finite) { lo = Math.Min(lo, i.Score); hi = Math.Max(hi, i.Score); }
        if (!double.IsFinite(lo) || !double.IsFinite(hi)) { lo = 0; hi = 1; }
        if (hi <= lo) { double pad = Math.Max(Math.Abs(lo) * 0.05, 1e-6); lo -= pad; hi += pad; }
        const int bins = 30;
        double width = (hi - lo) / bins;
        var centres = Enumerable.Range(0, bins).Select(b => lo + (b + 0.5) * width).ToArray();
        double[] Counts(int label)
        {
            var counts = new double[bins];
            foreach (var i in finite.Where(i => i.Label == label))
                counts[Math.Clamp((int)((i.Score - lo) / width), 0, bins - 1)]++;
            return counts;
        }
        void AddBars(double[] counts, ScottPlot.Color color, string legend)
        {
            var bars = plot.Add.Bars(centres, counts);
            foreach (var bar in bars.Bars)
            {
                bar.Size = width;
                bar.FillColor = color.WithAlpha(0.55);
                bar.LineWidth = 0;
            }
            bars.LegendText = legend;
        }
        AddBars(Counts(0), ScottPlot.Color.FromHex("#2ca02c"), "good");
        AddBars(Counts(1), ScottPlot.Color.FromHex("#d62728"), "defective");
        var line = plot.Add.VerticalLine(threshold);
        line.Color = ScottPlot.Colors.Black;
        line.LineWidth = 2;
        line.LinePattern = ScottPlot.LinePattern.Dashed;
        line.LegendText = $"threshold {S(threshold)}";
        plot.Title("Image scores");
        plot.XLabel("Raw anomaly score", LabelSize);
        plot.YLabel("Images", LabelSize);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot.GetImageBytes(PlotWidth, PlotHeight, ScottPlot.ImageFormat.Png);
    }

    // ------------------------------------------------------------------ overlays (SkiaSharp)

    /// <summary>Colour scale of a category's heat maps: (lowest good image score, highest gallery map value).</summary>
    internal static (double Lo, double Hi) HeatScale(CategoryReport report)
    {
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (var image in report.Images)
            if (image.Label == 0 && double.IsFinite(image.Score)) lo = Math.Min(lo, image.Score);
        double mapMin = double.PositiveInfinity;
        foreach (var item in report.Gallery)
            foreach (var v in item.Map.Values)
                if (float.IsFinite(v)) { hi = Math.Max(hi, v); mapMin = Math.Min(mapMin, v); }
        if (double.IsPositiveInfinity(lo)) lo = mapMin;
        if (!double.IsFinite(lo)) lo = 0;
        if (!double.IsFinite(hi) || hi <= lo) hi = lo + Math.Max(Math.Abs(lo) * 1e-6, 1e-12);
        return (lo, hi);
    }

    /// <summary>The image with the heat map blended over it and the mask outlined, as PNG bytes.</summary>
    internal static byte[] Overlay(GalleryItem item, double lo, double hi)
    {
        var image = item.Image;
        int h = image.Height, w = image.Width;
        using var bitmap = ImageLoader.ToBitmap(image);
        var rgba = bitmap.GetPixelSpan();
        var map = item.Map;
        double scale = 1.0 / (hi - lo);
        for (int y = 0; y < h; y++)
        {
            int my = Math.Min(map.Height - 1, (int)((long)y * map.Height / h));
            for (int x = 0; x < w; x++)
            {
                int mx = Math.Min(map.Width - 1, (int)((long)x * map.Width / w));
                float v = map.Values[my * map.Width + mx];
                if (!(v > lo)) continue; // at or below the scale's lower end (or NaN): leave the image visible
                double t = Math.Min(1.0, (v - lo) * scale);
                var (r, g, b) = Jet(t);
                int o = (y * w + x) * 4;
                rgba[o] = Blend(rgba[o], r);
                rgba[o + 1] = Blend(rgba[o + 1], g);
                rgba[o + 2] = Blend(rgba[o + 2], b);
            }
        }
        if (item.Mask is { } mask)
        {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    if (!InMask(mask, y, x, h, w)) continue;
                    bool edge = !InMask(mask, y - 1, x, h, w) || !InMask(mask, y + 1, x, h, w)
                        || !InMask(mask, y, x - 1, h, w) || !InMask(mask, y, x + 1, h, w);
                    if (!edge) continue;
                    int o = (y * w + x) * 4;
                    rgba[o] = 0; rgba[o + 1] = 255; rgba[o + 2] = 0; rgba[o + 3] = 255;
                }
        }
        using var skImage = SKImage.FromBitmap(bitmap);
        using var data = skImage.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Mask value at image pixel (y, x), nearest-neighbour if the mask's size differs; outside the image = 0.</summary>
    static bool InMask(Grid2D mask, int y, int x, int h, int w)
    {
        if (y < 0 || y >= h || x < 0 || x >= w) return false;
        int my = Math.Min(mask.Height - 1, (int)((long)y * mask.Height / h));
        int mx = Math.Min(mask.Width - 1, (int)((long)x * mask.Width / w));
        return mask.Values[my * mask.Width + mx] > 0.5f;
    }

    /// <summary>Jet-like colormap: dark blue (0) - cyan - yellow - dark red (1).</summary>
    internal static (byte R, byte G, byte B) Jet(double t)
    {
        static byte C(double v) => (byte)Math.Clamp((int)Math.Round(255 * Math.Clamp(v, 0, 1)), 0, 255);
        return (C(1.5 - Math.Abs(4 * t - 3)), C(1.5 - Math.Abs(4 * t - 2)), C(1.5 - Math.Abs(4 * t - 1)));
    }

    static byte Blend(byte under, byte over) => (byte)Math.Clamp((int)MathF.Round(under * (1 - OverlayAlpha) + over * OverlayAlpha), 0, 255);

    // ------------------------------------------------------------------ HTML helpers

    static void Row(StringBuilder html, string name, string value) =>
        html.Append("<tr><td>").Append(E(name)).Append("</td><td>").Append(E(value)).Append("</td></tr>\n");

    static void Img(StringBuilder html, byte[] png, string alt) =>
        html.Append("<img class=\"plot\" alt=\"").Append(E(alt)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\">\n");

    static string E(string? text) => ReportHtml.Text(text);

    /// <summary>A metric in [0, 1]: four decimals; "n/a" when not computed.</summary>
    internal static string F(double? value) => value is { } v ? v.ToString("F4", Inv) : "n/a";

    static string Pct(double value) => (value * 100).ToString("F1", Inv) + "%";

    /// <summary>A raw score: five significant digits.</summary>
    static string S(double value) => value.ToString("G5", Inv);

    static string Slug(string text)
    {
        var sb = new StringBuilder();
        foreach (char c in text.ToLowerInvariant()) sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        return sb.ToString();
    }

    const string Css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; background: #fafafa; }
        h1 { margin-top: 0; }
        section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px 20px; margin: 20px 0; }
        table.metrics { border-collapse: collapse; margin: 8px 16px 8px 0; font-size: 14px; }
        table.metrics th, table.metrics td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
        table.metrics th { background: #f0f0f0; }
        .tables { display: flex; flex-wrap: wrap; align-items: flex-start; }
        .meta, .note { color: #555; font-size: 13px; }
        .plots { display: flex; flex-wrap: wrap; gap: 8px; }
        .plots img { border: 1px solid #eee; }
        .colorbar { display: flex; align-items: center; gap: 8px; font-size: 13px; margin-bottom: 8px; }
        .colorbar .bar { width: 200px; height: 12px; background: linear-gradient(to right, #00007f, #0000ff, #00ffff, #ffff00, #ff0000, #7f0000); }
        .gallery { display: flex; flex-wrap: wrap; gap: 10px; }
        figure.item { margin: 0; padding: 6px; border: 2px solid #ccc; border-radius: 4px; background: #fff; width: 260px; }
        figure.item img { width: 256px; height: auto; display: block; image-rendering: auto; }
        figure.item figcaption { font-size: 12px; margin-top: 4px; word-break: break-all; }
        figure.item .name { font-weight: 600; }
        figure.item details.why { margin-top: 4px; word-break: normal; }
        figure.item details.why ul { padding-left: 16px; margin: 4px 0; }
        figure.miss { border-color: #d62728; background: #fde8e8; }
        figure.miss .verdict { color: #d62728; font-weight: 700; }
        .problems { border-left: 4px solid #d62728; background: #fde8e8; padding: 4px 12px; margin: 8px 0; }
        footer { color: #777; font-size: 12px; margin-top: 24px; }

        """;
}
