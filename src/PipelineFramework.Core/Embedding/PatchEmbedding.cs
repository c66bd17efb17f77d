using System.Text.Json;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Core.Embedding;

public enum DimensionReduction
{
    /// <summary>Keep every channel of every chosen layer.</summary>
    None,
    /// <summary>Seeded Gaussian random projection to <see cref="PatchEmbeddingOptions.TargetDim"/>.</summary>
    Projection,
    /// <summary>Average adjacent channels down to <see cref="PatchEmbeddingOptions.TargetDim"/> (PatchCore's adaptive pooling).</summary>
    Pool,
}

public sealed record PatchEmbeddingOptions : IValidatableOptions
{
    /// <summary>Backbone layers to tap, by name; empty = every layer the backbone returns.</summary>
    public string[] Layers { get; init; } = [];
    /// <summary>Local neighbourhood aggregation: mean over a PatchSize x PatchSize window per layer (PatchCore uses 3; 1 = off).</summary>
    [OptionRange(1, 15, SearchMax = 7)] public int PatchSize { get; init; } = 3;
    public DimensionReduction Reduction { get; init; } = DimensionReduction.None;
    /// <summary>Embedding size after reduction (ignored when Reduction is none).</summary>
    [OptionRange(1, 4096, SearchMin = 32, SearchMax = 512, LogScale = true)] public int TargetDim { get; init; } = 128;

    public IEnumerable<OptionError> Validate()
    {
        if (PatchSize % 2 == 0) yield return new("patchSize", "must be odd (the window is centred on the patch)");
        if (Layers.Distinct().Count() != Layers.Length) yield return new("layers", "names a layer twice");
    }
}

/// <summary>
/// PatchCore's "locally aware patch features" (Roth et al., CVPR 2022): each tapped layer is averaged over a local
/// neighbourhood, upsampled to the finest grid among them, the channels concatenated (channels last), then optionally
/// reduced. Built in: it is shared by every backbone.
/// </summary>
[PipelineComponent("embedding.patch", Description = "Patch embeddings: layer taps, neighbourhood mean, upsample + concat, optional reduction")]
public sealed class PatchEmbedding(PatchEmbeddingOptions options) : IPatchEmbedding
{
    public PatchEmbeddingOptions Options { get; } = options;

    public IFittedPatchEmbedding Fit(LayerMaps good, FitContext context) => new FittedPatchEmbedding(Options, good.Layers, context.Seed);

    public IFittedPatchEmbedding Load(IReadOnlyList<LayerInfo> layers, IModelReader state, FitContext context)
    {
        // Models written before the embedding was its own stage kept the projection seed in the features settings.
        int seed = context.Seed;
        if (state.Contains("settings.json"))
        {
            try { seed = JsonSerializer.Deserialize<SavedSettings>(state.ReadText("settings.json"))?.Seed ?? seed; }
            catch (JsonException e) { throw new PipelineException($"embedding.patch: settings.json in the model file is not valid JSON ({e.Message}); the file is damaged. Copy it again or fit again.", e); }
        }
        return new FittedPatchEmbedding(Options, layers, seed);
    }

    internal sealed record SavedSettings(int Seed);
}

sealed class FittedPatchEmbedding : IFittedPatchEmbedding
{
    readonly PatchEmbeddingOptions _options;
    readonly int[] _taps;
    readonly IReadOnlyList<LayerInfo> _layers;
    readonly int _seed, _gridHeight, _gridWidth, _concatDim;
    readonly float[]? _projection;

    public FittedPatchEmbedding(PatchEmbeddingOptions options, IReadOnlyList<LayerInfo> layers, int seed)
    {
        _options = options;
        _layers = layers;
        _seed = seed;
        _taps = options.Layers.Length == 0
            ? Enumerable.Range(0, layers.Count).ToArray()
            : options.Layers.Select(name => IndexOf(layers, name)).ToArray();
        var tapped = _taps.Select(t => layers[t]).ToList();
        _gridHeight = tapped.Max(l => l.Height);
        _gridWidth = tapped.Max(l => l.Width);
        _concatDim = tapped.Sum(l => l.Channels);
        if (options.Reduction == DimensionReduction.Projection)
            _projection = RandomProjection.CreateMatrix(_concatDim, options.TargetDim, seed);
    }

    static int IndexOf(IReadOnlyList<LayerInfo> layers, string name)
    {
        for (int i = 0; i < layers.Count; i++) if (layers[i].Name == name) return i;
        throw new PipelineException($"embedding.patch: the backbone returns no layer '{name}'; it returns {string.Join(", ", layers.Select(l => l.Name))}. " +
            "Add it to the backbone's \"layers\" or remove it from the embedding's.");
    }

    public (int Height, int Width, int Dim) OutputShape =>
        (_gridHeight, _gridWidth, _options.Reduction == DimensionReduction.None ? _concatDim : _options.TargetDim);

    public FeatureBatch Embed(LayerMaps maps)
    {
        if (maps.Layers.Count != _layers.Count || maps.Layers.Zip(_layers).Any(p => p.First != p.Second))
            throw new PipelineException($"embedding.patch: got layers {Describe(maps.Layers)}; it was fitted on {Describe(_layers)}. The backbone changed since fitting: fit again.");
        var (h, w, dim) = OutputShape;
        int perImage = h * w * dim;
        var data = new float[(long)maps.Count * perImage];
        Parallel.For(0, maps.Count, i => EmbedImage(maps, i, data.AsSpan(i * perImage, perImage)));
        return new FeatureBatch(maps.Count, h, w, dim, data);
    }

    static string Describe(IReadOnlyList<LayerInfo> layers) => string.Join(", ", layers.Select(l => $"{l.Name} {l.Channels}x{l.Height}x{l.Width}"));

    void EmbedImage(LayerMaps maps, int image, Span<float> destination)
    {
        int positions = _gridHeight * _gridWidth;
        var concat = new float[positions * _concatDim];
        int channelOffset = 0;
        foreach (int tap in _taps)
        {
            var layer = _layers[tap];
            int c = layer.Channels, lh = layer.Height, lw = layer.Width;
            var planes = maps.Image(tap, image);
            var aggregated = _options.PatchSize > 1 ? MapOps.BoxFilterChw(planes, c, lh, lw, _options.PatchSize) : planes.ToArray();
            for (int ch = 0; ch < c; ch++)
            {
                var plane = aggregated.AsSpan(ch * lh * lw, lh * lw);
                var grid = lh == _gridHeight && lw == _gridWidth ? plane.ToArray() : MapOps.ResizeBilinear(plane, lh, lw, _gridHeight, _gridWidth);
                int column = channelOffset + ch;
                for (int p = 0; p < positions; p++) concat[p * _concatDim + column] = grid[p];
            }
            channelOffset += c;
        }
        switch (_options.Reduction)
        {
            case DimensionReduction.None:
                concat.CopyTo(destination);
                break;
            case DimensionReduction.Projection:
                RandomProjection.Project(concat, positions, _concatDim, _projection!, _options.TargetDim).CopyTo(destination);
                break;
            case DimensionReduction.Pool:
                MapOps.AdaptiveAvgPoolLastDim(concat, positions, _concatDim, _options.TargetDim).CopyTo(destination);
                break;
        }
    }

    public void Save(IModelWriter state) =>
        state.WriteText("settings.json", JsonSerializer.Serialize(new PatchEmbedding.SavedSettings(_seed)));
}
