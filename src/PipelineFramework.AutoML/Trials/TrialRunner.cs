using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Compute;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.AutoML.Trials;

/// <summary>A trial to run: its number in the log, the proposal (point, rung, fraction) and the pipeline JSON of the point.</summary>
public sealed record TrialRequest(int Number, Proposal Proposal, JsonObject Json);

/// <summary>
/// Runs one trial: the pipeline is prepared through the shared <see cref="PreparedSetCache"/> (trials that differ only
/// after the backbone reuse one backbone pass), fitted, and validated on its own hold-out: held-out good images and
/// synthetic anomalies made from them, at image and pixel level. Only training images are read. A trial that throws or
/// passes its memory share (enforced while it runs, <see cref="MemoryMonitor"/>) is returned as a record with the
/// reason; cancellation by the caller is not a result and propagates.
/// </summary>
public sealed class TrialRunner(IComponentCatalog catalog, HostServices services, IReadOnlyList<string> trainImages, PreparedSetCache cache,
    ObjectiveWeights objective, long memoryShareBytes)
{
    readonly Dictionary<string, double> _prepareMsPerImage = [];

    /// <summary>Images the backbone has run on through this runner.</summary>
    public long BackboneImagesTotal { get; private set; }

    public static string KeyOf(AnomalyPipeline pipeline) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(pipeline.Spec.ToJson().ToJsonString())))[..16].ToLowerInvariant();

    /// <summary>Parses the trial's pipeline (a bad combination is a failed trial, not an error of the search).</summary>
    public AnomalyPipeline? TryCreate(JsonObject json, out string? error) => TryCreate(json, out error, out _);

    /// <param name="faultTrace">Where a component's constructor threw: <see cref="TrialRecord.FaultTrace"/>.</param>
    AnomalyPipeline? TryCreate(JsonObject json, out string? error, out string? faultTrace)
    {
        try
        {
            (error, faultTrace) = (null, null);
            return AnomalyPipeline.FromJson(json.ToJsonString(), catalog, "trial", services);
        }
        catch (Exception e) when (e is PipelineException or ComponentFaultException)
        {
            (error, faultTrace) = (e.Message, FaultTrace(e));
            return null;
        }
    }

    /// <summary>Runs one trial (see <see cref="Run(IReadOnlyList{TrialRequest}, CancellationToken)"/>).</summary>
    public TrialRecord Run(TrialRequest request, CancellationToken cancellation) => Run([request], cancellation)[0];

    /// <summary>
    /// Runs trials side by side and returns their records in request order. Each is prepared through the cache one
    /// after another (a shared backbone pass is made once, and backbone counts stay exact), then all are fitted and
    /// validated in parallel under one <see cref="MemoryMonitor"/> with the whole memory budget (each trial's share is
    /// 1/N of it). A trial stopped by the monitor is an over-memory record; cancellation by the caller propagates.
    /// </summary>
    public IReadOnlyList<TrialRecord> Run(IReadOnlyList<TrialRequest> requests, CancellationToken cancellation)
    {
        var records = new TrialRecord?[requests.Count];
        var started = new List<Started>();
        try
        {
            foreach (var (request, index) in requests.Select((r, i) => (r, i)))
            {
                var (record, ready) = Prepare(request, cancellation);
                records[index] = record;
                if (ready is not null) started.Add(ready with { Index = index });
            }
            if (started.Count > 0)
            {
                using var monitor = new MemoryMonitor(memoryShareBytes, cancellation);
                if (started.Count == 1) records[started[0].Index] = FitAndValidate(started[0], monitor, 1, cancellation);
                else
                {
                    var tasks = started.Select(s => Task.Factory.StartNew(() => FitAndValidate(s, monitor, started.Count, cancellation),
                        CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
                    try { Task.WaitAll(tasks); }
                    catch (AggregateException) when (cancellation.IsCancellationRequested) { throw new OperationCanceledException(cancellation); }
                    for (int i = 0; i < started.Count; i++) records[started[i].Index] = tasks[i].Result;
                }
            }
            return records.Select(r => r!).ToArray();
        }
        finally
        {
            foreach (var s in started) s.Prepared.Dispose();
        }
    }

    /// <summary>A trial past its preparation: the parsed pipeline and its (subset of the) prepared set, which it owns.</summary>
    sealed record Started(TrialRequest Request, AnomalyPipeline Pipeline, string Key, PreparedSet Prepared, Stopwatch Watch, long BackboneImages,
        long PreparePeak, int Index = 0);

    /// <summary>A trial's record with what every outcome has (a failure's reason, a success's measurements are added by the caller).</summary>
    TrialRecord Record(TrialRequest request, string status, string key, Stopwatch watch, string? reason = null, long memory = 0) => new()
    {
        Number = request.Number, Status = status, Reason = reason, Key = key, Point = request.Proposal.Point, Pipeline = request.Json,
        Fraction = request.Proposal.Fraction, Rung = request.Proposal.Rung, MemoryBytes = memory,
        Seconds = watch.Elapsed.TotalSeconds, BackboneImagesTotal = BackboneImagesTotal, FinishedUtc = DateTime.UtcNow,
    };

    /// <summary>Parses and prepares one trial, under the memory monitor alone; a record when it ends here, else the started trial.</summary>
    (TrialRecord? Record, Started? Ready) Prepare(TrialRequest request, CancellationToken cancellation)
    {
        var watch = Stopwatch.StartNew();
        var pipeline = TryCreate(request.Json, out var parseError, out var constructorTrace);
        if (pipeline is null) return (Record(request, TrialRecord.Failed, KeyOfJson(request.Json), watch, parseError!) with { FaultTrace = constructorTrace }, null);
        string key = KeyOf(pipeline);
        long backboneBefore = BackboneImagesTotal;
        using var monitor = new MemoryMonitor(memoryShareBytes, cancellation);
        try
        {
            int missesBefore = cache.Misses;
            var prepareWatch = Stopwatch.StartNew();
            var prepared = cache.GetOrPrepare(pipeline, trainImages, null, monitor.Token);
            if (cache.Misses > missesBefore)
            {
                BackboneImagesTotal += prepared.BackboneImages;
                _prepareMsPerImage[pipeline.PrepareKey] = prepareWatch.Elapsed.TotalMilliseconds / Math.Max(1, prepared.BackboneImages);
            }
            var subset = FitSubset(prepared, request.Proposal.Fraction, pipeline.Spec.Seed);
            return (null, new Started(request, pipeline, key, subset, watch, BackboneImagesTotal - backboneBefore, monitor.PeakWorkingSet));
        }
        catch (OperationCanceledException) when (monitor.OverLimit && !cancellation.IsCancellationRequested)
        {
            return (Record(request, TrialRecord.OverMemory, key, watch, monitor.Reason("preparation", 1), monitor.PeakWorkingSet), null);
        }
        catch (OperationCanceledException) { throw; }
        catch (OutOfMemoryException e) { return (Record(request, TrialRecord.OverMemory, key, watch, e.Message, monitor.PeakWorkingSet), null); }
        catch (Exception e) { return (Record(request, TrialRecord.Failed, key, watch, FailureReason(e)) with { FaultTrace = FaultTrace(e) }, null); }
    }

    TrialRecord FitAndValidate(Started trial, MemoryMonitor monitor, int running, CancellationToken cancellation)
    {
        var (request, pipeline, key, prepared, watch) = (trial.Request, trial.Pipeline, trial.Key, trial.Prepared, trial.Watch);
        string phase = "fit";
        try
        {
            using var model = pipeline.Fit(prepared, null, monitor.Token);
            phase = "validation";
            monitor.Token.ThrowIfCancellationRequested();
            var validation = Validate(model, prepared, objective);

            var ms = new Dictionary<string, double> { ["backbone"] = _prepareMsPerImage.GetValueOrDefault(pipeline.PrepareKey) };
            foreach (var (stage, value) in validation.Ms) ms[stage] = value;
            ms["total"] = ms.Values.Sum();
            using var bytes = new MemoryStream();
            model.Save(bytes);
            monitor.Sample();
            long memory = Math.Max(trial.PreparePeak, monitor.PeakWorkingSet);
            var record = Record(request, TrialRecord.Ok, key, watch, memory: memory) with
            {
                FitImages = prepared.FitImages.Count, Validation = validation.Metrics,
                MsPerImage = ms.ToDictionary(p => p.Key, p => Math.Round(p.Value, 3)), ModelBytes = bytes.Length, BackboneImages = trial.BackboneImages,
            };
            // The last sample, at the end: a peak between two samples of a short trial still counts.
            if (monitor.OverLimit)
                return record with { Status = TrialRecord.OverMemory, Validation = null, Reason = monitor.Reason("its last step", running, memory) };
            return record;
        }
        catch (OperationCanceledException) when (monitor.OverLimit && !cancellation.IsCancellationRequested)
        {
            long peak = Math.Max(trial.PreparePeak, monitor.PeakWorkingSet);
            return Record(request, TrialRecord.OverMemory, key, watch, monitor.Reason(phase, running, peak), peak) with { FitImages = prepared.FitImages.Count };
        }
        catch (OperationCanceledException) { throw; }
        catch (OutOfMemoryException e) { return Record(request, TrialRecord.OverMemory, key, watch, e.Message, monitor.PeakWorkingSet); }
        catch (Exception e) { return Record(request, TrialRecord.Failed, key, watch, FailureReason(e)) with { FaultTrace = FaultTrace(e) }; }
    }

    /// <summary>A failed trial's reason: a component's fault names the component (its message says whose bug it is).</summary>
    static string FailureReason(Exception e) => ComponentFaultException.In(e) is { } fault ? fault.Message : $"{e.GetType().Name}: {e.Message}";

    /// <summary>
    /// A bug's trace for trials.errors.log: the faulty component and its stack traces, or the traces of anything else
    /// unexpected; none for a clear message about the input (a <see cref="PipelineException"/>), which says all there is.
    /// </summary>
    static string? FaultTrace(Exception e) => ComponentFaultException.In(e) is { } fault
        ? $"{fault.Where}\n{StackTraces.WithoutMessages(fault)}"
        : e is PipelineException ? null : $"unexpected {e.GetType().Name}\n{StackTraces.WithoutMessages(e)}";

    /// <summary>
    /// The fitting images of a halving rung: a seeded shuffle of the prepared fitting images (the same order for every
    /// trial and rung, so a smaller fraction's images are part of a larger one's), the first fraction of it, at least 2.
    /// Gathered from the prepared layer maps: the backbone does not run again.
    /// </summary>
    static PreparedSet FitSubset(PreparedSet prepared, double fraction, int seed)
    {
        int count = prepared.FitImages.Count;
        int take = fraction >= 1 ? count : Math.Clamp((int)Math.Round(fraction * count), Math.Min(2, count), count);
        var order = Enumerable.Range(0, count).ToArray();
        if (take < count) SeededRandom.Create(seed, 0x48414C56494E47UL).Shuffle(order.AsSpan()); // "HALVING"
        return prepared.WithFitImages(order.Take(take).Order().ToArray());
    }

    /// <summary>The key of a pipeline that does not parse: its JSON as written (a repeat is answered from the log all the same).</summary>
    public static string KeyOfJson(JsonObject json) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json.ToJsonString())))[..16].ToLowerInvariant();

    /// <summary>
    /// Image AUROC of held-out good images (with their shifted copies, where the validation makes them) against synthetic
    /// anomalies; pixel AUROC and AUPRO of the held-out good images' and the anomalies' heat maps against the synthetic
    /// masks (good images: all-zero masks); combined by the objective weights.
    /// </summary>
    internal static (ValidationMetrics Metrics, IReadOnlyDictionary<string, double> Ms) Validate(AnomalyModel model, PreparedSet prepared, ObjectiveWeights weights)
    {
        if (prepared.SyntheticHoldoutMaps is not { } syntheticMaps || prepared.SyntheticHoldoutMasks.Count == 0)
            throw new PipelineException("Validation needs synthetic anomalies: the search's validation section must name a synthesiser and a syntheticCount above 0.");
        var goodMaps = prepared.ShiftedHoldoutMaps is { } shifted ? LayerMaps.Concat([prepared.HoldoutMaps, shifted], prepared.HoldoutMaps.Layers) : prepared.HoldoutMaps;
        // Pixel terms on the scorer's maps, before a ratio image score divides each by its own reference: divided, the
        // large synthetic anomalies (which raise their own median) made every ratio pipeline lose on pixels, which
        // KolektorSDD's thin cracks do not (AutoML README, run J).
        var good = model.ScoreMaps(goodMaps, scorerUnitMaps: true);
        var synthetic = model.ScoreMaps(syntheticMaps, scorerUnitMaps: true);
        var scores = good.ImageScores.Concat(synthetic.ImageScores).ToArray();
        var labels = good.ImageScores.Select(_ => (byte)0).Concat(synthetic.ImageScores.Select(_ => (byte)1)).ToArray();
        double image = Metrics.Auroc(scores, labels);

        // The shifted copies count at image level only: a new exposure must not change a part's verdict, but the heat
        // maps are measured on where the synthetic defects are, as before (with them in, the pixel terms preferred
        // settings that lost on KolektorSDD's real cracks: AutoML README, run H).
        var heldOutMaps = good.Maps.Take(prepared.HoldoutMaps.Count).ToList();
        var maps = heldOutMaps.Concat(synthetic.Maps).ToList();
        int h = maps[0].Height, w = maps[0].Width;
        double? pixel = null, aupro = null;
        if (prepared.SyntheticHoldoutMasks.All(m => m.Height == h && m.Width == w))
        {
            var masks = heldOutMaps.Select(_ => new byte[h * w])
                .Concat(prepared.SyntheticHoldoutMasks.Select(m => m.Values.Select(v => v >= 0.5f ? (byte)1 : (byte)0).ToArray())).ToList();
            var pixels = new float[(long)maps.Count * h * w];
            var pixelLabels = new byte[pixels.Length];
            for (int i = 0; i < maps.Count; i++)
            {
                maps[i].Values.CopyTo(pixels, (long)i * h * w);
                masks[i].CopyTo(pixelLabels, (long)i * h * w);
            }
            if (pixelLabels.Any(l => l == 1))
            {
                pixel = Metrics.Auroc(pixels, pixelLabels);
                aupro = Metrics.Aupro(maps.Select(m => m.Values).ToList(), masks, h, w, MetricsSuite.AuproMaxFpr);
            }
        }
        var ms = good.MsPerImage.Keys.ToDictionary(k => k, k =>
            (good.MsPerImage[k] * good.ImageScores.Length + synthetic.MsPerImage[k] * synthetic.ImageScores.Length) / scores.Length);
        return (new ValidationMetrics(image, pixel, aupro, weights.Combine(image, pixel, aupro), good.ImageScores.Length, synthetic.ImageScores.Length), ms);
    }
}
