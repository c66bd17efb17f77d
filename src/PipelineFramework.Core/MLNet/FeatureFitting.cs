using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// Fitting and scoring on a feature-vector column (<c>ApplyOnnxModel</c>'s output, [C, h, w] per row) instead of
/// images: the pipeline's backbone is <see cref="FeatureColumnBackbone"/>, and the engine's own preparation (seeded
/// hold-out split of distinct rows) and fit run on the maps. Image synthesis needs images, so it is refused here.
/// </summary>
static class FeatureFitting
{
    public static bool UsesFeatureColumn(AnomalyPipeline pipeline) => pipeline.Spec.Backbone.Type == FeatureColumnBackbone.TypeName;

    /// <summary>[C, h, w] of a float vector column whose last three dimensions are the map (leading ones must be 1).</summary>
    public static (int Channels, int Height, int Width) ShapeOf(DataViewSchema.Column column)
    {
        if (column.Type is not VectorDataViewType { ItemType: var item } vector || item != NumberDataViewType.Single)
            throw new PipelineException($"Column '{column.Name}' is {column.Type}; a feature column must be a float vector (e.g. ApplyOnnxModel's output).");
        var dims = vector.Dimensions;
        if (dims.Length < 3 || dims.Any(d => d <= 0) || dims[..^3].Any(d => d != 1))
            throw new PipelineException($"Column '{column.Name}' has dimensions [{string.Join(", ", dims)}]; a feature map needs known dimensions [.., C, h, w] "
                + "(give ApplyOnnxModel a shapeDictionary when the graph's are symbolic).");
        return (dims[^3], dims[^2], dims[^1]);
    }

    /// <summary>The pipeline with the feature map's shape in its backbone and a map the size of the feature grid.</summary>
    public static JsonObject WithShape(JsonObject json, string column, (int Channels, int Height, int Width) shape)
    {
        if (shape.Height != shape.Width)
            throw new PipelineException($"Column '{column}' holds {shape.Height} x {shape.Width} maps; only square maps are supported.");
        var backbone = json["backbone"]!.AsObject();
        backbone["layer"] = column;
        backbone["channels"] = shape.Channels;
        backbone["height"] = shape.Height;
        backbone["width"] = shape.Width;
        var input = json["input"] as JsonObject ?? new JsonObject();
        input["size"] = shape.Height;
        input["crop"] = shape.Height;
        json["input"] = input;
        return json;
    }

    public static ImageTensor ToTensor(VBuffer<float> value, LayerInfo layer, string id)
    {
        if (value.Length != layer.ValuesPerImage)
            throw new PipelineException($"{id} holds {value.Length} values; the feature map {layer.Channels}x{layer.Height}x{layer.Width} needs {layer.ValuesPerImage}.");
        return new ImageTensor(layer.Channels, layer.Height, layer.Width, value.DenseValues().ToArray());
    }

    /// <summary>Passes the map through untouched: the backbone's input geometry equals the map's.</summary>
    public static ImageSource Source(string id, ImageTensor map) => new(id, _ => new PreparedImage(map, map.Height, map.Width));

    public static LayerInfo Layer(AnomalyPipeline pipeline) => Layer(pipeline.Spec);

    /// <summary>The shape the pipeline's <see cref="FeatureColumnBackbone"/> takes (its options, else the input geometry).</summary>
    public static LayerInfo Layer(Spec.PipelineSpec spec) =>
        (System.Text.Json.JsonSerializer.Deserialize<FeatureColumnOptions>(spec.Backbone.Options, Plugins.ComponentOptions.Json)
            ?? new FeatureColumnOptions()).LayerFor(spec.Geometry);

    public static AnomalyModel Fit(AnomalyPipeline pipeline, IDataView input, string column, IProgress<ProgressUpdate>? progress,
        CancellationToken cancellation = default)
    {
        if (pipeline.Spec.Synthesis.Count > 0)
            throw new PipelineException("$.synthesis: image synthesisers need images; a pipeline over a feature column cannot have a synthesis stage.");
        var layer = Layer(pipeline);
        var maps = new List<ImageTensor>();
        using (var cursor = input.GetRowCursor([input.Schema[column]]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(cursor.Schema[column]);
            VBuffer<float> value = default;
            while (cursor.MoveNext())
            {
                cancellation.ThrowIfCancellationRequested();
                getter(ref value);
                maps.Add(ToTensor(value, layer, $"row {cursor.Position} of '{column}'"));
            }
        }
        if (maps.Count < 2)
            throw new PipelineException($"Fitting needs at least 2 good rows (one is held out to set the threshold); got {maps.Count}.");

        var context = new FitContext { Seed = pipeline.Spec.Seed, Progress = progress, Cancellation = cancellation, Services = pipeline.Services };
        var backbone = new SharedBackbone(pipeline.Catalog.Guard(pipeline.Spec.Backbone, "fitting", () => pipeline.Backbone.Fit(pipeline.Spec.Geometry, context)),
            pipeline.Catalog, pipeline.Spec.Backbone);
        PreparedSet prepared;
        try
        {
            var all = backbone.Run(maps);
            var ids = Enumerable.Range(0, maps.Count).Select(i => $"row {i:D8}").ToList();
            var (fit, holdout, duplicates) = pipeline.Split(ids, maps.Select(AnomalyPipeline.Fingerprint).ToArray(), context.SeedFor("holdout"));
            prepared = new PreparedSet(pipeline.PrepareKey, backbone)
            {
                FitImages = fit.Select(i => ids[i]).ToList(),
                HoldoutImages = holdout.Select(i => ids[i]).ToList(),
                DuplicateImages = duplicates,
                FitMaps = all.Gather(fit),
                HoldoutMaps = all.Gather(holdout),
                Holdout = holdout.Select(i => new PreparedImage(maps[i], layer.Height, layer.Width)).ToList(),
                SyntheticHoldoutMaps = null,
                TrainingSyntheticMaps = null,
                TrainingSyntheticMasks = [],
            };
        }
        catch
        {
            backbone.Release();
            throw;
        }
        using (prepared) return pipeline.Fit(prepared, progress, cancellation);
    }
}
