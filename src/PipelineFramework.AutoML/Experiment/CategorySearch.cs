using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.Report;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.Core;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>
/// What one category's search left in its folder; <see cref="Folder"/> is null for a category that failed before it
/// wrote anything (its folder is not kept, see <see cref="OutputFolderLock"/>).
/// </summary>
public sealed record CategoryOutcome(string Category, string? Folder, SearchResult Result, string? BestJsonPath, string? ModelPath, string? Error = null);

/// <summary>
/// One product category end to end: the search over its <c>train/good</c> images (nothing under test/ or
/// ground_truth/ is opened), then in its folder trials.jsonl, best.json (a plain pipeline JSON), model.pfmodel (the
/// chosen pipeline fitted on all training images, as <c>pf fit --pipeline best.json</c> would) and report.html.
/// </summary>
public static class CategorySearch
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public const string TrialsFile = "trials.jsonl", BestFile = "best.json", ModelFile = "model.pfmodel", ReportFile = "report.html";

    /// <summary>The good training images of a category folder (train/good) or of a plain folder of images.</summary>
    public static IReadOnlyList<string> TrainImages(string categoryFolder)
    {
        var good = Path.Combine(categoryFolder, "train", "good");
        return ImageDataset.ListImages(Directory.Exists(good) ? good : categoryFolder);
    }

    public static CategoryOutcome Run(AutoMLSearch search, string categoryFolder, string outFolder, IComponentCatalog catalog, HostServices services,
        IProgress<SearchProgress>? progress = null, CancellationToken cancellation = default)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(categoryFolder)));
        var train = TrainImages(categoryFolder);
        UserPaths.CreateOutputFolder(outFolder);
        using var cache = new PreparedSetCache(search.CacheBytes);
        var result = search.Run(train, new TrialLog(Path.Combine(outFolder, TrialsFile)), progress, cancellation, cache, out var thresholdFit);
        string? bestPath = null, modelPath = null;
        string? bestJson = null;
        using (thresholdFit)
        {
            if (result.Chosen is { } chosen && !cancellation.IsCancellationRequested)
            {
                var best = AutoMLSearch.BestPipeline(chosen, $"automl-{name}", result.Threshold);
                bestJson = best.ToJsonString(Indented);
                bestPath = Path.Combine(outFolder, BestFile);
                AtomicFile.WriteText(bestPath, bestJson + "\n");
                var pipeline = AnomalyPipeline.FromJson(bestJson, catalog, bestPath, services);
                var prepared = cache.GetOrPrepare(pipeline, train, null, cancellation);
                // The scorer fitted to choose the threshold is the one this pipeline fits: it differs only in name, description and threshold.
                using var model = thresholdFit is null ? pipeline.Fit(prepared, null, cancellation) : pipeline.Fit(prepared, thresholdFit, null, cancellation);
                modelPath = Path.Combine(outFolder, ModelFile);
                model.Save(modelPath);
            }
        }
        AtomicFile.WriteText(Path.Combine(outFolder, ReportFile), AutoMLReport.Render($"AutoML on {name}", result, search.Pick.ToString(), bestJson));
        return new CategoryOutcome(name, outFolder, result, bestPath, modelPath);
    }

    /// <summary>Category folders under a root (train/good inside each), or the folder itself when it is one.</summary>
    public static IReadOnlyList<string> Categories(string data)
    {
        UserPaths.RequireFolder(data, "Data folder", "Point --data at a category folder (train/good inside) or a root of category folders.");
        if (Directory.Exists(Path.Combine(data, "train", "good"))) return [data];
        var found = Directory.GetDirectories(data).Where(d => Directory.Exists(Path.Combine(d, "train", "good"))).OrderBy(d => d, StringComparer.Ordinal).ToList();
        return found.Count > 0 ? found : throw new PipelineException($"'{data}' holds no category folder with train/good inside.");
    }

    /// <summary>
    /// summary.json of a root: one entry per category searched with its chosen trial, and the categories this run has
    /// not searched yet (<paramref name="pending"/>: their folders, if any, hold an earlier run's results). <c>complete</c>
    /// is true once none is pending and none was cancelled.
    /// </summary>
    public static JsonObject Summary(IReadOnlyList<CategoryOutcome> outcomes, IReadOnlyList<string> pending, IReadOnlyList<string>? leftOut = null) => new()
    {
        ["complete"] = pending.Count == 0 && outcomes.All(o => o.Result.StopReason != "cancelled"),
        ["pending_categories"] = new JsonArray(pending.Select(p => (JsonNode)p).ToArray()),
        ["left_out_folders"] = new JsonArray((leftOut ?? []).Select(f => (JsonNode)f).ToArray()),
        ["categories"] = new JsonArray(outcomes.Select(o => (JsonNode)new JsonObject
        {
            ["category"] = o.Category,
            ["folder"] = o.Folder,
            ["error"] = o.Error,
            ["trials"] = o.Result.Trials.Count,
            ["failed_trials"] = o.Result.Trials.Count(t => !t.Succeeded),
            ["search_seconds"] = Math.Round(o.Result.Elapsed.TotalSeconds, 1),
            ["stop_reason"] = o.Result.StopReason,
            ["chosen_trial"] = o.Result.Chosen?.Number,
            ["validation"] = o.Result.Chosen?.Validation is { } v ? JsonSerializer.SerializeToNode(v) : null,
            ["ms_per_image"] = o.Result.Chosen is { } c ? Math.Round(c.TotalMs, 2) : null,
            ["chosen"] = o.Result.ChosenAsWritten is { } ch ? AutoMLReport.Summary(ch) : null,
            ["threshold_choice"] = o.Result.Threshold?.Describe(),
            ["best_json"] = o.BestJsonPath,
            ["model"] = o.ModelPath,
        }).ToArray()),
    };
}
