using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Engine;

/// <summary>Decodes and preprocesses images in parallel, then feeds the extractor and the scorer batch by batch.</summary>
sealed class ImageRunner(Preprocessing preprocessing, IFittedFeatureExtractor extractor, int batchSize)
{
    public IReadOnlyList<ImageTensor> LoadBatch(IReadOnlyList<string> paths)
    {
        var images = new ImageTensor[paths.Count];
        try
        {
            Parallel.For(0, paths.Count, i => images[i] = preprocessing.Load(paths[i]));
        }
        catch (AggregateException e) when (e.InnerExceptions.OfType<PipelineException>().FirstOrDefault() is { } first)
        {
            // The first unreadable file, named, rather than a wrapper the user cannot act on.
            throw new PipelineException(first.Message, first);
        }
        return images;
    }

    /// <summary>Embeds every image into one batch [N, H, W, D].</summary>
    public FeatureBatch ExtractAll(IReadOnlyList<string> paths, IProgress<ProgressUpdate>? progress, string stage, CancellationToken cancellation)
    {
        var (h, w, d) = extractor.OutputShape;
        int perImage = h * w * d;
        var data = new float[(long)paths.Count * perImage];
        for (int start = 0; start < paths.Count; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            var slice = paths.Skip(start).Take(batchSize).ToList();
            var batch = extractor.Extract(LoadBatch(slice));
            batch.Data.AsSpan().CopyTo(data.AsSpan(start * perImage));
            progress?.Report(new ProgressUpdate(stage, Math.Min(start + batchSize, paths.Count), paths.Count));
        }
        return new FeatureBatch(paths.Count, h, w, d, data);
    }

    public PatchScores Score(IReadOnlyList<string> paths, IFittedScorer scorer, IProgress<ProgressUpdate>? progress, string stage, CancellationToken cancellation)
    {
        var parts = new List<PatchScores>();
        for (int start = 0; start < paths.Count; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            var slice = paths.Skip(start).Take(batchSize).ToList();
            parts.Add(ScoreImages(LoadBatch(slice), scorer));
            progress?.Report(new ProgressUpdate(stage, Math.Min(start + batchSize, paths.Count), paths.Count));
        }
        return Concat(parts);
    }

    /// <summary>Embeds decoded images batch by batch into one batch.</summary>
    public FeatureBatch Embed(IReadOnlyList<ImageTensor> images)
    {
        var (h, w, d) = extractor.OutputShape;
        var data = new float[(long)images.Count * h * w * d];
        for (int start = 0; start < images.Count; start += batchSize)
        {
            var batch = extractor.Extract(images.Skip(start).Take(batchSize).ToList());
            batch.Data.AsSpan().CopyTo(data.AsSpan(start * h * w * d));
        }
        return new FeatureBatch(images.Count, h, w, d, data);
    }

    public PatchScores ScoreImages(IReadOnlyList<ImageTensor> images, IFittedScorer scorer)
    {
        var parts = new List<PatchScores>();
        for (int start = 0; start < images.Count; start += batchSize)
        {
            var slice = images.Skip(start).Take(batchSize).ToList();
            parts.Add(scorer.Score(extractor.Extract(slice)));
        }
        return Concat(parts);
    }

    static PatchScores Concat(IReadOnlyList<PatchScores> parts)
    {
        if (parts.Count == 1) return parts[0];
        if (parts.Count == 0) return new PatchScores(0, 1, 1, [], []);
        var first = parts[0];
        return new PatchScores(parts.Sum(p => p.Count), first.Height, first.Width,
            parts.SelectMany(p => p.Values).ToArray(), parts.SelectMany(p => p.ImageScores).ToArray());
    }
}
