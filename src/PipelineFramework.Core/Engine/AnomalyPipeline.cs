using System.Diagnostics;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;
using PipelineFramework.Core.Synthesis;
using PipelineFramework.Core.Thresholds;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// An unfitted pipeline: the validated spec and its components, created from the catalog. Immutable;
/// <see cref="Fit"/> returns a new <see cref="AnomalyModel"/>.
/// </summary>
public sealed class AnomalyPipeline
{
    public PipelineSpec Spec { get; }
    internal IComponentCatalog Catalog { get; }
    internal IFeatureExtractor Features { get; }
    internal IScorer Scorer { get; }
    internal IThresholdPolicy Threshold { get; }
    internal IReadOnlyList<object> Synthesizers { get; }

    public AnomalyPipeline(PipelineSpec spec, IComponentCatalog catalog)
    {
        Spec = spec;
        Catalog = catalog;
        Features = (IFeatureExtractor)Create(spec.Features, ComponentKind.FeatureExtractor);
        Scorer = (IScorer)Create(spec.Scoring, ComponentKind.Scorer);
        Threshold = (IThresholdPolicy)Create(spec.Threshold, ComponentKind.ThresholdPolicy);
        Synthesizers = spec.Synthesis.Select(s => Create(s, ComponentKind.Synthesizer)).ToList();
        ImageSynthesizers = spec.Synthesis.Zip(Synthesizers).Where(p => p.Second is IImageSynthesizer)
            .Select(p => (p.First.Type, (IImageSynthesizer)p.Second)).ToList();
        if (Threshold is SyntheticF1Threshold && (spec.Calibration.SyntheticCount == 0 || ImageSynthesizers.Count == 0))
            throw new PipelineException($"{spec.Threshold.JsonPath}: threshold.synthetic-f1 needs synthetic anomalies: add an image synthesiser to $.synthesis and set $.calibration.syntheticCount above 0.");
    }

    object Create(ComponentSpec component, ComponentKind kind) =>
        Catalog.Create(Catalog.Find(component.Type, kind), component.Options, component.JsonPath);

    public static AnomalyPipeline FromFile(string path, IComponentCatalog catalog) => new(PipelineSpecParser.ParseFile(path, catalog), catalog);

    public static AnomalyPipeline FromJson(string json, IComponentCatalog catalog, string source = "pipeline") =>
        new(PipelineSpecParser.Parse(json, source, catalog), catalog);

    internal Preprocessing Preprocessing => new(Spec.Input.Size, Spec.Input.Crop);

    internal InputGeometry Geometry => new(3, Spec.Input.Crop, Spec.Input.Crop, Spec.Input.Mean, Spec.Input.Std);

    /// <summary>
    /// Fits on images of good parts: a seeded share is held out to calibrate the threshold (never the test set),
    /// the rest trains the scorer.
    /// </summary>
    public AnomalyModel Fit(IReadOnlyList<string> goodImages, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellation = default)
    {
        if (goodImages.Count < 2)
            throw new PipelineException($"Fitting needs at least 2 good images (one is held out to set the threshold); got {goodImages.Count}.");
        var watch = Stopwatch.StartNew();
        var context = new FitContext { Seed = Spec.Seed, Progress = progress, Cancellation = cancellation };

        var shuffled = goodImages.ToArray();
        new Random(Spec.Seed).Shuffle(shuffled);
        int holdoutCount = Math.Clamp((int)Math.Round(Spec.Calibration.Holdout * shuffled.Length), 1, shuffled.Length - 1);
        var holdout = shuffled[..holdoutCount].Order(StringComparer.Ordinal).ToArray();
        var fitSet = shuffled[holdoutCount..].Order(StringComparer.Ordinal).ToArray();

        var extractor = Features.Fit(Geometry, context);
        try
        {
            var runner = new ImageRunner(Preprocessing, extractor, Spec.Calibration.BatchSize);
            var good = runner.ExtractAll(fitSet, progress, "features", cancellation);
            var inputs = new ScorerFitInputs(good)
            {
                Synthetic = TrainingAnomalies(fitSet, good, runner, cancellation),
                Embed = images => extractor.Extract(images),
            };
            var scorer = Scorer.Fit(inputs, context);

            var goodScores = runner.Score(holdout, scorer, progress, "calibration", cancellation).ImageScores;
            var syntheticScores = ScoreSynthetic(holdout, runner, scorer, cancellation);
            var decision = Threshold.Decide(new ThresholdInputs(goodScores) { SyntheticAnomalyScores = syntheticScores });
            var normalization = ScoreNormalization.FromCalibration(decision.Threshold, goodScores);

            var shape = extractor.OutputShape;
            var manifest = new ModelManifest
            {
                CreatedBy = $"PipelineFramework {typeof(AnomalyPipeline).Assembly.GetName().Version?.ToString(3)}",
                CreatedUtc = DateTime.UtcNow,
                Pipeline = Spec.ToJson(),
                Preprocessing = new PreprocessingManifest(Spec.Input.Size, Spec.Input.Crop, Spec.Input.Mean, Spec.Input.Std),
                Components = new()
                {
                    ["features"] = Describe(Spec.Features),
                    ["scoring"] = Describe(Spec.Scoring),
                    ["threshold"] = Describe(Spec.Threshold),
                },
                Threshold = new ThresholdManifest(decision.Threshold, Spec.Threshold.Type, decision.Rationale),
                Normalization = normalization,
                Training = new TrainingManifest(fitSet.Length, holdout.Length, syntheticScores.Count, watch.Elapsed.TotalSeconds,
                    [shape.Height, shape.Width, shape.Dim], SyntheticAuroc(goodScores, syntheticScores)),
            };
            return new AnomalyModel(manifest, Spec, extractor, scorer);
        }
        catch
        {
            extractor.Dispose();
            throw;
        }
    }

    static double? SyntheticAuroc(IReadOnlyList<float> good, IReadOnlyList<float> synthetic)
    {
        if (good.Count == 0 || synthetic.Count == 0) return null;
        var scores = good.Concat(synthetic).ToArray();
        var labels = good.Select(_ => (byte)0).Concat(synthetic.Select(_ => (byte)1)).ToArray();
        return Evaluation.Metrics.Auroc(scores, labels);
    }

    ComponentManifest Describe(ComponentSpec component)
    {
        var descriptor = Catalog.Find(component.Type);
        return new ComponentManifest(component.Type, descriptor.Source, descriptor.Version);
    }

    /// <summary>
    /// Labelled patches for learned scorers: feature-space noise on the good embeddings and/or embeddings of image-level
    /// synthetic defects made from the fitting images, a patch labelled 1 when at least half of it is under the mask.
    /// </summary>
    LabeledFeatures? TrainingAnomalies(IReadOnlyList<string> fitSet, FeatureBatch good, ImageRunner runner, CancellationToken cancellation)
    {
        var parts = new List<LabeledFeatures>();
        if (Synthesizers.OfType<IFeatureSynthesizer>().FirstOrDefault() is { } noise) parts.Add(noise.Perturb(good, Spec.Seed));
        int count = Spec.Calibration.TrainingSyntheticCount;
        if (count > 0 && ImageSynthesizers.Count > 0)
        {
            var samples = SyntheticValidationSet.Build(fitSet, ImageSynthesizers, count, unchecked(Spec.Seed * 31 + 17), Preprocessing, cancellation);
            var embedded = runner.Embed(samples.Select(s => s.Image).ToList());
            var labels = new float[embedded.PatchCount];
            for (int i = 0; i < samples.Count; i++)
            {
                var pooled = MapOps.AdaptiveAvgPool2d(samples[i].Mask.Values, samples[i].Mask.Height, samples[i].Mask.Width, embedded.Height, embedded.Width);
                for (int p = 0; p < pooled.Length; p++) labels[i * embedded.PatchesPerImage + p] = pooled[p] >= 0.5f ? 1f : 0f;
            }
            parts.Add(new LabeledFeatures(embedded, labels));
        }
        if (parts.Count <= 1) return parts.FirstOrDefault();
        var first = parts[0].Features;
        return new LabeledFeatures(
            new FeatureBatch(parts.Sum(p => p.Features.Count), first.Height, first.Width, first.Dim, parts.SelectMany(p => p.Features.Data).ToArray()),
            parts.SelectMany(p => p.PatchLabels).ToArray());
    }

    /// <summary>The pipeline's image synthesisers with their JSON type names.</summary>
    internal IReadOnlyList<(string Type, IImageSynthesizer Synthesizer)> ImageSynthesizers { get; }

    /// <summary>Synthetic anomalies from held-out good images, for <c>pf synth</c> and for inspection.</summary>
    public IReadOnlyList<SyntheticSample> Synthesize(IReadOnlyList<string> goodImages, int count, CancellationToken cancellation = default) =>
        SyntheticValidationSet.Build(goodImages, ImageSynthesizers, count, Spec.Seed, Preprocessing, cancellation);

    IReadOnlyList<float> ScoreSynthetic(IReadOnlyList<string> holdout, ImageRunner runner, IFittedScorer scorer, CancellationToken cancellation)
    {
        if (Spec.Calibration.SyntheticCount == 0 || ImageSynthesizers.Count == 0) return [];
        var samples = Synthesize(holdout, Spec.Calibration.SyntheticCount, cancellation);
        return runner.ScoreImages(samples.Select(s => s.Image).ToList(), scorer).ImageScores;
    }
}
