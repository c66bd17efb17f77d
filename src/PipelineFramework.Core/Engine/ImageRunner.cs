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

    /// <summary>Embeds image files, decoded one batch at a time, into one batch [N, H, W, D].</summary>
    public FeatureBatch ExtractAll(IReadOnlyList<string> paths, IProgress<ProgressUpdate>? progress, string stage, CancellationToken cancellation) =>
        Embed(paths.Count, (start, count) => LoadBatch(paths.Skip(start).Take(count).ToList()), progress, stage, cancellation);

    /// <summary>Embeds decoded images batch by batch into one batch.</summary>
    public FeatureBatch Embed(IReadOnlyList<ImageTensor> images) =>
        Embed(images.Count, (start, count) => images.Skip(start).Take(count).ToList(), null, "", default);

    FeatureBatch Embed(int total, Func<int, int, IReadOnlyList<ImageTensor>> batchAt, IProgress<ProgressUpdate>? progress, string stage,
        CancellationToken cancellation)
    {
        var (h, w, d) = extractor.OutputShape;
        int perImage = h * w * d;
        var data = new float[(long)total * perImage];
        for (int start = 0; start < total; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            var batch = extractor.Extract(batchAt(start, Math.Min(batchSize, total - start)));
            batch.Data.AsSpan().CopyTo(data.AsSpan(start * perImage));
            progress?.Report(new ProgressUpdate(stage, Math.Min(start + batchSize, total), total));
        }
        return new FeatureBatch(total, h, w, d, data);
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
