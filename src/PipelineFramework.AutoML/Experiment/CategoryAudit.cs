using System.Text.Json.Serialization;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>One audited trial: its validation numbers beside the real test set's.</summary>
public sealed record AuditedTrial(
    [property: JsonPropertyName("trial")] int Trial,
    [property: JsonPropertyName("validation_objective")] double ValidationObjective,
    [property: JsonPropertyName("validation_image_auroc")] double ValidationImageAuroc,
    [property: JsonPropertyName("validation_pixel_auroc")] double? ValidationPixelAuroc,
    [property: JsonPropertyName("test_image_auroc")] double TestImageAuroc,
    [property: JsonPropertyName("test_pixel_auroc")] double? TestPixelAuroc,
    [property: JsonPropertyName("test_aupro")] double? TestAupro,
    [property: JsonPropertyName("test_ms_per_image")] double TestMsPerImage,
    [property: JsonPropertyName("test_objective")] double TestObjective);

/// <summary>How well the search's objective predicted the test result: Kendall's τ-b over the audited trials.</summary>
public sealed record CategoryAudit(
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("trials")] IReadOnlyList<AuditedTrial> Trials,
    [property: JsonPropertyName("tau_objective_vs_test_image_auroc")] double? TauObjective,
    [property: JsonPropertyName("tau_validation_vs_test_image_auroc")] double? TauImage,
    [property: JsonPropertyName("tau_validation_vs_test_pixel_auroc")] double? TauPixel,
    [property: JsonPropertyName("tau_objective_vs_test_objective")] double? TauObjectiveVsTestObjective);

/// <summary>
/// The explicit step after a search that reads the test set (the search itself never does): fits each successful
/// trial's pipeline on the training images (one backbone pass per prepared set, through the cache) and scores the real
/// test set, to measure how well the validation objective predicts the test result.
/// </summary>
public static class Audit
{
    /// <summary>
    /// Audits at most <paramref name="maxTrials"/> successful trials, spread evenly over the ranking by validation
    /// objective (the chosen one always included), so τ covers good and bad trials alike.
    /// </summary>
    public static CategoryAudit Run(string categoryFolder, IReadOnlyList<TrialRecord> trials, int? chosenTrial, IComponentCatalog catalog, HostServices services,
        ObjectiveWeights weights, int maxTrials = 30, IProgress<string>? progress = null, CancellationToken cancellation = default)
    {
        var data = ImageDataset.LoadMvtec(categoryFolder);
        var train = data.Train.Select(t => t.Path).ToList();
        // Full-fraction trials only: a halving rung's validation objective is of the pipeline fitted on part of the images.
        var ranked = trials.Where(t => t.Succeeded && t.FullFraction).OrderByDescending(t => t.Validation!.Objective).ToList();
        var picked = ranked.Count <= maxTrials ? ranked
            : Enumerable.Range(0, maxTrials).Select(i => ranked[(int)Math.Round(i * (ranked.Count - 1) / (double)(maxTrials - 1))]).Distinct().ToList();
        if (chosenTrial is { } c && !picked.Any(t => t.Number == c) && ranked.FirstOrDefault(t => t.Number == c) is { } chosen) picked.Add(chosen);

        var audited = new List<AuditedTrial>();
        using var cache = new PreparedSetCache(2L << 30);
        foreach (var trial in picked)
        {
            cancellation.ThrowIfCancellationRequested();
            var pipeline = AnomalyPipeline.FromJson(trial.Pipeline.ToJsonString(), catalog, $"trial {trial.Number}", services);
            var prepared = cache.GetOrPrepare(pipeline, train, null, cancellation);
            using var model = pipeline.Fit(prepared, null, cancellation);
            var metrics = Score(model, data, out double ms, cancellation);
            audited.Add(new AuditedTrial(trial.Number, trial.Validation!.Objective, trial.Validation.ImageAuroc, trial.Validation.PixelAuroc,
                metrics.ImageAuroc, metrics.PixelAuroc, metrics.Aupro, ms, weights.Combine(metrics.ImageAuroc, metrics.PixelAuroc, metrics.Aupro)));
            progress?.Report($"audit {audited.Count}/{picked.Count}: trial {trial.Number} validation {trial.Validation.Objective:F4} test image AUROC {metrics.ImageAuroc:F4}");
        }
        return new CategoryAudit(data.Name, audited,
            KendallTau(audited.Select(a => a.ValidationObjective).ToArray(), audited.Select(a => a.TestImageAuroc).ToArray()),
            KendallTau(audited.Select(a => a.ValidationImageAuroc).ToArray(), audited.Select(a => a.TestImageAuroc).ToArray()),
            KendallTau(audited.Select(a => a.ValidationPixelAuroc ?? double.NaN).ToArray(), audited.Select(a => a.TestPixelAuroc ?? double.NaN).ToArray()),
            KendallTau(audited.Select(a => a.ValidationObjective).ToArray(), audited.Select(a => a.TestObjective).ToArray()));
    }

    /// <summary>Image and pixel metrics of a fitted model on a category's test set (masks taken through the model's geometry).</summary>
    public static CategoryMetrics Score(AnomalyModel model, CategoryDataset data, out double msPerImage, CancellationToken cancellation = default)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var results = model.Inspect(data.Test.Select(t => t.Path).ToList(), null, cancellation);
        msPerImage = watch.Elapsed.TotalMilliseconds / Math.Max(1, data.Test.Count);
        // The masks pf evaluate would use (a mask problem leaves that image out of the pixel metrics, as there).
        var scored = data.Test.Select((t, i) => new ScoredImage(t.Path, t.DefectType, t.Label ?? 0, results[i].RawScore, results[i].RawMap,
            t.Label == 1 && t.MaskPath is not null ? GroundTruth.Load(t, data.Root, model.Preprocessing).Mask : null)).ToList();
        return MetricsSuite.Compute(scored, model.Threshold);
    }

    /// <summary>Kendall's τ-b (ties in either list handled; pairs with a NaN left out); null when undefined (fewer than 2 trials, or a list that is constant, e.g. every test AUROC 1.0).</summary>
    public static double? KendallTau(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException("Both lists need the same length.");
        // A trial without a value (no pixel metric) takes no part.
        var kept = Enumerable.Range(0, x.Count).Where(i => !double.IsNaN(x[i]) && !double.IsNaN(y[i])).ToList();
        x = kept.Select(i => x[i]).ToList();
        y = kept.Select(i => y[i]).ToList();
        long concordant = 0, discordant = 0, tiesX = 0, tiesY = 0;
        for (int i = 0; i < x.Count; i++)
            for (int j = i + 1; j < x.Count; j++)
            {
                int sx = Math.Sign(x[i] - x[j]), sy = Math.Sign(y[i] - y[j]);
                if (sx == 0 && sy == 0) continue;
                if (sx == 0) tiesX++;
                else if (sy == 0) tiesY++;
                else if (sx == sy) concordant++;
                else discordant++;
            }
        double denominator = Math.Sqrt((double)(concordant + discordant + tiesX) * (concordant + discordant + tiesY));
        return denominator > 0 ? (concordant - discordant) / denominator : null;
    }
}
