using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// One kind of pipeline stage: the JSON section it is declared in, the component kind that fills it, whether it holds
/// a list, whether a pipeline needs it, its default component, and whether its fitted state lives in the model file
/// (under <c>&lt;section&gt;/</c>, or <c>&lt;section&gt;/&lt;index&gt;/</c> for lists). The parser, the manifest, the model
/// file, the loader and <c>pf plugins</c> all read this one table.
/// </summary>
public sealed record StageKind
{
    public required string Section { get; init; }
    public required ComponentKind Kind { get; init; }
    /// <summary>How messages name a component of this kind ("a scorer", "a logic check").</summary>
    public required string Words { get; init; }
    public bool IsList { get; init; }
    public bool Required { get; init; }
    public string? DefaultType { get; init; }
    /// <summary>Fitted state in the model file; scoring a loaded model needs this stage's plugin.</summary>
    public bool Stored { get; init; }

    /// <summary>The model-file folder of the component at <paramref name="index"/>.</summary>
    public string StateFolder(int index) => IsList ? $"{Section}/{index}/" : $"{Section}/";

    /// <summary>The manifest's key for the component at <paramref name="index"/>.</summary>
    public string ManifestKey(int index) => IsList ? $"{Section}[{index}]" : Section;

    public override string ToString() => Section;
}

/// <summary>The stage kinds, in the order a pipeline runs them.</summary>
public static class StageKinds
{
    public static readonly StageKind Synthesis = new() { Section = "synthesis", Kind = ComponentKind.Synthesizer, Words = "synthesiser", IsList = true };
    public static readonly StageKind Backbone = new() { Section = "backbone", Kind = ComponentKind.Backbone, Words = "backbone", Required = true, Stored = true };
    public static readonly StageKind Embedding = new() { Section = "embedding", Kind = ComponentKind.PatchEmbedding, Words = "patch embedding", DefaultType = "embedding.patch", Stored = true };
    public static readonly StageKind Scoring = new() { Section = "scoring", Kind = ComponentKind.Scorer, Words = "scorer", Required = true, Stored = true };
    public static readonly StageKind Threshold = new() { Section = "threshold", Kind = ComponentKind.ThresholdPolicy, Words = "threshold policy", DefaultType = "threshold.quantile" };
    public static readonly StageKind Logic = new() { Section = "logic", Kind = ComponentKind.LogicCheck, Words = "logic check", IsList = true, Stored = true };
    public static readonly StageKind Explain = new() { Section = "explain", Kind = ComponentKind.Explainer, Words = "explainer" };

    /// <summary>
    /// Run order. Between scoring and threshold the host makes the heat map (<c>$.map</c>) and, after the threshold, the
    /// defect regions that logic checks and explainers read.
    /// </summary>
    public static readonly IReadOnlyList<StageKind> All = [Synthesis, Backbone, Embedding, Scoring, Threshold, Logic, Explain];

    public static StageKind Of(ComponentKind kind) => All.First(s => s.Kind == kind);
}
