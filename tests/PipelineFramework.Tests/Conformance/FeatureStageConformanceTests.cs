using System.Collections.Concurrent;
using PipelineFramework.Abstractions;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.Conformance.ConformanceData;

namespace PipelineFramework.Tests.Conformance;

/// <summary>
/// What every backbone and patch embedding in the catalog must do: the same input gives the same maps and embeddings,
/// a saved stage gives them to the bit after loading, one fitted stage serves many threads, and input of the wrong
/// shape is refused with a message naming the shapes. Checked on real hazelnut images; a plugin added later is
/// checked with no new test.
/// </summary>
public class FeatureStageConformanceTests
{
    // ---------------------------------------------------------------- backbones

    static IEnumerable<string> BackboneTypes() =>
        TestData.Catalog.Components.Where(d => d.Kind == ComponentKind.Backbone).Select(d => d.TypeName);

    public static TheoryData<string> Backbones() => new(BackboneTypes());

    static IBackbone CreateBackbone(string type) => (IBackbone)Create(type, "{}", "$.backbone");

    static IFittedBackbone FittedBackbone(string type) =>
        FittedBackbones.GetOrAdd(type, t => new Lazy<IFittedBackbone>(() => CreateBackbone(t).Fit(Geometry, Context))).Value;
    static readonly ConcurrentDictionary<string, Lazy<IFittedBackbone>> FittedBackbones = new();

    [Fact]
    public void The_suite_covers_the_shipped_feature_stages()
    {
        Assert.Contains("backbone.onnx", BackboneTypes());
        Assert.Contains("embedding.patch", Embeddings().Select(row => (string)row[0]));
    }

    [Theory]
    [MemberData(nameof(Backbones))]
    public void Backbone_run_twice_gives_identical_layer_maps_that_differ_between_images(string type)
    {
        var backbone = FittedBackbone(type);
        var first = backbone.Run(RunImages);
        Bits.Equal(first, backbone.Run(RunImages), $"{type} run twice");
        for (int l = 0; l < first.Layers.Count; l++)
            Assert.False(first.Image(l, 0).SequenceEqual(first.Image(l, 2)), $"{type}: layer '{first.Layers[l].Name}' is the same for two different images.");
    }

    [Theory]
    [MemberData(nameof(Backbones))]
    public void Backbone_layers_describe_the_maps_it_returns(string type)
    {
        var backbone = FittedBackbone(type);
        var maps = backbone.Run(RunImages);
        Assert.NotEmpty(backbone.Layers);
        Assert.Equal(RunImages.Count, maps.Count);
        Assert.Equal(backbone.Layers, maps.Layers);
        for (int l = 0; l < maps.Layers.Count; l++)
            Assert.Equal((long)maps.Count * backbone.Layers[l].ValuesPerImage, maps.Data[l].Length);
    }

    [Theory]
    [MemberData(nameof(Backbones))]
    public void Saved_and_loaded_backbone_gives_bit_identical_layer_maps(string type)
    {
        var backbone = FittedBackbone(type);
        var store = new MemoryModelStore();
        backbone.Save(store);
        using var loaded = CreateBackbone(type).Load(Geometry, store, Context);
        Assert.Equal(backbone.Layers, loaded.Layers);
        Bits.Equal(backbone.Run(RunImages), loaded.Run(RunImages), $"{type} after save and load");
    }

    [Theory]
    [MemberData(nameof(Backbones))]
    public void Eight_threads_running_the_backbone_at_once_match_one_thread(string type)
    {
        var backbone = FittedBackbone(type);
        int count = RunImages.Count;
        var inputs = Enumerable.Range(0, count).Select(shift => Rotate.List(RunImages, shift)).ToArray();
        var expected = inputs.Select(input => Snapshot.Of(backbone.Run(input))).ToArray();
        const int rounds = 2;
        var results = OnEightThreadsAtOnce(t => Snapshot.Of(backbone.Run(inputs[t % count])), rounds);
        for (int i = 0; i < results.Length; i++) Bits.Equal(expected[i / rounds % count], results[i], $"{type} thread {i / rounds}");
    }

    [Theory]
    [MemberData(nameof(Backbones))]
    public void An_image_of_the_wrong_size_gives_a_pipeline_exception_naming_both_sizes(string type)
    {
        var geometry = Geometry;
        int width = geometry.Width - 24;
        var image = new ImageTensor(3, geometry.Height, width, new float[3 * geometry.Height * width]);
        var e = Assert.Throws<PipelineException>(() => FittedBackbone(type).Run([RunImages[0], image]));
        Assert.Contains($"{geometry.Height}x{width}", e.Message);
        Assert.Contains($"{geometry.Height}x{geometry.Width}", e.Message);
    }

    // ---------------------------------------------------------------- patch embeddings

    /// <summary>Every patch embedding with its defaults, plus embedding.patch's neighbourhoods and reductions.</summary>
    public static TheoryData<string, string> Embeddings()
    {
        var data = new TheoryData<string, string>();
        foreach (var d in TestData.Catalog.Components.Where(d => d.Kind == ComponentKind.PatchEmbedding)) data.Add(d.TypeName, "{}");
        data.Add("embedding.patch", """{ "patchSize": 1 }""");
        data.Add("embedding.patch", """{ "patchSize": 5, "reduction": "pool", "targetDim": 100 }""");
        data.Add("embedding.patch", """{ "reduction": "projection", "targetDim": 64 }""");
        data.Add("embedding.patch", """{ "layers": ["feat_f13_s16_96ch", "feat_f6_s8_32ch"] }""");
        return data;
    }

    static IPatchEmbedding CreateEmbedding(string type, string options) => (IPatchEmbedding)Create(type, options, "$.embedding");

    static IFittedPatchEmbedding FitEmbedding(string type, string options) => CreateEmbedding(type, options).Fit(FitMaps, Context);

    [Theory]
    [MemberData(nameof(Embeddings))]
    public void Embedding_fitted_twice_embeds_bit_identically(string type, string options)
    {
        var first = FitEmbedding(type, options).Embed(RunMaps);
        Bits.Equal(first, FitEmbedding(type, options).Embed(RunMaps), $"{type} {options} fitted twice");
        Assert.True(first.Data.Distinct().Count() > 1, $"{type} {options}: every embedding value is the same.");
    }

    [Theory]
    [MemberData(nameof(Embeddings))]
    public void Embedding_output_shape_matches_the_batch_it_embeds(string type, string options)
    {
        var embedding = FitEmbedding(type, options);
        var batch = embedding.Embed(RunMaps);
        Assert.Equal(RunMaps.Count, batch.Count);
        Assert.Equal(embedding.OutputShape, (batch.Height, batch.Width, batch.Dim));
    }

    [Theory]
    [MemberData(nameof(Embeddings))]
    public void Saved_and_loaded_embedding_gives_bit_identical_embeddings(string type, string options)
    {
        var embedding = FitEmbedding(type, options);
        var store = new MemoryModelStore();
        embedding.Save(store);
        using var loaded = CreateEmbedding(type, options).Load(FitMaps.Layers, store, Context);
        Assert.Equal(embedding.OutputShape, loaded.OutputShape);
        Bits.Equal(embedding.Embed(RunMaps), loaded.Embed(RunMaps), $"{type} {options} after save and load");
    }

    [Theory]
    [MemberData(nameof(Embeddings))]
    public void Eight_threads_embedding_at_once_match_one_thread(string type, string options)
    {
        var embedding = FitEmbedding(type, options);
        int count = RunMaps.Count;
        var inputs = Enumerable.Range(0, count).Select(shift => Rotate.Maps(RunMaps, shift)).ToArray();
        var expected = inputs.Select(input => Snapshot.Of(embedding.Embed(input))).ToArray();
        const int rounds = 5;
        var results = OnEightThreadsAtOnce(t => Snapshot.Of(embedding.Embed(inputs[t % count])), rounds);
        for (int i = 0; i < results.Length; i++) Bits.Equal(expected[i / rounds % count], results[i], $"{type} {options} thread {i / rounds}");
    }

    [Theory]
    [MemberData(nameof(Embeddings))]
    public void Maps_without_a_fitted_layer_give_a_pipeline_exception_naming_it(string type, string options)
    {
        var maps = RunMaps;
        var missing = maps.Layers[^1];
        var fewer = new LayerMaps(maps.Count, maps.Layers.SkipLast(1).ToList(), maps.Data.SkipLast(1).ToList());
        var e = Assert.Throws<PipelineException>(() => FitEmbedding(type, options).Embed(fewer));
        Assert.Contains(missing.Name, e.Message);
    }

    [Theory]
    [MemberData(nameof(Embeddings))]
    public void Maps_with_a_layer_of_another_shape_give_a_pipeline_exception_naming_both_shapes(string type, string options)
    {
        // The first layer loses its last channel: same names, same grid, one channel fewer.
        var maps = RunMaps;
        var layer = maps.Layers[0];
        var narrower = layer with { Channels = layer.Channels - 1 };
        var data = new float[(long)maps.Count * narrower.ValuesPerImage];
        for (int i = 0; i < maps.Count; i++)
            maps.Image(0, i)[..narrower.ValuesPerImage].CopyTo(data.AsSpan(i * narrower.ValuesPerImage, narrower.ValuesPerImage));
        var changed = new LayerMaps(maps.Count, [narrower, .. maps.Layers.Skip(1)], [data, .. maps.Data.Skip(1)]);

        var e = Assert.Throws<PipelineException>(() => FitEmbedding(type, options).Embed(changed));
        Assert.Contains($"{layer.Channels}x{layer.Height}x{layer.Width}", e.Message);
        Assert.Contains($"{narrower.Channels}x{layer.Height}x{layer.Width}", e.Message);
    }

    /// <summary>embedding.patch's own promise: the finest tapped grid, all tapped channels or the target size.</summary>
    [Theory]
    [InlineData(1, "none", 0)]
    [InlineData(3, "none", 0)]
    [InlineData(5, "none", 0)]
    [InlineData(1, "projection", 48)]
    [InlineData(3, "projection", 64)]
    [InlineData(5, "pool", 100)]
    [InlineData(3, "pool", 17)]
    public void Patch_embedding_has_the_finest_grid_and_the_chosen_size(int patchSize, string reduction, int targetDim)
    {
        string options = targetDim > 0
            ? $$"""{ "patchSize": {{patchSize}}, "reduction": "{{reduction}}", "targetDim": {{targetDim}} }"""
            : $$"""{ "patchSize": {{patchSize}}, "reduction": "{{reduction}}" }""";
        var embedding = FitEmbedding("embedding.patch", options);
        var batch = embedding.Embed(RunMaps);
        int expectedDim = reduction == "none" ? RunMaps.Layers.Sum(l => l.Channels) : targetDim;
        var expected = (RunMaps.Layers.Max(l => l.Height), RunMaps.Layers.Max(l => l.Width), expectedDim);
        Assert.Equal(expected, embedding.OutputShape);
        Assert.Equal(expected, (batch.Height, batch.Width, batch.Dim));
        Assert.Equal(RunMaps.Count, batch.Count);
    }
}
