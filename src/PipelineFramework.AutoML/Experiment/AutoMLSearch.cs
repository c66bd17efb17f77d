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
    int TrialsResumed, long BackboneImages, TimeSpan Elapsed, string StopReason)
{
    /// <summary>The chosen pipeline's threshold policy, picked after the search (null when the search file lists no alternatives).</summary>
    public ThresholdChoice? Threshold { get; init; }

    /// <summary>The chosen trial as best.json has it: with the threshold chosen after the search.</summary>
    public TrialRecord? ChosenAsWritten => Chosen is null || Threshold is null ? Chosen
        : Chosen with { Pipeline = AutoMLSearch.BestPipeline(Chosen, Chosen.Pipeline["name"]?.ToString() ?? "automl", Threshold) };
}

/// <summary>
/// The search loop: the tuner proposes, the trial runner fits and validates, the log records. Points whose pipeline is
/// already in the log (from this run or a killed earlier one) are answered from it without running, so a rerun
/// continues where the last one stopped. Stops at the time or trial budget, when the tuner has nothing left, or on
/// cancellation (the trial in progress is dropped and runs again next time).
/// </summary>
public sealed class AutoMLSearch
{
    /// <summary>
    /// Consecutive repeated proposals after which the space counts as exhausted. A resumed run's first visit to each
    /// logged trial is its tuner replaying the earlier run, not a repeat: otherwise a log of 200 trials or more could
    /// never be extended (a run with a larger --trials stopped at once, "search space exhausted").
    /// </summary>
    internal int MaxRepeats { get; init; } = 200;

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

    /// <summary>Trials run at once: the budget's "parallel", or auto (<see cref="SearchBudget.AutoParallel"/>) for this machine's cores.</summary>
    public int Parallel => Budget.ResolveParallel(Environment.ProcessorCount);

    public SearchResult Run(IReadOnlyList<string> trainImages, TrialLog log, IProgress<SearchProgress>? progress = null,
        CancellationToken cancellation = default, PreparedSetCache? cache = null)
    {
        var result = Run(trainImages, log, progress, cancellation, cache, out var thresholdFit);
        thresholdFit?.Dispose();
        return result;
    }

    /// <param name="thresholdFit">
    /// The chosen pipeline as fitted on all training images to choose its threshold (null where no threshold was chosen
    /// or the fit failed). The caller disposes it; fitting the model it writes from it
    /// (<see cref="AnomalyPipeline.Fit(PreparedSet, AnomalyModel, IProgress{ProgressUpdate}?, CancellationToken)"/>)
    /// fits the chosen scorer once instead of twice.
    /// </param>
    internal SearchResult Run(IReadOnlyList<string> trainImages, TrialLog log, IProgress<SearchProgress>? progress,
        CancellationToken cancellation, PreparedSetCache? cache, out AnomalyModel? thresholdFit)
    {
        thresholdFit = null;
        if (trainImages.Count < 3)
            throw new PipelineException($"AutoML needs at least 3 good training images (fit, hold-out and synthetic anomalies come from them); got {trainImages.Count}.");
        string trainingSet = LogCompatibility.TrainingSetId(trainImages);
        var logged = log.Read(out var unreadable);
        if (unreadable.Count > 0)
            _services.Log.Warning($"{log.Path}: line{(unreadable.Count == 1 ? "" : "s")} {string.Join(", ", unreadable)} {(unreadable.Count == 1 ? "is not a trial record" : "are not trial records")} " +
                "(edited or damaged, or numbers no trial measures, such as an AUROC above 1) and skipped: the trials there run again if the tuner proposes them; the rest of the log is used.");
        var earlier = LogCompatibility.Check(logged, trainingSet, _space.Pipeline(_space.StartPoint), _space.Objective, log.Path, trainImages.Count);
        var byKey = new Dictionary<string, TrialRecord>();
        foreach (var t in earlier) byKey.TryAdd(t.LookupKey, t);
        var earlierKeys = byKey.Keys.ToHashSet();
        var trials = new List<TrialRecord>(earlier);
        var elapsedBefore = TimeUsed(earlier);
        var watch = Stopwatch.StartNew();
        TimeSpan Elapsed() => elapsedBefore + watch.Elapsed;
        int parallel = Parallel;

        bool ownsCache = cache is null;
        cache ??= new PreparedSetCache(CacheBytes);
        try
        {
            var runner = new TrialRunner(_catalog, _services, trainImages, cache, _space.Objective, Budget.MemoryBytes);
            var tuner = TunerFactory.Create(TunerName, _space, _space.Seed);
            int run = 0, repeats = 0;
            var resumed = new HashSet<string>();
            // After the highest logged number, not the count: a skipped line must not give two trials one number.
            int nextNumber = trials.Count == 0 ? 0 : trials.Max(t => t.Number) + 1;
            string stop = "";
            while (stop == "")
            {
                if (cancellation.IsCancellationRequested) { stop = "cancelled"; break; }
                if (Elapsed() >= Budget.Time) { stop = "time budget"; break; }
                if (byKey.Count >= Budget.Trials) { stop = "trial budget"; break; }

                // A batch: proposals up to `parallel` new trials, taken ahead only while the tuner allows it. Proposals the
                // log (or an earlier one in the batch) answers are told too, all in proposal order after the batch ran,
                // so a tuner sees the same history whatever `parallel` is.
                var batch = new List<(Proposal Proposal, string LookupKey, TrialRequest? Request)>();
                int newTrials = 0;
                while (newTrials < parallel && batch.Count < MaxRepeats && byKey.Count + newTrials < Budget.Trials
                       && (batch.Count == 0 || tuner.ProposesAhead))
                {
                    if (tuner.ProposeTrial() is not { } proposal) { stop = "search space exhausted"; break; }
                    var json = _space.Pipeline(proposal.Point);
                    var pipeline = runner.TryCreate(json, out _);
                    string lookup = TrialKeys.Lookup(pipeline is null ? TrialRunner.KeyOfJson(json) : TrialRunner.KeyOf(pipeline), proposal.Fraction);
                    bool known = byKey.ContainsKey(lookup) || batch.Any(b => b.LookupKey == lookup);
                    var request = known ? null : new TrialRequest(nextNumber + newTrials++, proposal, json);
                    batch.Add((proposal, lookup, request));
                }
                if (batch.Count == 0) break;

                var requests = batch.Where(b => b.Request is not null).Select(b => b.Request!).ToList();
                IReadOnlyList<TrialRecord> records;
                try { records = runner.Run(requests, cancellation); }
                catch (OperationCanceledException) { stop = "cancelled"; break; }
                foreach (var record in records)
                {
                    var finished = record with { SearchSeconds = Math.Round(Elapsed().TotalSeconds, 3), TrainingSet = trainingSet };
                    log.Append(finished);
                    trials.Add(finished);
                    byKey.TryAdd(finished.LookupKey, finished);
                    nextNumber = Math.Max(nextNumber, finished.Number + 1);
                    run++;
                    progress?.Report(new SearchProgress(trials.Count, run, finished, Pareto.Choose(trials, Pick.Best), Elapsed(), Budget.Time));
                }
                int replayed = 0;
                foreach (var (proposal, lookup, request) in batch)
                {
                    var answer = byKey[lookup];
                    if (request is null && earlierKeys.Contains(lookup) && resumed.Add(lookup)) replayed++;
                    tuner.Tell(proposal, answer.Succeeded ? answer.Validation!.Objective : null);
                }
                repeats = requests.Count > 0 ? 0 : repeats + batch.Count - replayed;
                if (repeats >= MaxRepeats && stop == "") stop = "search space exhausted";
            }
            var chosen = Pareto.Choose(trials, Pick);
            var threshold = chosen is not null && stop != "cancelled" ? ChooseThreshold(chosen, runner, trainImages, cache, cancellation, out thresholdFit) : null;
            return new SearchResult(trials, Pareto.Front(trials), chosen, run, resumed.Count, runner.BackboneImagesTotal, Elapsed(), stop) { Threshold = threshold };
        }
        finally
        {
            if (ownsCache) cache.Dispose();
        }
    }

    /// <summary>
    /// Search time already spent by the logged trials: the last logged search clock (right with parallel trials), plus
    /// the seconds of records from before that clock was written.
    /// </summary>
    static TimeSpan TimeUsed(IReadOnlyList<TrialRecord> earlier) =>
        TimeSpan.FromSeconds(earlier.Select(t => t.SearchSeconds ?? 0).DefaultIfEmpty(0).Max() + earlier.Where(t => t.SearchSeconds is null).Sum(t => t.Seconds));

    /// <summary>
    /// The search file's threshold alternatives, judged on the chosen pipeline's validation scores
    /// (<see cref="ThresholdSelection"/>); null when it lists fewer than two. The alternative of the chosen trial's own
    /// type keeps that trial's options. A failure here keeps the trial's own threshold: it never ends the search.
    /// <paramref name="model"/>: the chosen pipeline as fitted for the choice, for the caller to dispose.
    /// </summary>
    ThresholdChoice? ChooseThreshold(TrialRecord chosen, TrialRunner runner, IReadOnlyList<string> trainImages, PreparedSetCache cache,
        CancellationToken cancellation, out AnomalyModel? model)
    {
        model = null;
        if (_space.Parameters.FirstOrDefault(p => p.Name == "$.threshold" && p.IsChoice) is not { Choices.Count: >= 2 } parameter) return null;
        var own = chosen.Pipeline["threshold"] as JsonObject;
        var alternatives = parameter.Choices.OfType<JsonObject>()
            .Select(a => own is not null && a["type"]?.ToString() == own["type"]?.ToString() ? (JsonObject)own.DeepClone() : (JsonObject)a.DeepClone())
            .ToList();
        try
        {
            var pipeline = runner.TryCreate(chosen.Pipeline, out var error) ?? throw new PipelineException(error ?? "the chosen pipeline does not parse");
            var prepared = cache.GetOrPrepare(pipeline, trainImages, null, cancellation);
            model = pipeline.Fit(prepared, null, cancellation);
            var heldOut = model.ScoreMaps(prepared.HoldoutMaps, scorerUnitMaps: true).ImageScores;
            var shifted = prepared.ShiftedHoldoutMaps is { } maps ? model.ScoreMaps(maps, scorerUnitMaps: true).ImageScores : [];
            var synthetic = prepared.SyntheticHoldoutMaps is { } anomalies ? model.ScoreMaps(anomalies, scorerUnitMaps: true).ImageScores : [];
            return ThresholdSelection.Choose(alternatives, heldOut, shifted, synthetic, _catalog, _space.Seed);
        }
        catch (PipelineException e)
        {
            _services.Log.Warning($"The threshold was not chosen after the search ({e.Message}); best.json keeps trial {chosen.Number}'s.");
            return null;
        }
        catch (OperationCanceledException)
        {
            model?.Dispose();
            model = null;
            return null;   // stopped by the user: a cancelled search writes no best.json
        }
    }

    /// <summary>
    /// The chosen trial's pipeline as a plain pipeline JSON that <c>pf fit</c> / <c>pf evaluate</c> take as it is, with
    /// the threshold chosen after the search where there is one.
    /// </summary>
    public static JsonObject BestPipeline(TrialRecord chosen, string name, ThresholdChoice? threshold = null)
    {
        var json = (JsonObject)chosen.Pipeline.DeepClone();
        json["name"] = name;
        if (threshold is not null) json["threshold"] = threshold.Threshold.DeepClone();
        json["description"] = $"Chosen by AutoML (trial {chosen.Number}, validation objective {chosen.Validation?.Objective:F4}) from good training images only"
            + (threshold is null ? "." : $"; {threshold.Describe()}.");
        return json;
    }
}
