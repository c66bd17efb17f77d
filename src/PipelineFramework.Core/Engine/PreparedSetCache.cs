using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// Prepared sets kept in memory up to a byte budget, least recently used first out, keyed by the pipeline's
/// <see cref="AnomalyPipeline.PrepareKey"/> and the identity of the images (path, size, last write time), so trials
/// that differ only after the backbone share one backbone pass and a changed image is prepared again. The cache owns
/// the sets it hands out: callers fit from them and do not dispose them.
/// </summary>
public sealed class PreparedSetCache(long maxBytes) : IDisposable
{
    readonly Lock _gate = new();
    readonly LinkedList<(string Key, PreparedSet Set)> _entries = new();

    public long MaxBytes { get; } = maxBytes > 0 ? maxBytes : throw new ArgumentOutOfRangeException(nameof(maxBytes), "The budget must be positive.");
    public int Hits { get; private set; }
    public int Misses { get; private set; }
    public int Count { get { lock (_gate) return _entries.Count; } }
    public long SizeInBytes { get { lock (_gate) return _entries.Sum(e => e.Set.SizeInBytes); } }

    public PreparedSet GetOrPrepare(AnomalyPipeline pipeline, IReadOnlyList<string> goodImages, IProgress<ProgressUpdate>? progress = null,
        CancellationToken cancellation = default)
    {
        string key = pipeline.PrepareKey + "\n" + string.Join("\n", goodImages.Select(Identity));
        lock (_gate)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                if (node.Value.Key != key) continue;
                _entries.Remove(node);
                _entries.AddFirst(node);
                Hits++;
                return node.Value.Set;
            }
            Misses++;
        }
        var prepared = pipeline.Prepare(goodImages, progress, cancellation);
        lock (_gate)
        {
            _entries.AddFirst((key, prepared));
            long total = _entries.Sum(e => e.Set.SizeInBytes);
            // The newest set stays even when it alone exceeds the budget: the caller is about to use it.
            while (total > MaxBytes && _entries.Count > 1)
            {
                var oldest = _entries.Last!.Value;
                _entries.RemoveLast();
                total -= oldest.Set.SizeInBytes;
                oldest.Set.Dispose();
            }
        }
        return prepared;
    }

    static string Identity(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}" : path;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var (_, set) in _entries) set.Dispose();
            _entries.Clear();
        }
    }
}
