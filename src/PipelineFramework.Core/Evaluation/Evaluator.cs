using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Evaluation;

/// <summary>What one category's evaluation produced; <see cref="Metrics"/> is also in <c>metrics.json</c>.</summary>
public sealed record CategoryResult(
    string Category,
    string OutputFolder,
    CategoryMetrics Metrics,
    double Threshold,
    double FitSeconds,
    double MsPerImage,
    int TrainImages,
    int TestImages,
    double? SyntheticAuroc = null)
{
    /// <summary>Defective test images whose mask is missing, unreadable or of another size: left out of the pixel metrics.</summary>
    public IReadOnlyList<MaskProblem> MaskProblems { get; init; } = [];
    /// <summary>Entries named like images that are not regular files (FIFOs, devices, broken links), not evaluated.</summary>
    public IReadOnlyList<string> SkippedFiles { get; init; } = [];
    /// <summary>Test images unlike the good training images in size, aspect ratio or colour (<see cref="InspectionResult.InputWarning"/>), with the reason.</summary>
    public IReadOnlyList<UnlikeImage> UnlikeImages { get; init; } = [];
}

/// <summary>A test image unlike the good training images, and how.</summary>
public sealed record UnlikeImage(
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("warning")] string Warning);

/// <summary>A defective test image whose ground-truth mask cannot be used, and why.</summary>
public sealed record MaskProblem(
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("mask")] string? Mask,
    [property: JsonPropertyName("problem")] string Problem);

/// <summary>A category of a data-set root whose evaluation stopped with an error the user can act on.</summary>
public sealed record CategoryFailure(string Category, string Error);

/// <summary>
/// What <see cref="Evaluator.Run"/> produced: the categories evaluated and, over a data-set root, those that failed
/// (the others were still evaluated).
/// </summary>
public sealed class EvaluationResults(IReadOnlyList<CategoryResult> categories, IReadOnlyList<CategoryFailure> failures) : IReadOnlyList<CategoryResult>
{
    public IReadOnlyList<CategoryFailure> Failures { get; } = failures;
    public CategoryResult this[int index] => categories[index];
    public int Count => categories.Count;
    public IEnumerator<CategoryResult> GetEnumerator() => categories.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

public sealed record EvaluationOptions
{
    /// <summary>Test images shown in the report's gallery (worst misses first).</summary>
    public int GallerySize { get; init; } = 12;
    /// <summary>Also save each category's fitted model as <c>model.pfmodel</c> next to its metrics.</summary>
    public bool SaveModels { get; init; }
    public IProgress<ProgressUpdate>? Progress { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// Fits a pipeline on each category's train/good images and scores its test set: metrics.json, scores.csv and
/// report.html per category; over a data-set root also summary.json (one row per category and the mean). The test set is
/// only ever scored, never used for fitting or thresholds.
/// <para>
/// Ground-truth masks must have their image's size. A defective image whose mask is missing, unreadable or of another
/// size is kept in the image metrics, left out of the pixel metrics and listed in metrics.json (mask_problems) and
/// report.html; a mask is never stretched to fit. Over a data-set root, a category that fails (say train/good is empty,
/// or its images are unreadable) is recorded in summary.json (failed_categories) and the others are still evaluated.
/// summary.json is rewritten before the first category and after each, so a run stopped on the way leaves one with
/// complete false and the categories it did not reach under pending_categories, never an earlier run's.
/// </para>
/// </summary>
public static class Evaluator
{
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>A category folder (train/ and test/ inside) or a root holding category folders.</summary>
    /// <exception cref="PipelineException">The data path is unusable, or a single category fails (over a root, a
    /// category's failure is recorded in <see cref="EvaluationResults.Failures"/> instead).</exception>
    public static EvaluationResults Run(AnomalyPipeline pipeline, string dataPath, string outputFolder, EvaluationOptions? options = null)
    {
        options ??= new EvaluationOptions();
        UserPaths.RequireFolder(dataPath, "Data folder", "Point --data at a category folder (train/good, test/...) or a data-set root.");
        if (ImageDataset.IsMvtecCategory(dataPath))
            return new([RunCategoryLeavingNoEmptyFolder(pipeline, dataPath, outputFolder, options)], []);

        var categories = ImageDataset.FindCategories(dataPath);
        if (categories.Count == 0)
            throw new PipelineException($"'{dataPath}' holds no category folder with train/good and test/ inside (MVTec AD layout).");
        var results = new List<CategoryResult>();
        var failures = new List<CategoryFailure>();
        var names = categories.Select(c => Path.GetFileName(c)!).ToList();
        var summaryPath = Path.Combine(outputFolder, "summary.json");
        // Rewritten before the first category and after each: an earlier run's summary never stays beside this run's
        // category folders, and a run killed on the way leaves one that says it is incomplete and which are pending.
        var leftOut = ImageDataset.NotCategories(dataPath).Select(f => Path.GetFileName(f)!).ToList();
        WriteSummary(results, pipeline.Spec.Name, summaryPath, failures, pending: names, leftOut: leftOut);
        for (int i = 0; i < categories.Count; i++)
        {
            try
            {
                results.Add(RunCategoryLeavingNoEmptyFolder(pipeline, categories[i], Path.Combine(outputFolder, names[i]), options));
            }
            catch (PipelineException e)
            {
                failures.Add(new CategoryFailure(names[i], e.Message));
            }
            WriteSummary(results, pipeline.Spec.Name, summaryPath, failures, pending: names.Skip(i + 1).ToList(), leftOut: leftOut);
        }
        return new(results, failures);
    }

    /// <summary>
    /// <see cref="RunCategory"/>; a folder it created is removed again when the category failed (or was cancelled)
    /// before writing its results, so a failed category has no folder, as one refused before its fit never had: its
    /// error is in summary.json (failed_categories) and on the terminal. A folder that existed (an earlier run's
    /// results) is kept as it was.
    /// </summary>
    static CategoryResult RunCategoryLeavingNoEmptyFolder(AnomalyPipeline pipeline, string categoryFolder, string outputFolder, EvaluationOptions options)
    {
        bool existed = Directory.Exists(outputFolder);
        try { return RunCategory(pipeline, ImageDataset.LoadMvtec(categoryFolder), outputFolder, options); }
        finally { if (!existed) UserPaths.RemoveIfUnused(outputFolder); }
    }

    public static CategoryResult RunCategory(AnomalyPipeline pipeline, CategoryDataset data, string outputFolder, EvaluationOptions options)
    {
        if (data.Train.Count < 2) throw new PipelineException($"{data.Name}: train/good holds {data.Train.Count} image{(data.Train.Count == 1 ? "" : "s")}; at least 2 are needed.");
        if (data.Test.Count == 0) throw new PipelineException($"{data.Name}: test/ holds no images.");
        // Known from the folders alone, so said before a fit of minutes rather than after it.
        if (data.Test.All(t => t.Label == data.Test[0].Label))
            throw new PipelineException($"{data.Name}: the test set holds only {(data.Test[0].Label == 1 ? "defective" : "good")} images " +
                $"({data.Test.Count}); AUROC needs both. Put good test images in test/good and defective ones in test/<defect type>.");
        UserPaths.CreateOutputFolder(outputFolder);

        var fitWatch = Stopwatch.StartNew();
        using var model = pipeline.Fit(data.Train.Select(t => t.Path).ToList(), options.Progress, options.Cancellation);
        double fitSeconds = fitWatch.Elapsed.TotalSeconds;

        var scoreWatch = Stopwatch.StartNew();
        var results = model.Inspect(data.Test.Select(t => t.Path).ToList(), options.Progress, options.Cancellation);
        double msPerImage = scoreWatch.Elapsed.TotalMilliseconds / data.Test.Count;

        var preprocessing = model.Preprocessing;
        var scored = new ScoredImage[data.Test.Count];
        var maskProblems = new MaskProblem?[data.Test.Count];
        // A set without any mask has no pixel metrics, which metrics.json says; one missing mask among others is a problem.
        bool masksExpected = data.HasMasks;
        Parallel.For(0, scored.Length, i =>
        {
            var image = data.Test[i];
            int label = image.Label ?? 0;
            Grid2D? mask = null;
            if (label == 1 && masksExpected) (mask, maskProblems[i]) = GroundTruth.Load(image, data.Root, preprocessing);
            scored[i] = new ScoredImage(image.Path, image.DefectType, label, results[i].RawScore, results[i].RawMap, mask);
        });

        var metrics = MetricsSuite.Compute(scored, model.Threshold);
        var result = new CategoryResult(data.Name, outputFolder, metrics, model.Threshold, fitSeconds, msPerImage, data.Train.Count, data.Test.Count,
            model.Manifest.Training.SyntheticAuroc)
        {
            MaskProblems = maskProblems.OfType<MaskProblem>().ToList(),
            SkippedFiles = data.Skipped,
            UnlikeImages = results.Where(r => r.InputWarning is not null).Select(r => new UnlikeImage(r.Id, r.InputWarning!)).ToList(),
        };

        var (explanations, explanationsJson) = ExplainRejected(model, results, data, options.Cancellation);
        var gallery = GalleryOrder(scored, model.Threshold).Take(options.GallerySize)
            .Select(s => new GalleryItem(Path.GetFileName(s.Path), s.DefectType, s.Label, s.Score, s.Score > model.Threshold,
                preprocessing.Load(s.Path), s.Map!, s.Mask) { Explanation = explanations.GetValueOrDefault(s.Path) })
            .ToList();
        var report = new CategoryReport(data.Name, pipeline.Spec.Name, metrics, model.Threshold, scored, gallery) { MaskProblems = result.MaskProblems };

        // Everything is computed before the first file is written, and the files are written as one set: a run stopped
        // on the way leaves the previous run's files together, never new metrics beside an old report or model.
        var outputs = new List<(string, Action<Stream>)>
        {
            (Path.Combine(outputFolder, "metrics.json"), AtomicFile.Text(MetricsJson(result, model))),
            (Path.Combine(outputFolder, "scores.csv"), AtomicFile.Text(ScoresCsv(scored))),
            (Path.Combine(outputFolder, "explanations.json"), AtomicFile.Text(explanationsJson)),
            (Path.Combine(outputFolder, "report.html"), AtomicFile.Text(HtmlReport.Render([report], $"{pipeline.Spec.Name} on {data.Name}"))),
        };
        if (options.SaveModels) outputs.Add((Path.Combine(outputFolder, "model.pfmodel"), model.Save));
        AtomicFile.WriteAll(outputs);
        return result;
    }

    /// <summary>
    /// Misses first (what needs a look), then alternately the clearest detections (what a defect's heat map looks
    /// like) and the cases nearest the threshold.
    /// </summary>
    static IEnumerable<ScoredImage> GalleryOrder(IReadOnlyList<ScoredImage> scored, double threshold)
    {
        var worstFirst = HtmlReport.WorstFirst(scored, threshold);
        bool Miss(ScoredImage s) => (s.Label == 1) != (s.Score > threshold);
        var clearest = new Queue<ScoredImage>(scored.Where(s => s.Label == 1 && !Miss(s)).OrderByDescending(s => s.Score));
        var nearest = new Queue<ScoredImage>(worstFirst.Where(s => !Miss(s)));
        var seen = new HashSet<ScoredImage>(ReferenceEqualityComparer.Instance);
        foreach (var miss in worstFirst.Where(Miss)) if (seen.Add(miss)) yield return miss;
        while (clearest.Count > 0 || nearest.Count > 0)
        {
            if (clearest.TryDequeue(out var c) && seen.Add(c)) yield return c;
            if (nearest.TryDequeue(out var n) && seen.Add(n)) yield return n;
        }
    }

    /// <summary>
    /// explanations.json: why each rejected test part was rejected, by the pipeline's explainer (offline unless the
    /// pipeline names another), with the facts each reason cites; also by image path, for the report's gallery.
    /// </summary>
    static (Dictionary<string, Explanation> ByPath, string Json) ExplainRejected(AnomalyModel model, IReadOnlyList<InspectionResult> results,
        CategoryDataset data, CancellationToken cancellation)
    {
        var explained = new Dictionary<string, Explanation>();
        var rows = new JsonArray();
        for (int i = 0; i < results.Count; i++)
        {
            if (!results[i].IsAnomaly) continue;
            var why = model.ExplainAsync(results[i], cancellation).GetAwaiter().GetResult();
            explained[data.Test[i].Path] = why;
            rows.Add(new JsonObject
            {
                ["image"] = data.Test[i].Path,
                ["defect_type"] = data.Test[i].DefectType,
                ["label"] = data.Test[i].Label,
                ["explanation"] = Explain.ExplanationJson.ToJson(why),
            });
        }
        return (explained, rows.ToJsonString(Json));
    }

    static string MetricsJson(CategoryResult result, AnomalyModel model)
    {
        var json = JsonSerializer.SerializeToNode(result.Metrics, Json)!.AsObject();
        json["category"] = result.Category;
        json["pipeline"] = model.Spec.Name;
        json["fit_seconds"] = Math.Round(result.FitSeconds, 3);
        json["ms_per_image"] = Math.Round(result.MsPerImage, 3);
        json["train_images"] = result.TrainImages;
        json["test_images"] = result.TestImages;
        json["threshold"] = result.Threshold;
        json["threshold_policy"] = model.Manifest.Threshold.Policy;
        json["threshold_rationale"] = model.Manifest.Threshold.Rationale;
        json["fit_images"] = model.Manifest.Training.FitImages;
        json["holdout_images"] = model.Manifest.Training.HoldoutImages;
        json["synthetic_anomalies"] = model.Manifest.Training.SyntheticAnomalies;
        json["synthetic_auroc"] = model.Manifest.Training.SyntheticAuroc;
        json["mask_problem_count"] = result.MaskProblems.Count;
        json["mask_problems"] = JsonSerializer.SerializeToNode(result.MaskProblems, Json);
        json["skipped_files"] = new JsonArray(result.SkippedFiles.Select(f => (JsonNode)f).ToArray());
        json["unlike_image_count"] = result.UnlikeImages.Count;
        json["unlike_images"] = JsonSerializer.SerializeToNode(result.UnlikeImages, Json);
        json["machine"] = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
        // The device is the host's run-time choice, so it is reported with the run, never stored in the model.
        json["device"] = model.Services.Device.ToString().ToLowerInvariant();
        json["device_detail"] = Compute.Gpu.ComputeBackend.Describe(model.Services.Device);
        return json.ToJsonString(Json);
    }

    static string ScoresCsv(IReadOnlyList<ScoredImage> scored)
    {
        var csv = new StringBuilder("path,label,score\n");
        foreach (var s in scored)
            csv.Append(Csv(s.Path)).Append(',').Append(s.Label).Append(',').Append(s.Score.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        return csv.ToString();
    }

    /// <summary>RFC 4180: a field holding a comma, quote or line break (LF or CR) is quoted, its quotes doubled.</summary>
    static string Csv(string value) => value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";

    /// <summary>
    /// summary.json: one row per evaluated category, their mean, the categories that failed with their error, and those
    /// still <paramref name="pending"/> (not yet evaluated by this run: their folders, if any, hold an earlier run's
    /// results); <c>complete</c> is true once none is. <paramref name="leftOut"/>: subfolders of the root that are not
    /// categories (no train/good), so a reader of the file alone learns that they were not evaluated.
    /// </summary>
    public static void WriteSummary(IReadOnlyList<CategoryResult> results, string pipelineName, string path, IReadOnlyList<CategoryFailure>? failures = null,
        IReadOnlyList<string>? pending = null, IReadOnlyList<string>? leftOut = null)
    {
        failures ??= [];
        pending ??= [];
        leftOut ??= [];
        var rows = new JsonArray();
        foreach (var r in results)
        {
            rows.Add(new JsonObject
            {
                ["category"] = r.Category,
                ["image_auroc"] = r.Metrics.ImageAuroc,
                ["pixel_auroc"] = r.Metrics.PixelAuroc,
                ["logical_auroc"] = r.Metrics.LogicalAuroc,
                ["structural_auroc"] = r.Metrics.StructuralAuroc,
                ["aupro"] = r.Metrics.Aupro,
                ["image_f1_max"] = r.Metrics.ImageF1Max,
                ["f1_at_threshold"] = r.Metrics.F1,
                ["good_false_reject_rate"] = r.Metrics.GoodFalseRejectRate,
                ["synthetic_auroc"] = r.SyntheticAuroc,
                ["fit_seconds"] = Math.Round(r.FitSeconds, 3),
                ["ms_per_image"] = Math.Round(r.MsPerImage, 3),
                ["train_images"] = r.TrainImages,
                ["test_images"] = r.TestImages,
                ["pixel_metric_images"] = r.Metrics.PixelMetricImages,
                ["mask_problem_count"] = r.MaskProblems.Count,
            });
        }
        var summary = new JsonObject
        {
            ["pipeline"] = pipelineName,
            ["complete"] = pending.Count == 0,
            ["pending_categories"] = new JsonArray(pending.Select(p => (JsonNode)p).ToArray()),
            ["left_out_folders"] = new JsonArray(leftOut.Select(f => (JsonNode)f).ToArray()),
            ["categories"] = rows,
            ["mean"] = new JsonObject
            {
                ["image_auroc"] = Mean(results.Select(r => (double?)r.Metrics.ImageAuroc)),
                ["pixel_auroc"] = Mean(results.Select(r => r.Metrics.PixelAuroc)),
                ["aupro"] = Mean(results.Select(r => r.Metrics.Aupro)),
                ["image_f1_max"] = Mean(results.Select(r => (double?)r.Metrics.ImageF1Max)),
                ["f1_at_threshold"] = Mean(results.Select(r => (double?)r.Metrics.F1)),
                ["good_false_reject_rate"] = Mean(results.Select(r => (double?)r.Metrics.GoodFalseRejectRate)),
                ["synthetic_auroc"] = Mean(results.Select(r => r.SyntheticAuroc)),
                ["fit_seconds"] = Mean(results.Select(r => (double?)r.FitSeconds)),
                ["ms_per_image"] = Mean(results.Select(r => (double?)r.MsPerImage)),
            },
            ["failed_count"] = failures.Count,
            ["failed_categories"] = new JsonArray(failures.Select(f => (JsonNode)new JsonObject
            {
                ["category"] = f.Category,
                ["error"] = f.Error,
            }).ToArray()),
        };
        AtomicFile.WriteText(path, summary.ToJsonString(Json));
    }

    /// <summary>Mean of the values present (a metric is null where it does not apply, e.g. pixel AUROC without masks).</summary>
    static double? Mean(IEnumerable<double?> values)
    {
        var present = values.Where(v => v.HasValue).Select(v => v!.Value).ToList();
        return present.Count == 0 ? null : present.Average();
    }

    /// <summary>The terminal table: one row per category, the mean, failed categories and mask problems.</summary>
    public static string FormatTable(EvaluationResults results) => FormatTable(results, results.Failures);

    /// <summary>The terminal table: one row per category, then the mean; then failed categories and mask problems, if any.</summary>
    public static string FormatTable(IReadOnlyList<CategoryResult> results, IReadOnlyList<CategoryFailure>? failures = null)
    {
        failures ??= [];
        static string F(double? v) => v is null ? "    -" : v.Value.ToString("0.000", CultureInfo.InvariantCulture);
        var table = new StringBuilder();
        table.AppendLine($"{"category",-16} {"img AUROC",9} {"px AUROC",9} {"AUPRO",7} {"F1@thr",7} {"good rej",8} {"fit s",7} {"ms/img",7}");
        foreach (var r in results)
            table.AppendLine($"{r.Category,-16} {F(r.Metrics.ImageAuroc),9} {F(r.Metrics.PixelAuroc),9} {F(r.Metrics.Aupro),7} {F(r.Metrics.F1),7} {F(r.Metrics.GoodFalseRejectRate),8} {r.FitSeconds,7:0.0} {r.MsPerImage,7:0.0}");
        if (results.Count > 1)
        {
            double? MeanOf(Func<CategoryResult, double?> pick) => Mean(results.Select(pick));
            table.AppendLine($"{"mean",-16} {F(MeanOf(r => r.Metrics.ImageAuroc)),9} {F(MeanOf(r => r.Metrics.PixelAuroc)),9} {F(MeanOf(r => r.Metrics.Aupro)),7} {F(MeanOf(r => r.Metrics.F1)),7} {F(MeanOf(r => r.Metrics.GoodFalseRejectRate)),8} {results.Average(r => r.FitSeconds),7:0.0} {results.Average(r => r.MsPerImage),7:0.0}");
        }
        foreach (var r in results.Where(r => r.Metrics.LogicalAuroc is not null && r.Metrics.StructuralAuroc is not null))
            table.AppendLine($"{r.Category}: logical anomalies image AUROC {F(r.Metrics.LogicalAuroc)}, structural {F(r.Metrics.StructuralAuroc)}");
        foreach (var f in failures)
            table.AppendLine($"{f.Category,-16} FAILED: {f.Error}");
        foreach (var r in results.Where(r => r.UnlikeImages.Count > 0))
            table.AppendLine($"{r.Category}: {r.UnlikeImages.Count} test images unlike the good training images in size or aspect ratio, scored as they are " +
                $"(first: {r.UnlikeImages[0].Warning}); see unlike_images in {Path.Combine(r.OutputFolder, "metrics.json")}");
        foreach (var r in results.Where(r => r.MaskProblems.Count > 0))
            table.AppendLine($"{r.Category}: {r.MaskProblems.Count} defective images without a usable mask, left out of the pixel metrics " +
                $"({r.Metrics.PixelMetricImages} of {r.TestImages} images counted); see mask_problems in {Path.Combine(r.OutputFolder, "metrics.json")}");
        return table.ToString();
    }
}
