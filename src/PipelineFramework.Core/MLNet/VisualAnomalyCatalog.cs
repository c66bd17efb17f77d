using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// <c>mlContext.VisualAnomaly()</c>: pipelines and models for visual anomaly detection. A pipeline comes from JSON
/// (<see cref="Pipeline"/>, <see cref="PipelineFromJson"/>) or from typed components
/// (<c>va.PatchCore(o => o.CoresetRatio = 0.05).With(va.Backbone.Onnx(o => o.Layers = [...]))</c>); both give the same
/// <see cref="AnomalyPipeline"/>, and <see cref="VisualAnomalyEstimator.ToJson"/> writes it back as JSON.
/// </summary>
public sealed partial class VisualAnomalyCatalog
{
    internal VisualAnomalyCatalog(MLContext context, IComponentCatalog components)
    {
        Context = context;
        Components = components;
    }

    public MLContext Context { get; }
    /// <summary>The installed plugins (the application's plugins/ folder and PF_PLUGIN_PATH).</summary>
    public IComponentCatalog Components { get; }

    public SynthesisCatalog Synthesis { get; } = new();
    public BackboneCatalog Backbone { get; } = new();
    public EmbeddingCatalog Embedding { get; } = new();
    public ScoringCatalog Scoring { get; } = new();
    public ThresholdCatalog Threshold { get; } = new();
    public LogicCatalog Logic { get; } = new();
    public ExplainCatalog Explain { get; } = new();

    /// <summary>An estimator from a pipeline JSON file (validated now, before any work).</summary>
    public VisualAnomalyEstimator Pipeline(string pipelineJsonPath, string imageColumnName = VisualAnomalyColumns.DefaultImagePath)
    {
        ArgumentNullException.ThrowIfNull(pipelineJsonPath);
        ArgumentNullException.ThrowIfNull(imageColumnName);
        string text;
        try { text = File.ReadAllText(pipelineJsonPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The engine's own reader words the error (missing file, did-you-mean for shipped names).
            return new(AnomalyPipeline.FromFile(pipelineJsonPath, Components), imageColumnName, Components);
        }
        return FromJsonText(text, pipelineJsonPath, imageColumnName);
    }

    /// <summary>An estimator from pipeline JSON text.</summary>
    public VisualAnomalyEstimator PipelineFromJson(string json, string imageColumnName = VisualAnomalyColumns.DefaultImagePath)
    {
        ArgumentNullException.ThrowIfNull(json);
        return FromJsonText(json, "pipeline", imageColumnName);
    }

    /// <summary>
    /// A pipeline from typed components (<c>va.Scoring.PatchCore(...)</c>, <c>va.Backbone.Onnx(...)</c>, ...). A stage
    /// given no component takes its default; the backbone defaults to <c>backbone.onnx</c> (the built-in MobileNetV2).
    /// </summary>
    public VisualAnomalyEstimator Create(string imageColumnName, params VisualAnomalyComponent[] components)
    {
        var json = new JsonObject { ["name"] = "mlnet" };
        if (!components.Any(c => c.Section == StageKinds.Backbone.Section))
            json[StageKinds.Backbone.Section] = new JsonObject { ["type"] = "backbone.onnx" };
        return FromJsonNode(VisualAnomalyEstimator.Place(json, components), "typed pipeline", imageColumnName);
    }

    /// <inheritdoc cref="Create(string, VisualAnomalyComponent[])"/>
    public VisualAnomalyEstimator Create(params VisualAnomalyComponent[] components) => Create(VisualAnomalyColumns.DefaultImagePath, components);

    /// <summary>
    /// A pipeline over a feature-vector column computed upstream in ML.NET (e.g. <c>ApplyOnnxModel</c>'s output,
    /// [.., C, h, w] per row) rather than images: the embedding, scorer, map and threshold of the engine run on it.
    /// The shape is read from the column at fit. Image synthesis is not available on features.
    /// </summary>
    public VisualAnomalyEstimator OnFeatures(string featureColumnName, params VisualAnomalyComponent[] components)
    {
        var json = new JsonObject
        {
            ["name"] = "mlnet-features",
            ["backbone"] = new JsonObject { ["type"] = FeatureColumnBackbone.TypeName, ["layer"] = featureColumnName },
        };
        return FromJsonNode(VisualAnomalyEstimator.Place(json, components), "typed pipeline", featureColumnName);
    }

    /// <summary>Loads a model file written by <c>pf fit</c> or <see cref="VisualAnomalyTransformer.SaveModel"/>.</summary>
    public VisualAnomalyTransformer LoadModel(string modelPath, string imageColumnName = VisualAnomalyColumns.DefaultImagePath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ArgumentNullException.ThrowIfNull(imageColumnName);
        return new(AnomalyModel.Load(modelPath, Components), imageColumnName);
    }

    VisualAnomalyEstimator FromJsonText(string text, string source, string imageColumnName)
    {
        JsonNode? node = null;
        try { node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException) { } // the engine's parser reports it with line and position
        if (node is not JsonObject json)
            return new(AnomalyPipeline.FromJson(text, Components, source), imageColumnName, Components);
        return FromJsonNode(json, source, imageColumnName);
    }

    /// <summary>The MLContext's seed goes where the JSON gives none, so <c>new MLContext(seed: 7)</c> means what it says.</summary>
    VisualAnomalyEstimator FromJsonNode(JsonObject json, string source, string imageColumnName)
    {
        if (!json.ContainsKey("seed") && SeedOf(Context) is { } seed) json["seed"] = seed;
        return new(AnomalyPipeline.FromJson(json.ToJsonString(), Components, source), imageColumnName, Components);
    }

    /// <summary>
    /// ML.NET keeps the seed given to <c>new MLContext(seed)</c> behind internal types; it is read by reflection and
    /// null when absent (no seed given, or a future ML.NET that moved it: then the pipeline's default seed applies).
    /// </summary>
    internal static int? SeedOf(MLContext context)
    {
        foreach (var field in typeof(MLContext).GetFields(BindingFlags.NonPublic | BindingFlags.Instance))
        {
            if (field.GetValue(context) is not { } value) continue;
            for (var type = value.GetType(); type is not null; type = type.BaseType)
            {
                var property = type.GetProperties(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                    .FirstOrDefault(p => p.Name.EndsWith("Seed", StringComparison.Ordinal) && p.PropertyType == typeof(int?));
                if (property is not null) return (int?)property.GetValue(value);
            }
        }
        return null;
    }
}

public static class VisualAnomalyMLContextExtensions
{
    static readonly Lazy<ComponentCatalog> DefaultComponents = new(() => ComponentCatalog.CreateDefault());

    public static VisualAnomalyCatalog VisualAnomaly(this MLContext context, IComponentCatalog? components = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new(context, components ?? DefaultComponents.Value);
    }
}
