using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Spec;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Conformance;

/// <summary>
/// Real inputs for the conformance suites: a few shipped hazelnut images run once per test run through the default
/// backbone and embedding, so scorers and embeddings are checked on the embeddings they meet in production.
/// </summary>
internal static class ConformanceData
{
    public const int Seed = 7;
    public static FitContext Context => new() { Seed = Seed };

    public static readonly Preprocessing Preprocessing = new(256, 224);

    public static InputGeometry Geometry
    {
        get
        {
            var input = new InputSpec();
            return new InputGeometry { Channels = 3, Height = input.Crop, Width = input.Crop, Mean = input.Mean, Std = input.Std };
        }
    }

    /// <summary>Good images the stages are fitted on.</summary>
    public static IReadOnlyList<ImageTensor> FitImages => LazyFitImages.Value;
    static readonly Lazy<ImageTensor[]> LazyFitImages = new(() =>
        Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order(StringComparer.Ordinal).Take(4)
            .Select(Preprocessing.Load).ToArray());

    /// <summary>Images the fitted stages are run on: two with colour defects and a good one.</summary>
    public static IReadOnlyList<ImageTensor> RunImages => LazyRunImages.Value;
    static readonly Lazy<ImageTensor[]> LazyRunImages = new(() =>
        new[] { "test/colour/00.jpg", "test/colour/01.jpg", "test/good/04.jpg" }
            .Select(p => Preprocessing.Load(Path.Combine(TestData.Hazelnut, p))).ToArray());

    public static object Create(string type, string options, string jsonPath) =>
        TestData.Catalog.Create(TestData.Catalog.Find(type), JsonNode.Parse(options)!.AsObject(), jsonPath);

    /// <summary>The shipped default backbone (backbone.onnx, MobileNetV2 int8), fitted once.</summary>
    public static IFittedBackbone Backbone => LazyBackbone.Value;
    static readonly Lazy<IFittedBackbone> LazyBackbone = new(() =>
        ((IBackbone)Create("backbone.onnx", "{}", "$.backbone")).Fit(Geometry, Context));

    public static LayerMaps FitMaps => LazyFitMaps.Value;
    static readonly Lazy<LayerMaps> LazyFitMaps = new(() => Backbone.Run(FitImages));

    public static LayerMaps RunMaps => LazyRunMaps.Value;
    static readonly Lazy<LayerMaps> LazyRunMaps = new(() => Backbone.Run(RunImages));

    /// <summary>The default embedding (embedding.patch) fitted on <see cref="FitMaps"/>.</summary>
    static readonly Lazy<IFittedPatchEmbedding> LazyEmbedding = new(() =>
        ((IPatchEmbedding)Create("embedding.patch", "{}", "$.embedding")).Fit(FitMaps, Context));

    public static FeatureBatch FitFeatures => LazyFitFeatures.Value;
    static readonly Lazy<FeatureBatch> LazyFitFeatures = new(() => LazyEmbedding.Value.Embed(FitMaps));

    public static FeatureBatch RunFeatures => LazyRunFeatures.Value;
    static readonly Lazy<FeatureBatch> LazyRunFeatures = new(() => LazyEmbedding.Value.Embed(RunMaps));

    /// <summary>
    /// Runs <paramref name="work"/>(thread) on 8 threads released together; returns each thread's result. Threads are
    /// given different work (the same images in another order): with identical work a buffer shared between calls
    /// is overwritten with identical values, and the race goes unseen. Each thread runs its work
    /// <paramref name="rounds"/> times, so that short calls overlap too; result t * rounds + r is thread t's round r.
    /// </summary>
    public static T[] OnEightThreadsAtOnce<T>(Func<int, T> work, int rounds = 1)
    {
        const int threads = 8;
        var results = new T[threads * rounds];
        var errors = new Exception?[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try { for (int r = 0; r < rounds; r++) results[t * rounds + r] = work(t); }
            catch (Exception e) { errors[t] = e; }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        foreach (var e in errors) if (e is not null) throw new AggregateException("A thread failed.", e);
        return results;
    }
}

/// <summary>The same images in another order: image i of the result is image (i + shift) mod count.</summary>
internal static class Rotate
{
    public static int[] Order(int count, int shift) => Enumerable.Range(0, count).Select(i => (i + shift) % count).ToArray();

    public static IReadOnlyList<T> List<T>(IReadOnlyList<T> items, int shift) => Order(items.Count, shift).Select(i => items[i]).ToList();

    public static FeatureBatch Batch(FeatureBatch batch, int shift)
    {
        int perImage = batch.PatchesPerImage * batch.Dim;
        var data = new float[batch.Data.Length];
        var order = Order(batch.Count, shift);
        for (int i = 0; i < order.Length; i++) batch.Image(order[i]).CopyTo(data.AsSpan(i * perImage, perImage));
        return new FeatureBatch(batch.Count, batch.Height, batch.Width, batch.Dim, data);
    }

    public static LayerMaps Maps(LayerMaps maps, int shift) =>
        maps.Gather(Order(maps.Count, shift).ToList());
}

/// <summary>
/// Copies of results taken at once, so that a component handing out a buffer it later overwrites is seen (comparing
/// two results that are the same array proves nothing).
/// </summary>
internal static class Snapshot
{
    public static PatchScores Of(PatchScores s) => new(s.Count, s.Height, s.Width, (float[])s.Values.Clone(), (float[])s.ImageScores.Clone());
    public static FeatureBatch Of(FeatureBatch b) => new(b.Count, b.Height, b.Width, b.Dim, (float[])b.Data.Clone());
    public static LayerMaps Of(LayerMaps m) => new(m.Count, m.Layers.ToList(), m.Data.Select(d => (float[])d.Clone()).ToList());
}

/// <summary>Equality to the bit: 0 and -0 differ, NaN payloads count, so "same result" means the same floats.</summary>
internal static class Bits
{
    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}.");
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: value {i} is {actual[i]:R}, expected {expected[i]:R} (and maybe more differ).");
    }

    public static void Equal(PatchScores expected, PatchScores actual, string what)
    {
        Assert.Equal((expected.Count, expected.Height, expected.Width), (actual.Count, actual.Height, actual.Width));
        Equal(expected.Values, actual.Values, what + " patch scores");
        Equal(expected.ImageScores, actual.ImageScores, what + " image scores");
    }

    public static void Equal(FeatureBatch expected, FeatureBatch actual, string what)
    {
        Assert.Equal((expected.Count, expected.Height, expected.Width, expected.Dim), (actual.Count, actual.Height, actual.Width, actual.Dim));
        Equal(expected.Data, actual.Data, what);
    }

    public static void Equal(LayerMaps expected, LayerMaps actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Layers, actual.Layers);
        for (int l = 0; l < expected.Layers.Count; l++) Equal(expected.Data[l], actual.Data[l], $"{what} layer '{expected.Layers[l].Name}'");
    }
}
