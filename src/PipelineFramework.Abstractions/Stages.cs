namespace PipelineFramework.Abstractions;

/// <summary>What every stage's fit and load receive from the host.</summary>
public sealed record FitContext
{
    /// <summary>Seed for anything random (coreset start, projections, synthesis); same seed, same model.</summary>
    public int Seed { get; init; }
    public IProgress<ProgressUpdate>? Progress { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>The image geometry and normalisation a feature extractor is fed (recorded in the model file).</summary>
public sealed record InputGeometry(int Channels, int Height, int Width, float[] Mean, float[] Std);

// ---------------------------------------------------------------- features

/// <summary>Turns images into patch embeddings. Stateless apart from what <see cref="IFittedFeatureExtractor.Save"/> keeps.</summary>
public interface IFeatureExtractor
{
    IFittedFeatureExtractor Fit(InputGeometry input, FitContext context);
    IFittedFeatureExtractor Load(InputGeometry input, IModelReader state, FitContext context);
}

public interface IFittedFeatureExtractor : IDisposable
{
    /// <summary>Patch grid height, width and embedding size produced for one image.</summary>
    (int Height, int Width, int Dim) OutputShape { get; }

    /// <summary>Embeds a batch of images in [0, 1] (the extractor applies the mean/std of <see cref="InputGeometry"/>).</summary>
    FeatureBatch Extract(IReadOnlyList<ImageTensor> images);

    void Save(IModelWriter state);
}

// ---------------------------------------------------------------- scoring

/// <summary>Patch embeddings with a per-patch label (1 = anomalous), e.g. made by a synthesiser from good images.</summary>
public sealed record LabeledFeatures(FeatureBatch Features, float[] PatchLabels);

/// <summary>What a scorer may learn from besides the good embeddings.</summary>
public sealed record ScorerFitInputs(FeatureBatch Good)
{
    /// <summary>Synthetic anomalies, when the pipeline has a synthesis stage; scorers that do not learn from them ignore it.</summary>
    public LabeledFeatures? Synthetic { get; init; }

    /// <summary>Embeds further images; lets a learned scorer ask for more synthetic data. Null where unavailable.</summary>
    public Func<IReadOnlyList<ImageTensor>, FeatureBatch>? Embed { get; init; }
}

/// <summary>Learns what good patches look like.</summary>
public interface IScorer
{
    IFittedScorer Fit(ScorerFitInputs inputs, FitContext context);
    IFittedScorer Load(IModelReader state, FitContext context);
}

/// <summary>A fitted scorer: immutable and safe to call from several threads.</summary>
public interface IFittedScorer
{
    /// <summary>Higher = more anomalous. The image score is the scorer's own (e.g. max patch score).</summary>
    PatchScores Score(FeatureBatch features);
    void Save(IModelWriter state);
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
public sealed record ThresholdInputs(IReadOnlyList<float> GoodScores)
{
    public IReadOnlyList<float> SyntheticAnomalyScores { get; init; } = [];
}

public sealed record ThresholdDecision(double Threshold, string Rationale);

public interface IThresholdPolicy
{
    ThresholdDecision Decide(ThresholdInputs inputs);
}

// ---------------------------------------------------------------- logic checks

/// <summary>The result of one rule on one part.</summary>
public sealed record RuleResult(string Rule, bool Passed, string Detail);

/// <summary>What a logic check sees of a part: the preprocessed image and its anomaly map.</summary>
public sealed record InspectionSubject(string Id, ImageTensor Image, Grid2D AnomalyMap);

public interface ILogicCheck
{
    IReadOnlyList<RuleResult> Check(InspectionSubject subject);
}

// ---------------------------------------------------------------- explanation

/// <summary>A connected region of the anomaly map above the threshold, in map pixels.</summary>
public sealed record DefectRegion(int X, int Y, int Width, int Height, int Area, double PeakScore, double MeanScore);

/// <summary>The measured facts an explainer may use; an explainer invents nothing beyond them.</summary>
public sealed record InspectionFacts(
    string Id,
    double Score,
    double Threshold,
    bool IsAnomaly,
    IReadOnlyList<DefectRegion> Regions,
    IReadOnlyList<RuleResult> Rules,
    int MapWidth,
    int MapHeight);

public sealed record Explanation(string Verdict, string Summary, IReadOnlyList<string> Reasons, string Source);

public interface IExplainer
{
    Task<Explanation> ExplainAsync(InspectionFacts facts, CancellationToken cancellation);
}
