using System.Diagnostics;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Selection;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>Where a search stands, for progress lines.</summary>
public sealed record SearchProgress(int TrialsDone, int TrialsRun, TrialRecord Last, TrialRecord? Best, TimeSpan Elapsed, TimeSpan Budget);

/// <summary>What a search found: every trial (earlier runs' included), the Pareto front and the chosen trial.</summary>
public sealed record SearchResult(IReadOnlyList<TrialRecord> Trials, IReadOnlyList<TrialRecord> Front, TrialRecord? Chosen, int TrialsRun,
    int TrialsResumed, long BackboneImages, TimeSpan Elapsed, string StopReason);

/// <summary>
/// The search loop: the tuner proposes, the trial runner fits and validates, the log records. Points whose pipeline is
/// already in the log (from this run or a killed earlier one) are answered from it without running, so a rerun
/// continues where the last one stopped. Stops at the time or trial budget, when the tuner has nothing left, or on
/// cancellation (the trial in progress is dropped and runs again next time).
/// </summary>
public sealed class AutoMLSearch
{
    /// <summary>Consecutive repeated proposals after which the space counts as exhausted.</summary>
    const int MaxRepeats = 200;

    readonly SearchSpec _space;
    readonly IComponentCatalog _catalog;
    readonly HostServices _services;

    public AutoMLSearch(SearchSpec space, IComponentCatalog catalog, HostServices? services = null)
    {
        _space = space;
        _catalog = catalog;
        _services = services ?? HostServices.None;
        Budget = space.Budget;
        TunerName = space.Tuner;
    }

    public SearchBudget Budget { get; set; }
    public string TunerName { get; set; }
    public Pick Pick { get; set; } = Pick.Best;
    /// <summary>Memory the prepared-set cache may hold (backbone maps of the searched inputs and backbones).</summary>
    public long CacheBytes { get; set; } = 2L << 30;

    public SearchResult Run(IReadOnlyList<string> trainImages, TrialLog log, IProgress<SearchProgress>? progress = null,
        CancellationToken cancellation = default, PreparedSetCache? cache = null)
    {
        if (trainImages.Count < 3)
            throw new PipelineException($"AutoML needs at least 3 good training images (fit, hold-out and synthetic anomalies come from them); got {trainImages.Count}.");
        var earlier = log.Read();
        var byKey = new Dictionary<string, TrialRecord>();
        foreach (var t in earlier) byKey.TryAdd(t.Key, t);
        var trials = new List<TrialRecord>(earlier);
        var elapsedBefore = TimeSpan.FromSeconds(earlier.Sum(t => t.Seconds));
        var watch = Stopwatch.StartNew();
        TimeSpan Elapsed() => elapsedBefore + watch.Elapsed;

        bool ownsCache = cache is null;
        cache ??= new PreparedSetCache(CacheBytes);
        try
        {
            var runner = new TrialRunner(_catalog, _services, trainImages, cache, _space.Objective, Budget.MemoryBytes);
            var tuner = TunerFactory.Create(TunerName, _space, _space.Seed);
            int run = 0, repeats = 0;
            var resumed = new HashSet<string>();
            string stop = "";
            while (true)
            {
                if (cancellation.IsCancellationRequested) { stop = "cancelled"; break; }
                if (Elapsed() >= Budget.Time) { stop = "time budget"; break; }
                if (byKey.Count >= Budget.Trials) { stop = "trial budget"; break; }
                var point = tuner.Propose();
                if (point is null) { stop = "search space exhausted"; break; }
                var json = _space.Pipeline(point);
                var pipeline = runner.TryCreate(json, out _);
                string key = pipeline is null ? TrialRunner.KeyOfJson(json) : TrialRunner.KeyOf(pipeline);
                if (byKey.TryGetValue(key, out var known))
                {
                    if (earlier.Contains(known)) resumed.Add(key);
                    tuner.Tell(point, known.Succeeded ? known.Validation!.Objective : null);
                    if (++repeats >= MaxRepeats) { stop = "search space exhausted"; break; }
                    continue;
                }
                repeats = 0;
                TrialRecord record;
                try { record = runner.Run(trials.Count, point, json, cancellation); }
                catch (OperationCanceledException) { stop = "cancelled"; break; }
                log.Append(record);
                trials.Add(record);
                byKey.TryAdd(record.Key, record);
                run++;
                tuner.Tell(point, record.Succeeded ? record.Validation!.Objective : null);
                progress?.Report(new SearchProgress(trials.Count, run, record, Pareto.Choose(trials, Pick.Best), Elapsed(), Budget.Time));
            }
            return new SearchResult(trials, Pareto.Front(trials), Pareto.Choose(trials, Pick), run, resumed.Count, runner.BackboneImagesTotal, Elapsed(), stop);
        }
        finally
        {
            if (ownsCache) cache.Dispose();
        }
    }

    /// <summary>The chosen trial's pipeline as a plain pipeline JSON that <c>pf fit</c> / <c>pf evaluate</c> take as it is.</summary>
    public static JsonObject BestPipeline(TrialRecord chosen, string name)
    {
        var json = (JsonObject)chosen.Pipeline.DeepClone();
        json["name"] = name;
        json["description"] = $"Chosen by AutoML (trial {chosen.Number}, validation objective {chosen.Validation?.Objective:F4}) from good training images only.";
        return json;
    }
}
