using System.Globalization;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Embedding;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// A fit's peak memory estimated from the image count and the pipeline's shapes before any work, in bytes by what holds
/// them. The peak is the largest of three moments: the backbone pass ending (every image's layer maps, split into fitting
/// and hold-out), the scorer fitting (the fitting images' patch embeddings and the scorer's own arrays), and the logic
/// checks fitting (decoded images). docs/reliability.md compares it with measured peaks.
/// </summary>
public sealed record FitMemoryEstimate
{
    public required int Images { get; init; }
    /// <summary>Layer maps of every image, of the synthetic and shifted sets, and one layer copied during the split.</summary>
    public required long LayerMaps { get; init; }
    /// <summary>Patch embeddings of the fitting images, at once (the scorer fits on all of them).</summary>
    public required long Embeddings { get; init; }
    /// <summary>What the scorer holds besides the embeddings (<see cref="IScorer.FitBytes"/>).</summary>
    public required long Scorer { get; init; }
    /// <summary>Decoded images kept for logic checks or per-pixel statistics, at whichever moment is the peak.</summary>
    public required long DecodedImages { get; init; }
    /// <summary>.NET, ONNX Runtime with the backbone's network, and the backbone's working memory for one batch.</summary>
    public required long Runtime { get; init; }
    /// <summary>Values in the largest single array (the fitting images' embeddings): .NET arrays hold at most <see cref="Array.MaxLength"/>.</summary>
    public required long LargestArray { get; init; }

    /// <summary>The resident peak expected: the parts with the GC's slack (<see cref="FitMemory.GcSlack"/>), plus the runtime.</summary>
    public long Total => LayerMaps + Embeddings + Scorer + DecodedImages + Runtime;

    /// <summary>
    /// What must be live at the peak: the parts without the GC's slack. Under memory pressure the GC collects before it
    /// grows, so a fit between this and <see cref="Total"/> may still succeed; above this it cannot.
    /// </summary>
    public long LiveTotal => (long)((LayerMaps + Embeddings + Scorer + DecodedImages) / FitMemory.GcSlack) + Runtime;

    /// <summary>The parts that hold memory at the peak, largest first.</summary>
    public string Breakdown => string.Join(", ", new[] { ("patch embeddings", Embeddings), ("scorer", Scorer), ("layer maps", LayerMaps), ("decoded images", DecodedImages), ("runtime", Runtime) }
        .Where(p => p.Item2 > 0).OrderByDescending(p => p.Item2).Select(p => $"{p.Item1} {FitMemory.Format(p.Item2)}"));
}

/// <summary>
/// Refuses a fit that cannot fit in memory before it starts, with the estimate, what is available and what to change,
/// instead of the kernel's out-of-memory kill (no message) after a long backbone pass.
/// </summary>
public static class FitMemory
{
    /// <summary>
    /// The process before any image: .NET, the ONNX runtime with the backbone's network, and the backbone's working
    /// memory for one batch.
    /// </summary>
    internal const long RuntimeBytes = 300L << 20;

    /// <summary>
    /// The resident peak per live byte: the GC leaves arrays no longer used resident until it needs the room, and freed
    /// small arrays do not make room for a large one. With these two constants the estimate is within 5 % of the peaks
    /// measured on bottle (627 MiB at 209 images, 1,223 MiB at 627; docs/reliability.md, "Fit memory").
    /// </summary>
    internal const double GcSlack = 1.5;

    public static FitMemoryEstimate Estimate(AnomalyPipeline pipeline, IReadOnlyList<LayerInfo> layers, int images)
    {
        var spec = pipeline.Spec;
        var calibration = spec.Calibration;
        int holdout = Math.Clamp((int)Math.Round(calibration.Holdout * images), 1, Math.Max(1, images - 1));
        int fitting = Math.Max(1, images - holdout);
        long mapValues = layers.Sum(l => (long)l.ValuesPerImage);
        long largestLayer = layers.Count == 0 ? 0 : layers.Max(l => (long)l.ValuesPerImage);
        long synthetic = calibration.SyntheticCount + calibration.TrainingSyntheticCount + (long)holdout * calibration.ShiftedGoods;
        long keptMaps = ((long)images + synthetic) * mapValues * sizeof(float);

        var (height, width, dim) = EmbeddingShape(pipeline, layers);
        int positions = height * width;
        long embeddings = (long)fitting * positions * dim * sizeof(float);
        // A plugin's answer, so guarded as its other calls are, and never taken below nothing.
        long scorer = Math.Max(0, pipeline.Catalog.Guard(spec.Scoring, "estimating its fit memory", () => pipeline.Scorer.FitBytes(fitting, positions, dim)));

        var geometry = spec.Geometry;
        long cropped = (long)geometry.Channels * geometry.Height * geometry.Width * sizeof(float);
        long whole = Math.Max(cropped, (long)geometry.Channels * spec.Input.Size * spec.Input.Size * sizeof(float));
        // Per-pixel statistics of the good images: every image at half size, as Half, until the split is known.
        long goodPixels = (long)images * geometry.Channels * (geometry.Height / Explain.GoodPixels.DefaultFactor) * (geometry.Width / Explain.GoodPixels.DefaultFactor) * 2;
        // Logic checks see the hold-out images (cropped and whole) and every fitting image whole; the embeddings are gone by then.
        long logicImages = spec.Logic.Count == 0 ? 0 : holdout * (cropped + whole) + fitting * whole;

        // The three moments that can be the peak: the backbone pass ending, the scorer fitting, the logic checks fitting.
        var moments = new (long LayerMaps, long Embeddings, long Scorer, long DecodedImages)[]
        {
            (keptMaps + (long)images * largestLayer * sizeof(float), 0, 0, goodPixels),
            (keptMaps, embeddings, scorer, 0),
            (keptMaps, 0, 0, logicImages),
        };
        var peak = moments.MaxBy(m => m.LayerMaps + m.Embeddings + m.Scorer + m.DecodedImages);
        return new FitMemoryEstimate
        {
            Images = images,
            LayerMaps = Slack(peak.LayerMaps),
            Embeddings = Slack(peak.Embeddings),
            Scorer = Slack(peak.Scorer),
            DecodedImages = Slack(peak.DecodedImages),
            Runtime = RuntimeBytes,
            LargestArray = (long)fitting * positions * dim,
        };
    }

    static long Slack(long bytes) => (long)(bytes * GcSlack);

    /// <summary>The embedding's grid and size: exact for embedding.patch (it needs only the layer shapes), else every layer concatenated at the finest grid.</summary>
    static (int Height, int Width, int Dim) EmbeddingShape(AnomalyPipeline pipeline, IReadOnlyList<LayerInfo> layers)
    {
        if (pipeline.Embedding is PatchEmbedding patch)
        {
            try
            {
                using var fitted = patch.Fit(new LayerMaps(0, layers, layers.Select(_ => Array.Empty<float>()).ToArray()), new FitContext { Seed = pipeline.Spec.Seed });
                return fitted.OutputShape;
            }
            // A layer the backbone does not return: the fit reports it where it always has; the estimate takes every layer.
            catch (PipelineException) { }
        }
        return layers.Count == 0 ? (1, 1, 1) : (layers.Max(l => l.Height), layers.Max(l => l.Width), layers.Sum(l => l.Channels));
    }

    /// <summary>
    /// Memory this process can use: the smaller of the GC's limit (physical memory, a container's limit or
    /// DOTNET_GCHeapHardLimit) and what the system has free now plus what this process already holds.
    /// </summary>
    public static (long Bytes, string Source) Available()
    {
        long limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        string source = "the memory limit of this process: physical memory, a container's limit or DOTNET_GCHeapHardLimit";
        if (MemAvailable() is { } free && free + Environment.WorkingSet < limit)
            return (free + Environment.WorkingSet, "free memory now plus what pf already holds");
        return (limit, source);
    }

    static long? MemAvailable()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : null;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>
    /// Throws when what must be live at the peak exceeds the memory available (a fit that clearly cannot fit) or its
    /// largest array what .NET can allocate, naming both and how many images would fit; warns when the expected
    /// resident peak is above 80 % of the memory available. Refusing on the resident peak instead would refuse fits
    /// that succeed because the GC collects harder when memory is short.
    /// </summary>
    public static void Require(AnomalyPipeline pipeline, IReadOnlyList<LayerInfo> layers, int images, (long Bytes, string Source) available)
    {
        var estimate = Estimate(pipeline, layers, images);
        bool tooLarge = estimate.LiveTotal > available.Bytes;
        bool arrayTooLarge = estimate.LargestArray > Array.MaxLength;
        if (!tooLarge && !arrayTooLarge)
        {
            if (estimate.Total > available.Bytes * 0.8)
                pipeline.Services.Log.Warning($"Fitting {images:N0} images needs about {Format(estimate.Total)} of memory at its peak, {(estimate.Total > available.Bytes ? "more than" : "close to")} the {Format(available.Bytes)} available (at least {Format(estimate.LiveTotal)} must be live); other programs starting now could make the system stop it.");
            return;
        }
        int fits = ImagesThatFit(pipeline, layers, images, available.Bytes);
        string problem = arrayTooLarge
            ? $"their patch embeddings would be one array of {estimate.LargestArray:N0} values, more than .NET can allocate ({Array.MaxLength:N0})"
            : $"that needs at least {Format(estimate.LiveTotal)} of memory at its peak, about {Format(estimate.Total)} resident ({estimate.Breakdown}), and {Format(available.Bytes)} is available ({available.Source})";
        string fewer = fits >= 2 ? $"fit on at most about {fits:N0} of them (a folder holding a representative subset)" : "fit on fewer images";
        throw new PipelineException(
            $"Fitting {images:N0} good images with pipeline '{pipeline.Spec.Name}' would not fit: {problem}. Nothing was fitted. "
            + $"To fix: {fewer}; or lower the memory per image: a smaller input.crop, fewer or smaller backbone layers, or "
            + "\"reduction\": \"projection\" with a smaller \"targetDim\" in the embedding; or run on a machine with more memory. "
            + "docs/reliability.md (\"Fit memory\") lists what each part costs.");
    }

    /// <summary>The most images whose estimate fits in <paramref name="bytes"/> and whose arrays .NET can allocate (the estimate grows with the count).</summary>
    static int ImagesThatFit(AnomalyPipeline pipeline, IReadOnlyList<LayerInfo> layers, int images, long bytes)
    {
        bool Fits(int n) { var e = Estimate(pipeline, layers, n); return e.LiveTotal <= bytes && e.LargestArray <= Array.MaxLength; }
        int low = 1, high = images;
        while (low < high)
        {
            int middle = low + (high - low + 1) / 2;
            if (Fits(middle)) low = middle; else high = middle - 1;
        }
        return Fits(low) ? low : 0;
    }

    internal static string Format(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("0", CultureInfo.InvariantCulture) + " MiB";
}
