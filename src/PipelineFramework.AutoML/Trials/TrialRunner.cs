using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.AutoML.Trials;

/// <summary>
/// Runs one trial: the pipeline is prepared through the shared <see cref="PreparedSetCache"/> (trials that differ only
/// after the backbone reuse one backbone pass), fitted, and validated on its own hold-out: held-out good images and
/// synthetic anomalies made from them, at image and pixel level. Only training images are read. A trial that throws or
/// passes its memory share is returned as a record with the reason; cancellation is not a result and propagates.
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
    public AnomalyPipeline? TryCreate(JsonObject json, out string? error)
    {
        try
        {
            error = null;
            return AnomalyPipeline.FromJson(json.ToJsonString(), catalog, "trial", services);
        }
        catch (PipelineException e)
        {
            error = e.Message;
            return null;
        }
    }

    public TrialRecord Run(int number, double[] point, JsonObject json, CancellationToken cancellation)
    {
        var watch = Stopwatch.StartNew();
        var pipeline = TryCreate(json, out var parseError);
        TrialRecord Failure(string status, string reason, string key) => new()
        {
            Number = number, Status = status, Reason = reason, Key = key, Point = point, Pipeline = json,
            Seconds = watch.Elapsed.TotalSeconds, BackboneImagesTotal = BackboneImagesTotal, FinishedUtc = DateTime.UtcNow,
        };
        if (pipeline is null) return Failure(TrialRecord.Failed, parseError!, KeyOfJson(json));
        string key = KeyOf(pipeline);
        long backboneBefore = BackboneImagesTotal;
        try
        {
            int missesBefore = cache.Misses;
            var prepareWatch = Stopwatch.StartNew();
            var prepared = cache.GetOrPrepare(pipeline, trainImages, null, cancellation);
            long setBefore = prepared.BackboneImages;
            if (cache.Misses > missesBefore)
            {
                BackboneImagesTotal += prepared.BackboneImages;
                _prepareMsPerImage[pipeline.PrepareKey] = prepareWatch.Elapsed.TotalMilliseconds / Math.Max(1, prepared.BackboneImages);
            }
            using var model = pipeline.Fit(prepared, null, cancellation);
            var validation = Validate(model, prepared, objective);
            BackboneImagesTotal += prepared.BackboneImages - setBefore;

            var ms = new Dictionary<string, double> { ["backbone"] = _prepareMsPerImage.GetValueOrDefault(pipeline.PrepareKey) };
            foreach (var (stage, value) in validation.Ms) ms[stage] = value;
            ms["total"] = ms.Values.Sum();
            using var bytes = new MemoryStream();
            model.Save(bytes);
            long memory = Environment.WorkingSet;
            var record = new TrialRecord
            {
                Number = number, Status = TrialRecord.Ok, Key = key, Point = point, Pipeline = json, Validation = validation.Metrics,
                MsPerImage = ms.ToDictionary(p => p.Key, p => Math.Round(p.Value, 3)), ModelBytes = bytes.Length, MemoryBytes = memory,
                Seconds = watch.Elapsed.TotalSeconds, BackboneImages = BackboneImagesTotal - backboneBefore, BackboneImagesTotal = BackboneImagesTotal,
                FinishedUtc = DateTime.UtcNow,
            };
            if (memory > memoryShareBytes)
                return record with { Status = TrialRecord.OverMemory, Reason = $"working set {memory >> 20} MB is above the memory share {memoryShareBytes >> 20} MB" };
            return record;
        }
        catch (OperationCanceledException) { throw; }
        catch (OutOfMemoryException e) { return Failure(TrialRecord.OverMemory, e.Message, key); }
        catch (Exception e) { return Failure(TrialRecord.Failed, $"{e.GetType().Name}: {e.Message}", key); }
    }

    /// <summary>The key of a pipeline that does not parse: its JSON as written (a repeat is answered from the log all the same).</summary>
    public static string KeyOfJson(JsonObject json) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json.ToJsonString())))[..16].ToLowerInvariant();

    /// <summary>
    /// Image AUROC of held-out good images against synthetic anomalies; pixel AUROC and AUPRO of their heat maps against
    /// the synthetic masks (good images: all-zero masks); combined by the objective weights.
    /// </summary>
    internal static (ValidationMetrics Metrics, IReadOnlyDictionary<string, double> Ms) Validate(AnomalyModel model, PreparedSet prepared, ObjectiveWeights weights)
    {
        if (prepared.SyntheticHoldoutMaps is not { } syntheticMaps || prepared.SyntheticHoldoutMasks.Count == 0)
            throw new PipelineException("Validation needs synthetic anomalies: the search's validation section must name a synthesiser and a syntheticCount above 0.");
        var good = model.ScoreMaps(prepared.HoldoutMaps);
        var synthetic = model.ScoreMaps(syntheticMaps);
        var scores = good.ImageScores.Concat(synthetic.ImageScores).ToArray();
        var labels = good.ImageScores.Select(_ => (byte)0).Concat(synthetic.ImageScores.Select(_ => (byte)1)).ToArray();
        double image = Metrics.Auroc(scores, labels);

        var maps = good.Maps.Concat(synthetic.Maps).ToList();
        int h = maps[0].Height, w = maps[0].Width;
        double? pixel = null, aupro = null;
        if (prepared.SyntheticHoldoutMasks.All(m => m.Height == h && m.Width == w))
        {
            var masks = good.Maps.Select(_ => new byte[h * w])
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
