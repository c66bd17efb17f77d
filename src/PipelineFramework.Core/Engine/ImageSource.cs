using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Engine;

/// <summary>An image to fit on or inspect: an id for results and errors, and how to decode it.</summary>
public sealed record ImageSource(string Id, Func<Preprocessing, PreparedImage> Load)
{
    public static ImageSource FromFile(string path) => new(path, p => p.LoadPrepared(path));

    /// <summary>Encoded bytes (PNG, JPEG, BMP) as read from a file, a camera or a request body.</summary>
    public static ImageSource FromBytes(string id, byte[] bytes) => new(id, p => p.DecodePrepared(bytes, id));

    /// <summary>Decoded RGB pixels at the image's own size (an ML.NET MLImage, a camera frame already decoded).</summary>
    public static ImageSource FromPixels(string id, ImageTensor pixels) => new(id, p => p.Prepare(pixels));

    /// <summary>A stream of encoded bytes, read now (the stream may be closed afterwards).</summary>
    public static ImageSource FromStream(string id, Stream stream)
    {
        using var copy = new MemoryStream();
        try { stream.CopyTo(copy); }
        catch (IOException e) { throw new PipelineException($"Cannot read image {id} from its stream: {e.Message}", e); }
        return FromBytes(id, copy.ToArray());
    }

    public static IReadOnlyList<ImageSource> FromFiles(IEnumerable<string> paths) => paths.Select(FromFile).ToList();
}

/// <summary>The one batching loop of the engine: decode in parallel, then hand each batch to the caller.</summary>
static class Batches
{
    public static void ForEach(int total, int batchSize, Action<int, int> body, IProgress<ProgressUpdate>? progress, string stage,
        CancellationToken cancellation)
    {
        for (int start = 0; start < total; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = Math.Min(batchSize, total - start);
            body(start, count);
            progress?.Report(new ProgressUpdate(stage, start + count, total));
        }
    }

    /// <summary>
    /// Decodes and preprocesses in parallel; of several unreadable images the first in input order is reported, by
    /// name, so the message does not depend on thread timing.
    /// </summary>
    public static PreparedImage[] Decode(IReadOnlyList<ImageSource> sources, Preprocessing preprocessing)
    {
        var (images, errors) = TryDecode(sources, preprocessing);
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw new PipelineException(first.Message, first);
        return images!;
    }

    /// <summary>Decodes in parallel; an image that cannot be read gets its error in place of its pixels.</summary>
    public static (PreparedImage?[] Images, PipelineException?[] Errors) TryDecode(IReadOnlyList<ImageSource> sources, Preprocessing preprocessing)
    {
        var images = new PreparedImage?[sources.Count];
        var errors = new PipelineException?[sources.Count];
        // At most one decode per core (a decode blocks long enough for the thread pool to add threads), and a large
        // image's decoded pixels collected as soon as it is resized: the GC otherwise lets them pile up on the
        // large-object heap. Measured on 8 images of 100 megapixels in one Transform batch (2 cores): 11.9 GB peak
        // before, 9.7 GB with the cap alone.
        Parallel.For(0, sources.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            try { images[i] = sources[i].Load(preprocessing); }
            catch (PipelineException e) { errors[i] = e; }
            if (images[i] is { } image && (long)image.OriginalWidth * image.OriginalHeight >= LargeImagePixels) GC.Collect();
        });
        return (images, errors);
    }

    /// <summary>Decoded at about 16 bytes a pixel, an image this large leaves 256 MB or more behind once resized.</summary>
    const long LargeImagePixels = 16_000_000;
}

/// <summary>
/// A fitted backbone shared by a prepared set and the models fitted from it: disposed when the last holder lets go.
/// Counts the images it runs, so tests and benchmarks can see that trials share one backbone pass.
/// </summary>
sealed class SharedBackbone
{
    readonly IFittedBackbone _backbone;
    readonly Plugins.IComponentCatalog _catalog;
    readonly Spec.ComponentSpec _spec;
    int _holders = 1;
    long _images;

    /// <param name="catalog">With <paramref name="spec"/>: where the backbone came from, to name it when it fails.</param>
    public SharedBackbone(IFittedBackbone backbone, Plugins.IComponentCatalog catalog, Spec.ComponentSpec spec)
    {
        _backbone = backbone;
        _catalog = catalog;
        _spec = spec;
    }

    public IReadOnlyList<LayerInfo> Layers => _backbone.Layers;
    public IFittedBackbone Component => _backbone;
    public long ImagesRun => Interlocked.Read(ref _images);

    public LayerMaps Run(IReadOnlyList<ImageTensor> images)
    {
        Interlocked.Add(ref _images, images.Count);
        return Plugins.ComponentGuard.Guard(_catalog, _spec, "extracting features", () => _backbone.Run(images));
    }

    public SharedBackbone Acquire()
    {
        if (Interlocked.Increment(ref _holders) <= 1) throw new ObjectDisposedException("backbone", "The prepared set or model holding this backbone was disposed.");
        return this;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0) _backbone.Dispose();
    }
}
