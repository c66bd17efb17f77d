using System.Globalization;
using System.Text;
using System.Text.Json;
using PipelineFramework.AutoML.Experiment;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.Core.Evaluation;

namespace PipelineFramework.AutoML.Report;

/// <summary>
/// report.html of one category's search: the Pareto front (validation objective against ms/image), the objective over
/// the trial history, the chosen pipeline, and every trial with its status. Self-contained (plots inlined as PNG).
/// </summary>
public static class AutoMLReport
{
    const int PlotWidth = 520, PlotHeight = 340;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Render(string title, SearchResult result, string pick, string? bestJson, CategoryAudit? audit = null)
    {
        var html = new StringBuilder(1 << 15);
        ReportHtml.Start(html, title, Css);
        html.Append("<h1>").Append(E(title)).Append("</h1>\n<p>")
            .Append($"{result.Trials.Count} trials ({result.TrialsRun} run now, {result.Trials.Count - result.TrialsRun} from the log), ")
            .Append($"{result.Trials.Count(t => !t.Succeeded)} failed or over memory; search time {result.Elapsed.TotalMinutes:F1} min; stopped by {E(result.StopReason)}; ")
            .Append($"backbone ran on {result.BackboneImages} images in this run. Pick: {E(pick)}. ")
            .Append("Validation uses training images only: held-out good images and synthetic anomalies made from them.</p>\n");

        var ok = result.Trials.Where(t => t.Succeeded && t.FullFraction).ToList();
        if (ok.Count > 0)
        {
            Img(html, FrontPlot(ok, result.Front, result.Chosen), "Pareto front");
            Img(html, HistoryPlot(result.Trials), "Objective over trials");
        }
        if (audit is not null)
        {
            html.Append($"<h2>Audit on the real test set</h2>\n<p>Kendall's &tau; between validation objective and test image AUROC over {audit.Trials.Count} trials: ")
                .Append(F(audit.TauObjective)).Append("; validation image AUROC vs test image AUROC: ").Append(F(audit.TauImage))
                .Append("; validation pixel AUROC vs test pixel AUROC: ").Append(F(audit.TauPixel))
                .Append("; validation objective vs the same objective on the test set: ").Append(F(audit.TauObjectiveVsTestObjective)).Append(".</p>\n");
        }
        if (result.Chosen is { } chosen)
        {
            html.Append("<h2>Chosen pipeline (trial ").Append(chosen.Number).Append(")</h2>\n<pre>").Append(E(bestJson ?? chosen.Pipeline.ToJsonString(new JsonSerializerOptions { WriteIndented = true }))).Append("</pre>\n");
        }
        html.Append("<h2>Trials</h2>\n<table>\n<tr><th>#</th><th>status</th><th>objective</th><th>img AUROC</th><th>px AUROC</th><th>AUPRO</th><th>ms/img</th><th>model MB</th><th>s</th><th>backbone imgs</th>")
            .Append(audit is null ? "" : "<th>test img AUROC</th>").Append("<th class=l>pipeline / reason</th></tr>\n");
        var front = result.Front.Select(t => t.Number).ToHashSet();
        foreach (var t in result.Trials)
        {
            string cls = t == result.Chosen ? "chosen" : front.Contains(t.Number) ? "front" : t.Succeeded ? "" : "failed";
            var v = t.Validation;
            html.Append($"<tr class=\"{cls}\"><td>{t.Number}</td><td class=l>{E(t.FullFraction ? t.Status : $"{t.Status}, {t.Fraction:0.##} of the images")}</td><td>{F(v?.Objective)}</td><td>{F(v?.ImageAuroc)}</td><td>{F(v?.PixelAuroc)}</td><td>{F(v?.Aupro)}</td>")
                .Append($"<td>{(t.Succeeded ? t.TotalMs.ToString("F1", Inv) : "")}</td><td>{(t.ModelBytes / 1048576.0).ToString("F2", Inv)}</td><td>{t.Seconds.ToString("F1", Inv)}</td><td>{t.BackboneImages}</td>");
            if (audit is not null) html.Append("<td>").Append(F(audit.Trials.FirstOrDefault(a => a.Trial == t.Number)?.TestImageAuroc)).Append("</td>");
            html.Append("<td class=l>").Append(E(t.Succeeded ? Summary(t) : t.Reason)).Append("</td></tr>\n");
        }
        html.Append("</table>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>The searched choices of a trial in one line: input, layers, scorer and its main options, sigma, threshold.</summary>
    public static string Summary(TrialRecord t)
    {
        var p = t.Pipeline;
        var parts = new List<string>();
        if (p["input"] is { } input) parts.Add("input " + input.ToJsonString());
        if (p["backbone"]?["layers"] is { } layers) parts.Add("layers " + string.Join("+", layers.AsArray().Select(l => ShortLayerName(l?.ToString() ?? ""))));
        if (p["embedding"] is { } e) parts.Add($"patch {e["patchSize"]?.ToJsonString() ?? "def"}");
        if (p["scoring"] is { } s)
            parts.Add(s["type"] + " " + string.Join(" ", s.AsObject().Where(o => o.Key != "type").Select(o => $"{o.Key}={o.Value?.ToJsonString()}")));
        if (p["map"]?["sigma"] is { } sigma) parts.Add($"sigma {sigma.ToJsonString()}");
        if (p["threshold"]?["type"] is { } th) parts.Add(th.ToString());
        return string.Join("; ", parts);
    }

    /// <summary>
    /// "f6" for the built-in backbone's "feat_f6_s8_32ch"; any other backbone's layer (a user's ONNX model names its
    /// own: "pool4", "layer1") by its whole name.
    /// </summary>
    static string ShortLayerName(string layer) => layer.Split('_') is ["feat", var position, ..] ? position : layer;

    static byte[] FrontPlot(IReadOnlyList<TrialRecord> ok, IReadOnlyList<TrialRecord> front, TrialRecord? chosen)
    {
        using var plot = new ScottPlot.Plot();
        var all = plot.Add.ScatterPoints(ok.Select(t => t.TotalMs).ToArray(), ok.Select(t => t.Validation!.Objective).ToArray());
        all.LegendText = "trials";
        all.Color = ScottPlot.Colors.Gray;
        var sorted = front.OrderBy(t => t.TotalMs).ToList();
        var line = plot.Add.Scatter(sorted.Select(t => t.TotalMs).ToArray(), sorted.Select(t => t.Validation!.Objective).ToArray());
        line.LegendText = "Pareto front";
        if (chosen is not null)
        {
            var c = plot.Add.ScatterPoints(new[] { chosen.TotalMs }, new[] { chosen.Validation!.Objective });
            c.MarkerSize = 12;
            c.Color = ScottPlot.Colors.Green;
            c.LegendText = "chosen";
        }
        plot.Title("Validation objective against ms/image");
        plot.XLabel("ms / image (this machine)");
        plot.YLabel("validation objective");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        return plot.GetImageBytes(PlotWidth, PlotHeight, ScottPlot.ImageFormat.Png);
    }

    static byte[] HistoryPlot(IReadOnlyList<TrialRecord> trials)
    {
        using var plot = new ScottPlot.Plot();
        var ok = trials.Where(t => t.Succeeded).ToList();
        plot.Add.ScatterPoints(ok.Select(t => (double)t.Number).ToArray(), ok.Select(t => t.Validation!.Objective).ToArray()).LegendText = "trial";
        double best = double.NegativeInfinity;
        var xs = new List<double>();
        var ys = new List<double>();
        foreach (var t in ok)
        {
            best = Math.Max(best, t.Validation!.Objective);
            xs.Add(t.Number);
            ys.Add(best);
        }
        var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
        line.MarkerSize = 0;
        line.LegendText = "best so far";
        plot.Title("Trial history");
        plot.XLabel("trial");
        plot.YLabel("validation objective");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        return plot.GetImageBytes(PlotWidth, PlotHeight, ScottPlot.ImageFormat.Png);
    }

    static void Img(StringBuilder html, byte[] png, string alt) =>
        html.Append("<img alt=\"").Append(E(alt)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\">\n");

    static string E(string? text) => ReportHtml.Text(text);

    const string Css = "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:13px}" +
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.l{text-align:left}tr.front{background:#e8f4ff}" +
        "tr.chosen{background:#c8ffd0}tr.failed{color:#a00}pre{background:#f6f6f6;padding:1em;overflow:auto}img{margin:4px}\n";
    static string F(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("F4", Inv) : "n/a";
}
