using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Service;

/// <summary>One request waiting to be scored.</summary>
sealed class InspectionJob(string category, byte[] image, string extension, long pixels, bool wantsHeatMap)
{
    /// <summary>Width x height as the header declares it: what decoding the image will cost (about 16 bytes a pixel).</summary>
    public long Pixels { get; } = pixels;
    public bool WantsHeatMap { get; } = wantsHeatMap;
    public string Id { get; } = Guid.CreateVersion7().ToString("N");
    public string Category { get; } = category;
    public byte[] Image { get; } = image;
    public string Extension { get; } = extension;
    public DateTime ReceivedUtc { get; } = DateTime.UtcNow;
    public long EnqueuedTicks { get; } = Stopwatch.GetTimestamp();
    public TaskCompletionSource<InspectionOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>What a request gets back: the result and the model that gave it, or why there is none.</summary>
sealed record InspectionOutcome
{
    public InspectionResult? Result { get; init; }
    public StoredInspection? Record { get; init; }
    /// <summary>The normalised heat map (0.5 = threshold) as a grey PNG, at the map's size.</summary>
    public byte[]? HeatMapPng { get; init; }
    public bool Stored { get; init; }
    public string? StoreError { get; init; }
    public int BatchSize { get; init; }
    public double QueueMs { get; init; }
    public double BatchMs { get; init; }
    /// <summary>Of <see cref="BatchMs"/>, the durable writes: reject files and the batch's database commit.</summary>
    public double StoreMs { get; init; }
    /// <summary>Set when the part could not be scored: HTTP status and message.</summary>
    public (int Status, string Title, string Detail)? Failure { get; init; }
}

/// <summary>
/// A bounded queue in front of one scoring loop. Requests that arrive while a batch is scored wait together and are
/// scored as the next batch (up to <see cref="ServiceOptions.MaxBatch"/>, one backbone call); each category's part of
/// a batch is scored by one model lease, so a response names exactly the model that scored it. A full queue refuses
/// at once (the endpoint answers 429): the bodies waiting take at most the queue places times the request size limit,
/// and a batch's decoding is bounded by <see cref="ServiceOptions.MaxBatchPixels"/>.
/// Results are stored (one transaction per batch) before any response of the batch is released.
/// </summary>
sealed class InspectionQueue : IAsyncDisposable
{
    readonly Channel<InspectionJob> _channel;
    readonly ModelRegistry _registry;
    readonly ResultsStore _store;
    readonly ServiceOptions _options;
    readonly ILogger _log;
    readonly Task _loop;
    long _batches, _scored;
    double _rejectWriteMs; // of the batch being scored (one loop: no sharing)

    public InspectionQueue(ModelRegistry registry, ResultsStore store, ServiceOptions options, ILogger log)
    {
        _registry = registry; _store = store; _options = options; _log = log;
        _channel = Channel.CreateBounded<InspectionJob>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true, FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    const long LargeBatchPixels = 4_000_000;

    public int Waiting => _channel.Reader.Count;
    public long Batches => Interlocked.Read(ref _batches);
    public long Scored => Interlocked.Read(ref _scored);

    /// <summary>False when the queue is full (or closed): the caller refuses the request with 429.</summary>
    public bool TryEnqueue(InspectionJob job) => _channel.Writer.TryWrite(job);

    async Task Run()
    {
        var reader = _channel.Reader;
        var batch = new List<InspectionJob>(_options.MaxBatch);
        while (await reader.WaitToReadAsync())
        {
            batch.Clear();
            // A batch is decoded at once: its declared pixels are bounded (MaxBatchPixels), not only its count, or eight
            // small, flat 25-megapixel PNGs would cost gigabytes. One image is always taken, whatever its size.
            long pixels = 0;
            while (batch.Count < _options.MaxBatch && reader.TryPeek(out var next) && (batch.Count == 0 || pixels + next.Pixels <= _options.MaxBatchPixels)
                && reader.TryRead(out var job))
            {
                batch.Add(job);
                pixels += job.Pixels;
            }
            if (batch.Count == 0) continue;
            try { ScoreBatch(batch); }
            catch (Exception e)
            {
                // Never leave a request waiting: whatever went wrong, every job of the batch gets an answer.
                _log.LogError(e, "Scoring a batch of {Count} failed unexpectedly", batch.Count);
                foreach (var job in batch)
                    job.Done.TrySetResult(new InspectionOutcome { Failure = (500, "Scoring failed",
                        $"The service could not score the image: {(ComponentFaultException.In(e) ?? e).Message}") });
            }
            // A large batch leaves its decoded pixels (about 12 bytes a pixel) on the large-object heap, which the GC lets
            // several batches pile up before collecting (four 25 MP images one after the other peaked at 1.8 GB):
            // collected now, the next batch reuses that memory. Small batches are left to the GC.
            if (pixels > LargeBatchPixels) GC.Collect();
        }
    }

    void ScoreBatch(List<InspectionJob> batch)
    {
        long start = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _batches);
        var outcomes = new List<(InspectionJob Job, InspectionOutcome Outcome)>();
        foreach (var group in batch.GroupBy(j => j.Category, StringComparer.Ordinal))
        {
            var jobs = group.ToList();
            var lease = _registry.Acquire(group.Key);
            if (lease is not { } held)
            {
                foreach (var job in jobs)
                    outcomes.Add((job, new InspectionOutcome { Failure = (404, "Unknown category", $"No model is served for '{job.Category}' any more (its file was removed).") }));
                continue;
            }
            using var _ = held;
            var scored = ScoreGroup(held.Served.Model, jobs);
            for (int i = 0; i < jobs.Count; i++)
                outcomes.Add((jobs[i], scored[i].Result is { } r ? Describe(jobs[i], r, held.Served) : new InspectionOutcome { Failure = scored[i].Failure }));
        }
        long storeStart = Stopwatch.GetTimestamp();
        var records = outcomes.Where(o => o.Outcome.Record is not null).Select(o => o.Outcome.Record!).ToList();
        string? storeError = null;
        IReadOnlySet<string> imagesRemoved = new HashSet<string>();
        try { imagesRemoved = _store.Save(records); }
        catch (Exception e)
        {
            storeError = $"The result was not stored: {_store.Advice(e)}. The verdict stands, but it is not in the results database.";
            _log.LogError("Storing {Count} results failed: {Message}", records.Count, e.Message);
            // No row names these files, so retention would never remove them: a database that cannot be written would fill the disk.
            foreach (var record in records)
                try { _store.DeleteRejectFiles(record); }
                catch (Exception d) when (d is IOException or UnauthorizedAccessException) { _log.LogError("Removing the files of reject {Id} failed: {Message}", record.Id, d.Message); }
        }
        Interlocked.Add(ref _scored, records.Count);
        double batchMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        double storeMs = Stopwatch.GetElapsedTime(storeStart).TotalMilliseconds + _rejectWriteMs;
        _rejectWriteMs = 0;
        foreach (var (job, outcome) in outcomes)
        {
            // Retention may remove a batch's own images at once (more rejects in it than are kept): their answers link none.
            var record = outcome.Record is { } r && imagesRemoved.Contains(r.Id) ? r with { ImageFile = null, HeatFile = null } : outcome.Record;
            job.Done.TrySetResult(outcome with
            {
                Record = record,
                Stored = outcome.Record is not null && storeError is null,
                StoreError = outcome.Record is null ? null : storeError ?? outcome.StoreError,
                BatchSize = batch.Count,
                BatchMs = batchMs,
                StoreMs = storeMs,
                QueueMs = Stopwatch.GetElapsedTime(job.EnqueuedTicks, start).TotalMilliseconds,
            });
        }
    }

    /// <summary>
    /// One engine call for the group: an image that cannot be decoded, or that the scorer gives no finite score, fails
    /// alone; if the call itself fails, each image is scored alone so only the one at fault fails.
    /// </summary>
    static (InspectionResult? Result, (int, string, string)? Failure)[] ScoreGroup(AnomalyModel model, List<InspectionJob> jobs)
    {
        try
        {
            return model.InspectReadable(jobs.Select(j => ImageSource.FromBytes(j.Id, j.Image)).ToList())
                .Select((o, i) => (o.Result, o.Error is { } error ? Refusal(jobs[i], error, o.Unscorable) : ((int, string, string)?)null)).ToArray();
        }
        catch (PipelineException) when (jobs.Count > 1)
        {
            return jobs.Select(j => ScoreGroup(model, [j])[0]).ToArray();
        }
        catch (PipelineException e)
        {
            return [(null, Refusal(jobs[0], e.Message, unscorable: false))];
        }
    }

    static (int, string, string) Refusal(InspectionJob job, string error, bool unscorable)
    {
        // The engine names the image by its internal id, which the client never saw.
        string Named(string name) => error.Replace(job.Id, name, StringComparison.Ordinal);
        // No verdict, never "OK": the client must treat the part as not inspected.
        return unscorable
            ? (422, "Image cannot be scored", Named("the sent image") + " The part has no verdict: inspect it by other means.")
            : (422, "Image cannot be decoded", Named("sent") + " Send the complete file as the camera saved it (PNG, JPEG or BMP); a cut-off upload or a damaged file fails here.");
    }

    InspectionOutcome Describe(InspectionJob job, InspectionResult result, ServedModel served)
    {
        var model = served.Model;
        string? imageFile = null, heatFile = null, filesError = null;
        // With no reject images kept (--keep-rejects 0), none is written only to be deleted by the retention.
        if (result.IsAnomaly && _options.RejectImagesKept > 0)
        {
            long writeStart = Stopwatch.GetTimestamp();
            // A full or read-only disk loses the reject's picture, not its verdict or its row (a file in the rejects
            // folder's place is the PipelineException of the atomic write's folder check).
            try { (imageFile, heatFile) = _store.SaveRejectFiles(job.Id, job.Image, job.Extension, RejectOverlay.HeatFile(result, model)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PipelineException)
            {
                // The message names the path: it goes to the log only.
                filesError = "The reject's image was not kept (the rejects folder cannot be written: see the service log); its result was.";
                _log.LogError("Keeping the image of reject {Id} failed: {Message}", job.Id, e.Message);
            }
            _rejectWriteMs += Stopwatch.GetElapsedTime(writeStart).TotalMilliseconds;
        }
        return new InspectionOutcome
        {
            StoreError = filesError,
            Result = result,
            HeatMapPng = job.WantsHeatMap ? HeatMapPng(result, model) : null,
            Record = new StoredInspection
            {
                Id = job.Id, Category = job.Category, ReceivedUtc = job.ReceivedUtc, IsAnomaly = result.IsAnomaly, Score = result.Score,
                RawScore = result.RawScore, Threshold = model.Threshold, ModelId = result.ModelId, ModelVersion = served.Version,
                MapWidth = result.RawMap.Width, MapHeight = result.RawMap.Height, Regions = result.Regions, Rules = result.Rules,
                Timings = result.Timings, ImageFile = imageFile, HeatFile = heatFile, InputWarning = result.InputWarning,
            },
        };
    }

    /// <summary>The normalised map as a grey PNG, as <c>pf score --maps</c> writes it.</summary>
    static byte[] HeatMapPng(InspectionResult result, AnomalyModel model)
    {
        var map = result.NormalizedMap(model.Normalization);
        using var bitmap = ImageLoader.ToBitmap(new ImageTensor(1, map.Height, map.Width, map.Values));
        using var png = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        // Requests already accepted are scored and stored before the service stops.
        _channel.Writer.TryComplete();
        await _loop;
    }
}
