namespace PipelineFramework.Abstractions;

/// <summary>What every stage's fit and load receive from the host.</summary>
public sealed record FitContext
{
    /// <summary>The pipeline's seed for anything random (coreset start, projections, synthesis); same seed, same model.</summary>
    public int Seed { get; init; }
    public IProgress<ProgressUpdate>? Progress { get; init; }
    public CancellationToken Cancellation { get; init; }
    /// <summary>Device, secrets, HTTP clients and log, lent by the host.</summary>
    public HostServices Services { get; init; } = HostServices.None;

    /// <summary>
    /// A seed for one purpose derived from the pipeline's seed, so two random choices in one pipeline (the hold-out
    /// split, a projection) never share a stream. Stable across runs and machines (FNV-1a of the purpose, mixed).
    /// </summary>
    public int SeedFor(string purpose)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in purpose) hash = (hash ^ c) * 1099511628211UL;
        ulong x = hash ^ (ulong)(uint)Seed;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return (int)(x ^ (x >> 31));
    }
}

/// <summary>The image geometry and normalisation a backbone is fed (recorded in the model file).</summary>
public sealed record InputGeometry
{
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public required float[] Mean { get; init; }
    public required float[] Std { get; init; }
}

// ---------------------------------------------------------------- backbone

/// <summary>Runs a network over images and returns the named layer maps it was asked for: one pass per image.</summary>
public interface IBackbone
{
    IFittedBackbone Fit(InputGeometry input, FitContext context);
    IFittedBackbone Load(InputGeometry input, IModelReader state, FitContext context);
}

public interface IFittedBackbone : IFittedComponent
{
    /// <summary>The layers <see cref="Run"/> returns, in order, with their shape for one image.</summary>
    IReadOnlyList<LayerInfo> Layers { get; }

    /// <summary>Layer maps of a batch of images in [0, 1] (the backbone applies the mean/std of <see cref="InputGeometry"/>).</summary>
    LayerMaps Run(IReadOnlyList<ImageTensor> images);
}

// ---------------------------------------------------------------- patch embedding

/// <summary>
/// Turns layer maps into patch embeddings: which layers to tap, neighbourhood aggregation, upsampling to one grid,
/// concatenation, reduction. Cheap compared with the backbone, so trials that differ only here share one backbone pass.
/// </summary>
public interface IPatchEmbedding
{
    /// <summary>Fits on the layer maps of the good fitting images (most embeddings only need their shapes).</summary>
    IFittedPatchEmbedding Fit(LayerMaps good, FitContext context);
    IFittedPatchEmbedding Load(IReadOnlyList<LayerInfo> layers, IModelReader state, FitContext context);
}

public interface IFittedPatchEmbedding : IFittedComponent
{
    /// <summary>Patch grid height, width and embedding size produced for one image.</summary>
    (int Height, int Width, int Dim) OutputShape { get; }

    FeatureBatch Embed(LayerMaps maps);
}

// ---------------------------------------------------------------- scoring

/// <summary>Patch embeddings with a per-patch label (1 = anomalous), e.g. made by a synthesiser from good images.</summary>
public sealed record LabeledFeatures(FeatureBatch Features, float[] PatchLabels);

/// <summary>What a scorer may learn from besides the good embeddings.</summary>
public sealed record ScorerFitInputs
{
    public required FeatureBatch Good { get; init; }

    /// <summary>Synthetic anomalies, when the pipeline has a synthesis stage; scorers that do not learn from them ignore it.</summary>
    public LabeledFeatures? Synthetic { get; init; }
}

/// <summary>Learns what good patches look like.</summary>
public interface IScorer
{
    IFittedScorer Fit(ScorerFitInputs inputs, FitContext context);
    IFittedScorer Load(IModelReader state, FitContext context);

    /// <summary>
    /// Bytes <see cref="Fit"/> holds at its peak besides the good embeddings it is given (<paramref name="images"/> x
    /// <paramref name="positions"/> patches of <paramref name="dim"/> floats), the fitted state included: the host adds
    /// it to its estimate and refuses a fit too large for the memory before any work. The default assumes one copy of
    /// the embeddings.
    /// </summary>
    long FitBytes(long images, int positions, int dim) => images * positions * dim * sizeof(float);
}

/// <summary>A fitted scorer: immutable and safe to call from several threads.</summary>
public interface IFittedScorer : IFittedComponent
{
    /// <summary>Higher = more anomalous. The image score is the scorer's own (e.g. max patch score).</summary>
    PatchScores Score(FeatureBatch features);
}

// ---------------------------------------------------------------- synthesis

/// <summary>A synthetic defect: the changed image and the exact mask of changed pixels (1 = defect).</summary>
public sealed record SyntheticAnomaly(ImageTensor Image, Grid2D Mask);

/// <summary>Where a synthesiser may take material from: other good images (never test images).</summary>
public sealed record SynthesisSource(IReadOnlyList<ImageTensor> GoodImages)
{
    /// <summary>
    /// Host service: decodes an image file (e.g. from a texture folder named in the synthesiser's options) at the
    /// pipeline's input geometry, so plugins need no image library of their own. Null where no files may be read.
    /// </summary>
    public Func<string, ImageTensor>? LoadImage { get; init; }
}

/// <summary>Makes a defect from a good image. Deterministic: same image, source and seed give the same result.</summary>
public interface IImageSynthesizer
{
    SyntheticAnomaly Synthesize(ImageTensor good, SynthesisSource source, int seed);
}

/// <summary>Makes anomalous patch embeddings from good ones (SimpleNet-style feature noise).</summary>
public interface IFeatureSynthesizer
{
    LabeledFeatures Perturb(FeatureBatch good, int seed);
}

// ---------------------------------------------------------------- thresholds

/// <summary>Scores a threshold policy may look at: good images held out of fitting, and synthetic anomalies. Never the test set.</summary>
public sealed record ThresholdInputs
{
    public required IReadOnlyList<float> GoodScores { get; init; }
    public IReadOnlyList<float> SyntheticAnomalyScores { get; init; } = [];
}

public sealed record ThresholdDecision
{
    public required double Threshold { get; init; }
    public required string Rationale { get; init; }
}

/// <summary>Decides the raw-score threshold at fit time; the decision is stored in the model's manifest.</summary>
public interface IThresholdPolicy
{
    ThresholdDecision Decide(ThresholdInputs inputs);
}

// ---------------------------------------------------------------- regions, logic checks

/// <summary>An axis-aligned box in pixels: left, top, width, height.</summary>
public readonly record struct PixelBox(int X, int Y, int Width, int Height);

/// <summary>
/// A connected region (8-neighbourhood) of the anomaly map above the threshold. <see cref="MapBox"/> and
/// <see cref="MapArea"/> are in map pixels (the preprocessed, cropped image); <see cref="ImageBox"/> and
/// <see cref="ImageArea"/> in the original image's pixels. Strengths are raw scores (the threshold's units).
/// </summary>
public sealed record DefectRegion
{
    public required PixelBox MapBox { get; init; }
    public required int MapArea { get; init; }
    public required PixelBox ImageBox { get; init; }
    public required long ImageArea { get; init; }
    public required double PeakScore { get; init; }
    public required double MeanScore { get; init; }
    /// <summary>Where the peak is, in map pixels.</summary>
    public int PeakX { get; init; }
    public int PeakY { get; init; }
    /// <summary>
    /// The defect's estimated size in the original image's pixels: its bump in the map, read a fifth of the way up from
    /// what good parts score and shrunk by the blur the map's own geometry adds (the host's DefectSize), or, where more,
    /// the part's pixels in that bump that deviate from good parts beyond what good parts do there (GoodPixels);
    /// docs/explanation.md has how it compares with ground-truth masks. 0 when not estimated.
    /// </summary>
    public long CoreImageArea { get; init; }

    /// <summary>The size to state: <see cref="CoreImageArea"/>, or the area above the threshold where there is none (a method, so stored regions do not carry it twice).</summary>
    public long EstimatedImageArea() => CoreImageArea > 0 ? CoreImageArea : ImageArea;
    /// <summary>Where on the part, in words ("upper left", "middle to lower centre"): the host's 3 x 3 grid of the map.</summary>
    public string Location { get; init; } = "";
}

/// <summary>The result of one rule on one part: what was measured, what was expected, and whether it passed.</summary>
public sealed record RuleResult
{
    /// <summary>Stable id of the rule (e.g. <c>"screw-count"</c>), unique within the pipeline.</summary>
    public required string RuleId { get; init; }
    public required bool Passed { get; init; }
    /// <summary>The measured fact (a count, an area, a position); null when the rule measures nothing numeric.</summary>
    public double? Measured { get; init; }
    public double? ExpectedMin { get; init; }
    public double? ExpectedMax { get; init; }
    /// <summary>The component of the part the rule concerns (e.g. "screw #2"); empty for the whole part.</summary>
    public string Component { get; init; } = "";
    public string Detail { get; init; } = "";
}

/// <summary>What a logic check sees of a part: the preprocessed image, its anomaly map and regions, and the threshold.</summary>
public sealed record InspectionSubject
{
    public required string Id { get; init; }
    public required ImageTensor Image { get; init; }
    /// <summary>Raw-score map at the image's (preprocessed) size.</summary>
    public required Grid2D AnomalyMap { get; init; }
    public required double Threshold { get; init; }
    public IReadOnlyList<DefectRegion> Regions { get; init; } = [];
    /// <summary>
    /// The whole image at the pipeline's input size (resized, before the centre crop), for checks that must see every
    /// part of the scene; null where the host only has the cropped image (then use <see cref="Image"/>).
    /// </summary>
    public ImageTensor? WholeImage { get; init; }
}

/// <summary>What a logic check learns from: good parts held out of fitting, seen exactly as parts are at inspection.</summary>
public sealed record LogicFitInputs
{
    public required IReadOnlyList<InspectionSubject> Good { get; init; }

    /// <summary>
    /// The good images the scorer was fitted on, whole (before the centre crop) and without anomaly maps: more examples
    /// of good parts for checks that need no map (component facts, rules, composition). Empty where the host has none.
    /// </summary>
    public IReadOnlyList<GoodImage> FittingImages { get; init; } = [];
}

/// <summary>A good training image by its id (file path or name).</summary>
public sealed record GoodImage(string Id, ImageTensor Image);

/// <summary>Rules over measured facts of a part. Fitting learns what good parts measure (expected ranges, counts).</summary>
public interface ILogicCheck
{
    IFittedLogicCheck Fit(LogicFitInputs inputs, FitContext context);
    IFittedLogicCheck Load(IModelReader state, FitContext context);
}

/// <summary>
/// What a logic check says about one part: its rule results and, optionally, a margin that joins the image score.
/// <see cref="Margin"/> is on the scale of the normalised score before its logistic: 0 at the check's own threshold,
/// about -ln 19 (-2.94) for a typical held-out good part, positive past it. The host fuses it with the image score's
/// margin by taking the larger, so a part is rejected for a structural defect or an abnormal composition alike.
/// </summary>
public sealed record LogicOutcome
{
    public required IReadOnlyList<RuleResult> Rules { get; init; }
    public double? Margin { get; init; }
}

/// <summary>A fitted logic check: immutable and safe to call from several threads.</summary>
public interface IFittedLogicCheck : IFittedComponent
{
    IReadOnlyList<RuleResult> Check(InspectionSubject subject);

    /// <summary>Rule results plus a calibrated margin to fuse with the image score; checks without one return rules only.</summary>
    LogicOutcome Inspect(InspectionSubject subject) => new() { Rules = Check(subject) };
}

// ---------------------------------------------------------------- explanation

/// <summary>
/// The measured facts an explainer may use; an explainer invents nothing beyond them. <see cref="Id"/> (a file name,
/// a request id) is text from outside: data to quote, never an instruction.
/// </summary>
public sealed record InspectionFacts
{
    public required string Id { get; init; }
    /// <summary>Normalised score (0.5 = threshold).</summary>
    public required double Score { get; init; }
    public required double RawScore { get; init; }
    /// <summary>Raw-score threshold.</summary>
    public required double Threshold { get; init; }
    public required bool IsAnomaly { get; init; }
    /// <summary>Strongest first, as the host found them (with <see cref="DefectRegion.Location"/> in words).</summary>
    public IReadOnlyList<DefectRegion> Regions { get; init; } = [];
    public IReadOnlyList<RuleResult> Rules { get; init; } = [];
    public required int MapWidth { get; init; }
    public required int MapHeight { get; init; }
    /// <summary>What good parts score, for comparison; null when the model does not know.</summary>
    public GoodPartStatistics? GoodParts { get; init; }
    /// <summary>
    /// A crop of the inspected image around a box in the original image's pixels, PNG encoded (for models that accept
    /// images); null when the image is not at hand.
    /// </summary>
    public Func<PixelBox, byte[]>? CropImage { get; init; }
}

/// <summary>What the good parts held out of fitting scored: the comparison an explanation draws.</summary>
public sealed record GoodPartStatistics
{
    /// <summary>Good parts held out of fitting (the threshold was decided on them).</summary>
    public required int Count { get; init; }
    /// <summary>Median raw score of those good parts.</summary>
    public required double MedianRawScore { get; init; }
}

/// <summary>One reason of an explanation and the facts it rests on (ids: "score", "threshold", "region-1", "rule:&lt;id&gt;", "good-parts").</summary>
public sealed record ExplanationReason(string Text, IReadOnlyList<string> Facts);

public sealed record Explanation
{
    /// <summary>The host's verdict ("ANOMALY" or "OK"); an explainer never changes it.</summary>
    public required string Verdict { get; init; }
    public required string Summary { get; init; }
    /// <summary>The reasons, each citing the facts it rests on.</summary>
    public IReadOnlyList<ExplanationReason> Evidence { get; init; } = [];
    /// <summary>The reasons' text alone.</summary>
    public IReadOnlyList<string> Reasons => Evidence.Select(e => e.Text).ToList();
    /// <summary>How sure the explainer is that the reasons explain the verdict, 0 to 1.</summary>
    public double Confidence { get; init; } = 1;
    /// <summary>What happened on the way (e.g. why an LLM's answer was replaced by the offline explanation).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>Who wrote it (e.g. "offline", or the model name of an LLM).</summary>
    public required string Source { get; init; }
}

/// <summary>A question asked about a part and the explanation given (the first turn's question is empty).</summary>
public sealed record ExplanationTurn(string Question, Explanation Answer);

/// <summary>
/// Explains a verdict from its facts. Services give it secrets, endpoints and HTTP clients (never from the JSON). The
/// host replaces a failed explanation (any exception) with the offline one and a note, so an explainer may throw a
/// <see cref="PipelineException"/> whose message says why its answer cannot be used (never with a URL or key in it).
/// </summary>
public interface IExplainer
{
    Task<Explanation> ExplainAsync(InspectionFacts facts, HostServices services, CancellationToken cancellation);

    /// <summary>
    /// A follow-up question about the same part, after the earlier turns. Explainers that cannot converse answer with
    /// their explanation.
    /// </summary>
    Task<Explanation> AskAsync(InspectionFacts facts, IReadOnlyList<ExplanationTurn> history, string question, HostServices services,
        CancellationToken cancellation) => ExplainAsync(facts, services, cancellation);
}
