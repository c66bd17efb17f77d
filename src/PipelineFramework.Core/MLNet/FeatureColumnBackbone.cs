using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.MLNet;

public sealed record FeatureColumnOptions : IValidatableOptions
{
    /// <summary>The layer's name (the ML.NET column the feature vectors come from).</summary>
    [NotSearched] public string Layer { get; init; } = "Features";
    /// <summary>Shape of one row's map; 0 = the pipeline input's (channels 3, crop x crop).</summary>
    [OptionRange(0, 1 << 16), NotSearched] public int Channels { get; init; }
    [OptionRange(0, 4096), NotSearched] public int Height { get; init; }
    [OptionRange(0, 4096), NotSearched] public int Width { get; init; }

    internal LayerInfo LayerFor(InputGeometry input) => new()
    {
        Name = Layer,
        Channels = Channels > 0 ? Channels : input.Channels,
        Height = Height > 0 ? Height : input.Height,
        Width = Width > 0 ? Width : input.Width,
    };

    public IEnumerable<OptionError> Validate()
    {
        if (string.IsNullOrWhiteSpace(Layer)) yield return new("layer", "must name the feature column");
    }
}

/// <summary>
/// A backbone that has already run: each "image" it is given is one row's feature map [C, h, w] from an ML.NET column
/// (for example <c>ApplyOnnxModel</c>'s output), passed through unchanged as one layer. It lets the engine's embedding,
/// scorer, map, threshold and model file work on features an ML.NET pipeline computed.
/// </summary>
[PipelineComponent(TypeName, Description = "Feature maps computed upstream (an ML.NET feature-vector column), passed through as one layer")]
public sealed class FeatureColumnBackbone(FeatureColumnOptions options) : IBackbone
{
    public const string TypeName = "backbone.features";

    public FeatureColumnOptions Options { get; } = options;

    public IFittedBackbone Fit(InputGeometry input, FitContext context) => new Fitted(Options.LayerFor(input));

    public IFittedBackbone Load(InputGeometry input, IModelReader state, FitContext context) => new Fitted(Options.LayerFor(input));

    sealed class Fitted(LayerInfo layer) : IFittedBackbone
    {
        public IReadOnlyList<LayerInfo> Layers { get; } = [layer];

        public LayerMaps Run(IReadOnlyList<ImageTensor> images)
        {
            var layer = Layers[0];
            var data = new float[images.Count * layer.ValuesPerImage];
            for (int i = 0; i < images.Count; i++)
            {
                var map = images[i];
                if (map.Channels != layer.Channels || map.Height != layer.Height || map.Width != layer.Width)
                    throw new PipelineException($"{TypeName}: a row of '{layer.Name}' is {map.Channels}x{map.Height}x{map.Width}; the model was fitted on {layer.Channels}x{layer.Height}x{layer.Width}.");
                map.Pixels.CopyTo(data, i * layer.ValuesPerImage);
            }
            return new LayerMaps(images.Count, Layers, [data]);
        }

        // Everything it needs is in its options (the manifest keeps them); the weights live upstream, in the app's ML.NET pipeline.
        public void Save(IModelWriter state) { }
    }
}
