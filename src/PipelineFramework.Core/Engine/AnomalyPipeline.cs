using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
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
/// An unfitted pipeline: the validated spec and its components, created from the catalog. Immutable. Fitting is two
/// steps, <see cref="Prepare"/> (split, backbone, synthetic anomalies) then <see cref="Fit(PreparedSet, IProgress{ProgressUpdate}?, CancellationToken)"/>
/// (embedding, scoring, threshold, logic); <see cref="Fit(IReadOnlyList{string}, IProgress{ProgressUpdate}?, CancellationToken)"/>
/// does both.
/// </summary>
public sealed class AnomalyPipeline
{
    public PipelineSpec Spec { get; }
    public HostServices Services { get; }
    internal IComponentCatalog Catalog { get; }
    internal IBackbone Backbone { get; }
    internal IPatchEmbedding Embedding { get; }
    internal IScorer Scorer { get; }
    internal IThresholdPolicy Threshold { get; }
    internal IReadOnlyList<ILogicCheck> LogicChecks { get; }
    internal IReadOnlyList<object> Synthesizers { get; }
    /// <summary>The pipeline's image synthesisers with their JSON type names.</summary>
    internal IReadOnlyList<(string Type, IImageSynthesizer Synthesizer)> ImageSynthesizers { get; }

    public AnomalyPipeline(PipelineSpec spec, IComponentCatalog catalog, HostServices? services = null)
    {
        Spec = spec;
        Catalog = catalog;
        Services = services ?? HostServices.None;
        Backbone = catalog.Create<IBackbone>(spec.Backbone, ComponentKind.Backbone);
        Embedding = catalog.Create<IPatchEmbedding>(spec.Embedding, ComponentKind.PatchEmbedding);
        Scorer = catalog.Create<IScorer>(spec.Scoring, ComponentKind.Scorer);
        Threshold = catalog.Create<IThresholdPolicy>(spec.Threshold, ComponentKind.ThresholdPolicy);
        LogicChecks = spec.Logic.Select(l => catalog.Create<ILogicCheck>(l, ComponentKind.LogicCheck)).ToList();
        Synthesizers = spec.Synthesis.Select(s => catalog.Create<object>(s, ComponentKind.Synthesizer)).ToList();
        // Created now only so that a bad explainer is refused before any work; the model creates it when asked.
        if (spec.Explain is { } explain) catalog.Create<IExplainer>(explain, ComponentKind.Explainer);
        ImageSynthesizers = spec.Synthesis.Zip(Synthesizers).Where(p => p.Second is IImageSynthesizer)
            .Select(p => (p.First.Type, (IImageSynthesizer)new GuardedSynthesizer(catalog, p.First, (IImageSynthesizer)p.Second))).ToList();
        if (Threshold is SyntheticF1Threshold && (spec.Calibration.SyntheticCount == 0 || ImageSynthesizers.Count == 0))
            throw new PipelineException($"{spec.Threshold.JsonPath}: threshold.synthetic-f1 needs synthetic anomalies: add an image synthesiser to $.synthesis and set $.calibration.syntheticCount above 0.");
    }

    public static AnomalyPipeline FromFile(string path, IComponentCatalog catalog, HostServices? services = null) =>
        new(PipelineSpecParser.ParseFile(path, catalog), catalog, services);

    public static AnomalyPipeline FromJson(string json, IComponentCatalog catalog, string source = "pipeline", HostServices? services = null) =>
        new(PipelineSpecParser.Parse(json, source, catalog), catalog, services);

    Preprocessing Preprocessing => Spec.Preprocessing;

    FitContext Context(IProgress<ProgressUpdate>? progress, CancellationToken cancellation) =>
        new() { Seed = Spec.Seed, Progress = progress, Cancellation = cancellation, Services = Services };

    /// <summary>
    /// The sections a prepared set depends on. Two pipelines with the same canonical JSON here can share one: they
    /// differ only in stages that run after the backbone.
    /// </summary>
    public string PrepareKey => Spec.CanonicalJson("seed", "input", "calibration", StageKinds.Synthesis.Section, StageKinds.Backbone.Section);

    /// <summary>Fits on images of good parts: <see cref="Prepare"/> then <see cref="Fit(PreparedSet, IProgress{ProgressUpdate}?, CancellationToken)"/>.</summary>
    public AnomalyModel Fit(IReadOnlyList<string> goodImages, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellation = default)
    {
        var watch = Stopwatch.StartNew();
        using var prepared = Prepare(goodImages, progress, cancellation);
        var model = Fit(prepared, progress, cancellation, watch);
        try
        {
            CheckSyntheticNearChance(model.Manifest.Training);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Splits the good images into a fitting set and a seeded hold-out (never the test set; copies of one image always
    /// on the same side), runs the backbone once over each image, and makes the synthetic anomalies the pipeline asks
    /// for. The result can be fitted any number of times by pipelines with the same <see cref="PrepareKey"/>.
    /// </summary>
    public PreparedSet Prepare(IReadOnlyList<string> goodImages, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellation = default)
    {
        if (goodImages.Count < 2)
            throw new PipelineException($"Fitting needs at least 2 good images (one is held out to set the threshold); got {goodImages.Count}.");
        var context = Context(progress, cancellation);
        int batch = Spec.Calibration.BatchSize;
        var backbone = new SharedBackbone(Catalog.Guard(Spec.Backbone, "fitting", () => Backbone.Fit(Spec.Geometry, context)), Catalog, Spec.Backbone);
        try
        {
            // Before the long backbone pass: a set too large for the memory is refused here, with what to change.
            FitMemory.Require(this, backbone.Layers, goodImages.Count, FitMemory.Available());
            // One pass: decode, fingerprint and run the backbone over every image; the split then only gathers maps.
            var sources = ImageSource.FromFiles(goodImages);
            var fingerprints = new string[goodImages.Count];
            var sizes = new (int Width, int Height)[goodImages.Count];
            var grey = new bool[goodImages.Count];
            var levels = new ImageLevels?[goodImages.Count];
            var pixels = new Explain.GoodPixels.Collector(goodImages.Count);
            var parts = new List<LayerMaps>();
            Batches.ForEach(goodImages.Count, batch, (start, count) =>
            {
                var images = Batches.Decode(sources.Skip(start).Take(count).ToList(), Preprocessing);
                for (int i = 0; i < count; i++)
                {
                    fingerprints[start + i] = Fingerprint(images[i].Image);
                    sizes[start + i] = (images[i].OriginalWidth, images[i].OriginalHeight);
                    grey[start + i] = images[i].IsGrey ?? false;
                    levels[start + i] = images[i].Levels;
                }
                Parallel.For(0, count, i => pixels.Add(start + i, images[i].Image));
                parts.Add(backbone.Run(images.Select(i => i.Image).ToList()));
            }, progress, "backbone", cancellation);

            var (fitIndices, holdoutIndices, duplicates) = Split(goodImages, fingerprints, context.SeedFor("holdout"));
            var (fitMaps, holdoutMaps) = SplitMaps(parts, backbone.Layers, fitIndices, holdoutIndices);
            var fitSet = fitIndices.Select(i => goodImages[i]).ToArray();
            var holdout = holdoutIndices.Select(i => goodImages[i]).ToArray();
            if (duplicates > 0)
                Services.Log.Warning($"{duplicates} of {goodImages.Count} training images repeat another image's pixels; copies were kept on one side of the hold-out split.");
            WarnIfFewHeldOut(holdout.Length, goodImages.Count);
            var goodLevels = KeptLevels(goodImages, levels);

            LayerMaps? syntheticHoldout = null;
            IReadOnlyList<Grid2D> syntheticHoldoutMasks = [];
            if (Spec.Calibration.SyntheticCount > 0 && ImageSynthesizers.Count > 0)
            {
                var samples = Synthesize(holdout, Spec.Calibration.SyntheticCount, cancellation);
                syntheticHoldout = RunBackbone(backbone, samples.Select(s => s.Image).ToList());
                syntheticHoldoutMasks = samples.Select(s => s.Mask).ToList();
            }
            LayerMaps? trainingSynthetic = null;
            IReadOnlyList<Grid2D> trainingMasks = [];
            if (Spec.Calibration.TrainingSyntheticCount > 0 && ImageSynthesizers.Count > 0)
            {
                var samples = SyntheticValidationSet.Build(fitSet, ImageSynthesizers, Spec.Calibration.TrainingSyntheticCount,
                    unchecked(Spec.Seed * 31 + 17), Preprocessing, cancellation);
                trainingSynthetic = RunBackbone(backbone, samples.Select(s => s.Image).ToList());
                trainingMasks = samples.Select(s => s.Mask).ToList();
            }

            LayerMaps? shifted = null;
            if (Spec.Calibration.ShiftedGoods > 0)
            {
                // Shifted as the camera delivers them, before this pipeline's own preprocessing (its intensity
                // normalisation among it) sees them. Copy c of held-out image h is at c * holdout.Length + h.
                var shiftedImages = new ImageTensor[holdout.Length * Spec.Calibration.ShiftedGoods];
                Parallel.For(0, holdout.Length, new ParallelOptions { CancellationToken = cancellation }, h =>
                {
                    var decoded = ImageLoader.LoadRgb(holdout[h]);
                    for (int i = h; i < shiftedImages.Length; i += holdout.Length)
                        shiftedImages[i] = Preprocessing.Apply(NuisanceShift.Apply(decoded, unchecked(Spec.Seed * 1009 + i)));
                });
                shifted = RunBackbone(backbone, shiftedImages);
            }
            return new PreparedSet(PrepareKey, backbone)
            {
                FitImages = fitSet,
                HoldoutImages = holdout,
                DuplicateImages = duplicates,
                FitMaps = fitMaps,
                HoldoutMaps = holdoutMaps,
                // Decoded again rather than kept from the pass above: which images are held out is known only after
                // every image is fingerprinted, and keeping all decoded images would hold the whole set in memory.
                // Only when a logic check asks: most pipelines never do.
                DecodeHoldout = () => Batches.Decode(ImageSource.FromFiles(holdout), Preprocessing),
                SyntheticHoldoutMaps = syntheticHoldout,
                SyntheticHoldoutMasks = syntheticHoldoutMasks,
                ShiftedHoldoutMaps = shifted,
                TrainingSyntheticMaps = trainingSynthetic,
                TrainingSyntheticMasks = trainingMasks,
                GoodPixels = pixels.Build(fitIndices, holdoutIndices),
                GoodImageSizes = GoodImageSizes.Of(sizes),
                GoodImageColour = ImageColour.Of(grey),
                GoodImageLevels = goodLevels,
            };
        }
        catch
        {
            backbone.Release();
            throw;
        }
    }

    /// <summary>
    /// The fitting and hold-out maps gathered from the backbone's batches one layer at a time, each layer of the batches
    /// let go once copied (<paramref name="batches"/> is emptied): the whole set's maps are held once plus one layer,
    /// where concatenating them and then splitting held them twice (and left both copies to the GC).
    /// </summary>
    static (LayerMaps Fit, LayerMaps Holdout) SplitMaps(List<LayerMaps> batches, IReadOnlyList<LayerInfo> layers, int[] fitIndices, int[] holdoutIndices)
    {
        var chunks = layers.Select((_, l) => batches.Select(b => b.Data[l]).ToArray()).ToArray();
        var batchOf = batches.SelectMany((b, index) => Enumerable.Range(0, b.Count).Select(i => (Batch: index, Image: i))).ToArray();
        batches.Clear();
        var fit = new float[layers.Count][];
        var holdout = new float[layers.Count][];
        for (int l = 0; l < layers.Count; l++)
        {
            int size = layers[l].ValuesPerImage;
            float[] Gather(int[] indices)
            {
                var data = new float[(long)indices.Length * size];
                for (int i = 0; i < indices.Length; i++)
                {
                    var (batch, image) = batchOf[indices[i]];
                    chunks[l][batch].AsSpan(image * size, size).CopyTo(data.AsSpan(i * size, size));
                }
                return data;
            }
            fit[l] = Gather(fitIndices);
            holdout[l] = Gather(holdoutIndices);
            chunks[l] = [];
        }
        return (new LayerMaps(fitIndices.Length, layers, fit), new LayerMaps(holdoutIndices.Length, layers, holdout));
    }

    LayerMaps RunBackbone(SharedBackbone backbone, IReadOnlyList<ImageTensor> images)
    {
        var parts = new List<LayerMaps>();
        Batches.ForEach(images.Count, Spec.Calibration.BatchSize, (start, count) => parts.Add(backbone.Run(images.Skip(start).Take(count).ToList())),
            null, "", default);
        return LayerMaps.Concat(parts, backbone.Layers);
    }

    /// <summary>SHA-256 of the preprocessed pixels: copies of one image (even re-encoded losslessly) share it.</summary>
    internal static string Fingerprint(ImageTensor image) => Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(image.Pixels.AsSpan())));

    /// <summary>
    /// A seeded shuffle of groups of identical images (one group per distinct fingerprint), then whole groups to the
    /// hold-out until it has its share: a copy of a hold-out image never sits in the fitting set, where it would
    /// score near zero and drag the threshold down. Both sides sorted by path, so fitting order is repeatable.
    /// </summary>
    internal (int[] Fit, int[] Holdout, int Duplicates) Split(IReadOnlyList<string> paths, string[] fingerprints, int seed)
    {
        var groups = Enumerable.Range(0, paths.Count).GroupBy(i => fingerprints[i]).Select(g => g.ToArray()).ToArray();
        int duplicates = paths.Count - groups.Length;
        if (Spec.Calibration.HoldoutGroups == HoldoutGrouping.NamePrefix)
        {
            // Copy groups joined by the name prefix of their first image (so copies still stay together); with a single
            // prefix there is nothing to hold out as a whole, and with no shared prefix nothing to join: the copy groups
            // are used as they are (the same split as "copies").
            var batches = groups.GroupBy(g => NamePrefix(paths[g[0]]), StringComparer.Ordinal).Select(b => b.SelectMany(g => g).ToArray()).ToArray();
            if (batches.Length >= 2 && batches.Length < groups.Length) groups = batches;
        }
        if (groups.Length < 2)
            throw new PipelineException($"All {paths.Count} training images are copies of one image; fitting needs at least 2 different good images.");
        SeededRandom.Create(seed, 0x484F4C444F5554UL).Shuffle(groups.AsSpan()); // "HOLDOUT"
        int target = Math.Clamp((int)Math.Round(Spec.Calibration.Holdout * paths.Count), 1, paths.Count - 1);
        var holdout = new List<int>();
        int g = 0;
        while (holdout.Count < target && g < groups.Length - 1) holdout.AddRange(groups[g++]);
        var fit = groups.Skip(g).SelectMany(x => x).ToList();
        int[] Sorted(IEnumerable<int> indices) => indices.OrderBy(i => paths[i], StringComparer.Ordinal).ToArray();
        return (Sorted(fit), Sorted(holdout), duplicates);
    }

    /// <summary>A file name's text before its first '_' or '-' (the whole name without extension when it has neither).</summary>
    internal static string NamePrefix(string path)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        int cut = name.IndexOfAny(['_', '-']);
        return cut > 0 ? name[..cut] : name;
    }

    /// <summary>Fits the stages after the backbone on a prepared set: embedding, scoring, threshold and logic.</summary>
    public AnomalyModel Fit(PreparedSet prepared, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellation = default) =>
        Fit(prepared, progress, cancellation, Stopwatch.StartNew());

    /// <summary>
    /// The sections the fitted embedding and scorer depend on: two pipelines with the same canonical JSON here fit the
    /// same embedding and scorer on one prepared set.
    /// </summary>
    static string ScorerKey(PipelineSpec spec) => spec.CanonicalJson("seed", "input", "calibration", StageKinds.Synthesis.Section, StageKinds.Backbone.Section,
        StageKinds.Embedding.Section, StageKinds.Scoring.Section);

    /// <summary>
    /// The model <see cref="Fit(PreparedSet, IProgress{ProgressUpdate}?, CancellationToken)"/> gives, with the embedding
    /// and scorer that <paramref name="donor"/> fitted on this prepared set instead of fitting them again: the donor's
    /// pipeline differs from this one only after the scorer (name, description, map, threshold, logic). AutoML judges
    /// its threshold alternatives on one fit of the chosen pipeline and writes the model with the winner from it. The
    /// donor hands them over and must not score any more; dispose it as usual. The model's fit seconds are the
    /// donor's plus this call's.
    /// </summary>
    public AnomalyModel Fit(PreparedSet prepared, AnomalyModel donor, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellation = default)
    {
        if (ScorerKey(donor.Spec) != ScorerKey(Spec) || donor.Manifest.Training.FitImages != prepared.FitImages.Count)
            throw new PipelineException("The model to take the scorer from was fitted by a pipeline with a different input, seed, calibration, synthesis, backbone, embedding or scoring, or on other fitting images; fit this pipeline on its own.");
        var (embedding, scorer) = donor.GiveUpEmbeddingAndScorer();
        return Fit(prepared, progress, cancellation, Stopwatch.StartNew(), (embedding, scorer, donor.Manifest.Training.FitSeconds));
    }

    AnomalyModel Fit(PreparedSet prepared, IProgress<ProgressUpdate>? progress, CancellationToken cancellation, Stopwatch watch,
        (IFittedPatchEmbedding Embedding, IFittedScorer Scorer, double FitSeconds)? donated = null)
    {
        if (prepared.Key != PrepareKey)
            throw new PipelineException("This prepared set was made for a pipeline with a different input, seed, calibration, synthesis or backbone; prepare it with this pipeline.");
        var context = Context(progress, cancellation);
        var disposables = new List<IDisposable>();
        try
        {
            var embedding = donated?.Embedding ?? Catalog.Guard(Spec.Embedding, "fitting", () => Embedding.Fit(prepared.FitMaps, context));
            disposables.Add(embedding);
            IFittedScorer scorer;
            if (donated is { } given) scorer = given.Scorer;
            else
            {
                var good = Catalog.Guard(Spec.Embedding, "embedding", () => embedding.Embed(prepared.FitMaps));
                cancellation.ThrowIfCancellationRequested();
                var inputs = new ScorerFitInputs { Good = good, Synthetic = TrainingAnomalies(good, embedding, prepared) };
                scorer = Catalog.Guard(Spec.Scoring, "fitting", () => Scorer.Fit(inputs, context));
            }
            disposables.Add(scorer);
            var calibration = new FittedStages(prepared.Backbone, embedding, scorer, [], Services, prepared.GoodPixels) { Catalog = Catalog, Spec = Spec };

            var goodScores = calibration.Score(prepared.HoldoutMaps, Spec.Map.ImageScore).ImageScores;
            IReadOnlyList<float> syntheticScores = prepared.SyntheticHoldoutMaps is { } synthetic ? calibration.Score(synthetic, Spec.Map.ImageScore).ImageScores : [];
            RequireFinite(goodScores, "held-out good images");
            RequireFinite(syntheticScores, "synthetic anomalies");
            RequireVarying(goodScores, syntheticScores);
            var decision = Catalog.Guard(Spec.Threshold, "deciding the threshold",
                () => Threshold.Decide(new ThresholdInputs { GoodScores = goodScores, SyntheticAnomalyScores = syntheticScores }));
            if (!double.IsFinite(decision.Threshold))
                throw new PipelineException($"{Spec.Threshold.Type} decided a threshold of {decision.Threshold}; check the threshold options.");
            var normalization = ScoreNormalization.FromCalibration(decision.Threshold, goodScores);
            string modelId = Guid.NewGuid().ToString("N")[..16];

            var logic = new List<IFittedLogicCheck>();
            if (LogicChecks.Count > 0)
            {
                var settings = InspectionSettings.For(Spec, decision.Threshold, normalization, modelId, prepared.GoodImageSizes, prepared.GoodImageColour, prepared.GoodImageLevels);
                var holdout = ImageOutcome.ResultsOrFirstError(calibration.InspectMaps(prepared.HoldoutMaps, prepared.Holdout, prepared.HoldoutImages, settings));
                var subjects = holdout.Select((r, i) => new InspectionSubject
                {
                    Id = r.Id, Image = prepared.Holdout[i].Image, WholeImage = prepared.Holdout[i].Whole, AnomalyMap = r.RawMap, Threshold = decision.Threshold, Regions = r.Regions,
                }).ToList();
                // Decoded again (the prepared set keeps only the hold-out images): checks that learn from good parts
                // without maps see every training image, so an accepted rule is verified on all of them.
                var fitting = Batches.Decode(ImageSource.FromFiles(prepared.FitImages), Preprocessing)
                    .Select((p, i) => new GoodImage(prepared.FitImages[i], p.Whole ?? p.Image)).ToList();
                foreach (var (check, spec) in LogicChecks.Zip(Spec.Logic))
                {
                    var fitted = Catalog.Guard(spec, "fitting", () => check.Fit(new LogicFitInputs { Good = subjects, FittingImages = fitting }, context));
                    disposables.Add(fitted);
                    logic.Add(fitted);
                }
            }

            var shape = embedding.OutputShape;
            var manifest = new ModelManifest
            {
                ModelId = modelId,
                CreatedBy = $"PipelineFramework {typeof(AnomalyPipeline).Assembly.GetName().Version?.ToString(3)}",
                CreatedUtc = DateTime.UtcNow,
                Pipeline = Spec.ToJson(),
                Preprocessing = PreprocessingManifest.Of(Spec),
                Components = Catalog.Describe(Spec),
                Threshold = new ThresholdManifest(decision.Threshold, Spec.Threshold.Type, decision.Rationale),
                Normalization = normalization,
                Training = new TrainingManifest(prepared.FitImages.Count, prepared.HoldoutImages.Count, syntheticScores.Count, watch.Elapsed.TotalSeconds + (donated?.FitSeconds ?? 0),
                    [shape.Height, shape.Width, shape.Dim], SyntheticAuroc(goodScores, syntheticScores)) { DuplicateImages = prepared.DuplicateImages, ImageSizes = prepared.GoodImageSizes, ImageColour = prepared.GoodImageColour, ImageLevels = prepared.GoodImageLevels },
            };
            return new AnomalyModel(manifest, Spec, new FittedStages(prepared.Backbone.Acquire(), embedding, scorer, logic, Services, prepared.GoodPixels) { Catalog = Catalog, Spec = Spec }, Services, Catalog);
        }
        catch
        {
            foreach (var d in disposables) d.Dispose();
            throw;
        }
    }

    static void RequireFinite(IReadOnlyList<float> scores, string what)
    {
        if (scores.Any(s => !float.IsFinite(s)))
            throw new PipelineException($"The scorer gave non-finite scores (NaN or infinity) to {what}; the fitted state is unusable. Check the training images and the scorer's options.");
    }

    /// <summary>
    /// A scorer that gives every held-out image the same score (options that make it blind, e.g. PatchCore re-weighting
    /// over a neighbourhood of one patch gave 0 to every image) yields a model that passes or rejects every part alike,
    /// with a threshold that looks normal. Refused here, before a model file is written.
    /// </summary>
    static void RequireVarying(IReadOnlyList<float> goodScores, IReadOnlyList<float> syntheticScores)
    {
        var all = goodScores.Concat(syntheticScores).ToList();
        if (all.Count < 2 || all.Any(s => s != all[0])) return;
        string what = syntheticScores.Count > 0
            ? $"{goodScores.Count} held-out good images and {syntheticScores.Count} synthetic anomalies"
            : $"{goodScores.Count} held-out good images";
        throw new PipelineException($"The scorer gave all {what} the same score ({all[0].ToString("G6", System.Globalization.CultureInfo.InvariantCulture)}): " +
            "the model cannot tell one part from another and would pass or reject every part alike. Nothing was fitted. " +
            "Check the scoring options (e.g. scoring.patchcore's coresetRatio and reweightNeighbours); if the held-out images are copies of one image, add different good images.");
    }

    /// <summary>
    /// Fewer held-out good images than this and a threshold from their scores is little more than their maximum: about
    /// 1 in (n + 1) good parts score above the largest of n (1 held-out image rejected 3 of hazelnut's 6 good test parts).
    /// </summary>
    internal const int FewHeldOut = 5;

    /// <summary>
    /// The brightness and contrast the model keeps: those of the good images, less any unlike most of the others, which
    /// are named in a warning (they are still fitted: only the user knows whether they are good parts).
    /// </summary>
    GoodImageLevels? KeptLevels(IReadOnlyList<string> goodImages, ImageLevels?[] levels)
    {
        if (levels.Any(l => l is null)) return GoodImageLevels.Of(levels.OfType<ImageLevels>());
        var all = levels.Select(l => l!.Value).ToList();
        var outliers = GoodImageLevels.Outliers(all);
        if (outliers.Count > 0)
        {
            const int shown = 5;
            var named = string.Join("; ", outliers.Take(shown).Select(o => $"{goodImages[o.Index]}: {o.Reason}"));
            Services.Log.Warning($"{outliers.Count} of {goodImages.Count} good images {(outliers.Count == 1 ? "is" : "are")} unlike the others ({named}{(outliers.Count > shown ? $"; and {outliers.Count - shown} more" : "")}). " +
                "Is the part in the picture, and lit as in the others? Every good image is fitted as a good part, so parts that look like these will pass: " +
                "remove any that is not a good part and fit again. Scoring flags images like these as unlike the fitted images.");
        }
        var outlying = outliers.Select(o => o.Index).ToHashSet();
        return GoodImageLevels.Of(all.Where((_, i) => !outlying.Contains(i)));
    }

    void WarnIfFewHeldOut(int heldOut, int images)
    {
        if (heldOut >= FewHeldOut || Threshold is FixedThreshold) return;
        Services.Log.Warning($"The threshold is calibrated on {heldOut} held-out good image{(heldOut == 1 ? "" : "s")} " +
            $"(calibration.holdout {Spec.Calibration.Holdout.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} of {images} training images): " +
            $"with so few, expect about 1 in {heldOut + 1} good parts to score above it. Raise calibration.holdout or add good images so that at least {FewHeldOut} are held out.");
    }

    /// <summary>
    /// Below this synthetic AUROC a model tells defects from good parts little better than chance (0.5). Measured with
    /// scoring.simplenet (plugins/Scoring.SimpleNet/README.md): settings that train nothing gave 0.38 to 0.54 on
    /// hazelnut, bottle and KolektorSDD, the shipped pipelines 0.76 to 0.98.
    /// </summary>
    internal const double NearChanceSyntheticAuroc = 0.65;

    /// <summary>
    /// A scorer that learned nothing still gives varied scores, so <see cref="RequireVarying"/> passes it and the model
    /// misses most defects with a normal-looking threshold. The synthetic defects are the only defects a fit sees, so
    /// their separation from the held-out good images is the one fit-time sign. A warning, not a refusal: they are not
    /// the user's defects; but threshold.synthetic-f1 takes its threshold from them, and at chance F1 is highest with
    /// every image called defective (1-pixel CutPaste patches: 5 of hazelnut's 6 good test parts rejected), so that fit
    /// is refused. Only for single fits: an AutoML search already ranks its trials by this separation.
    /// </summary>
    void CheckSyntheticNearChance(TrainingManifest training)
    {
        if (training.SyntheticAuroc is not { } auroc || auroc >= NearChanceSyntheticAuroc) return;
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        string separation = $"the {training.SyntheticAnomalies} synthetic defects from the {training.HoldoutImages} held-out good images " +
            $"little better than chance (synthetic AUROC {auroc.ToString("0.00", invariant)}; 0.5 is chance, the shipped pipelines reach 0.76 or more)";
        if (Threshold is SyntheticF1Threshold)
            throw new PipelineException($"{Spec.Threshold.Type} sets the threshold where it best tells the synthetic defects from good images, and the model tells {separation}: " +
                "its threshold would reject most good parts. Nothing was fitted. Make the synthetic defects visible (look at them with pf synth; e.g. raise " +
                "synthesis.cutpaste's areaRatioMin) and check the scoring options, or use threshold.quantile.");
        Services.Log.Warning($"The model tells {separation}. " +
            $"Either the scorer learned nothing, and will miss most real defects (check the {Spec.Scoring.Type} options: a learned scorer needs a learningRate and epochs that train it), " +
            "or the synthesis options make defects too small or faint to see (look at them with pf synth).");
    }

    static double? SyntheticAuroc(IReadOnlyList<float> good, IReadOnlyList<float> synthetic)
    {
        if (good.Count == 0 || synthetic.Count == 0) return null;
        var scores = good.Concat(synthetic).ToArray();
        var labels = good.Select(_ => (byte)0).Concat(synthetic.Select(_ => (byte)1)).ToArray();
        return Evaluation.Metrics.Auroc(scores, labels);
    }

    /// <summary>
    /// Labelled patches for learned scorers: feature-space noise on the good embeddings and/or embeddings of image-level
    /// synthetic defects made from the fitting images, a patch labelled 1 when at least half of it is under the mask.
    /// </summary>
    LabeledFeatures? TrainingAnomalies(FeatureBatch good, IFittedPatchEmbedding embedding, PreparedSet prepared)
    {
        var parts = new List<LabeledFeatures>();
        var noise = Spec.Synthesis.Zip(Synthesizers).FirstOrDefault(p => p.Second is IFeatureSynthesizer);
        if (noise.Second is IFeatureSynthesizer perturbation)
            parts.Add(Catalog.Guard(noise.First, "perturbing features", () => perturbation.Perturb(good, Spec.Seed)));
        if (prepared.TrainingSyntheticMaps is { } maps)
        {
            var embedded = Catalog.Guard(Spec.Embedding, "embedding", () => embedding.Embed(maps));
            var labels = new float[embedded.PatchCount];
            for (int i = 0; i < prepared.TrainingSyntheticMasks.Count; i++)
            {
                var mask = prepared.TrainingSyntheticMasks[i];
                var pooled = MapOps.AdaptiveAvgPool2d(mask.Values, mask.Height, mask.Width, embedded.Height, embedded.Width);
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

    /// <summary>Synthetic anomalies from good images, for <c>pf synth</c> and for calibration.</summary>
    public IReadOnlyList<SyntheticSample> Synthesize(IReadOnlyList<string> goodImages, int count, CancellationToken cancellation = default) =>
        SyntheticValidationSet.Build(goodImages, ImageSynthesizers, count, Spec.Seed, Preprocessing, cancellation);
}

/// <summary>An image synthesiser whose calls name it when it fails (they run inside the host's parallel loops).</summary>
sealed class GuardedSynthesizer(IComponentCatalog catalog, ComponentSpec spec, IImageSynthesizer synthesizer) : IImageSynthesizer
{
    public SyntheticAnomaly Synthesize(ImageTensor good, SynthesisSource source, int seed) =>
        catalog.Guard(spec, "synthesising anomalies", () => synthesizer.Synthesize(good, source, seed));
}
