using Microsoft.ML;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Core.MLNet;

/// <summary><c>mlContext.VisualAnomaly()</c>: pipelines and models for visual anomaly detection.</summary>
public sealed class VisualAnomalyCatalog
{
    internal VisualAnomalyCatalog(MLContext context, IComponentCatalog components)
    {
        Context = context;
        Components = components;
    }

    public MLContext Context { get; }
    /// <summary>The installed plugins (the application's plugins/ folder and PF_PLUGIN_PATH).</summary>
    public IComponentCatalog Components { get; }

    /// <summary>An estimator from a pipeline JSON file (validated now, before any work).</summary>
    public VisualAnomalyEstimator Pipeline(string pipelineJsonPath, string imagePathColumn = VisualAnomalyColumns.DefaultImagePath) =>
        new(AnomalyPipeline.FromFile(pipelineJsonPath, Components), imagePathColumn);

    /// <summary>An estimator from pipeline JSON text.</summary>
    public VisualAnomalyEstimator PipelineFromJson(string json, string imagePathColumn = VisualAnomalyColumns.DefaultImagePath) =>
        new(AnomalyPipeline.FromJson(json, Components), imagePathColumn);

    /// <summary>Loads a model file written by <c>pf fit</c> or <see cref="VisualAnomalyTransformer.SaveModel"/>.</summary>
    public VisualAnomalyTransformer LoadModel(string modelPath, string imagePathColumn = VisualAnomalyColumns.DefaultImagePath) =>
        new(AnomalyModel.Load(modelPath, Components), imagePathColumn);
}

public static class VisualAnomalyMLContextExtensions
{
    static readonly Lazy<ComponentCatalog> DefaultComponents = new(() => ComponentCatalog.CreateDefault());

    public static VisualAnomalyCatalog VisualAnomaly(this MLContext context, IComponentCatalog? components = null) =>
        new(context, components ?? DefaultComponents.Value);
}
