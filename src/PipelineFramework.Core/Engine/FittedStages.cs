using System.Diagnostics;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Compute.Gpu;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;
using PipelineFramework.Core.Thresholds;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// The fitted components of a model in run order, and the inspection that runs them: backbone → embedding → scoring →
/// map → regions → logic. Shared by <see cref="AnomalyModel"/> (scoring) and <see cref="AnomalyPipeline"/> (calibration),
/// so a hold-out image is seen exactly as a part on the line.
/// </summary>
sealed class FittedStages : IDisposable
{
    public FittedStages(SharedBackbone backbone, IFittedPatchEmbedding embedding, IFittedScorer scorer, IReadOnlyList<IFittedLogicCheck> logic,
        HostServices? services = null, Explain.GoodPixels? goodPixels = null)
    {
        Compute = ComputeBackend.For(services ?? HostServices.None);
        Backbone = backbone;
        Embedding = embedding;
        Scorer = scorer;
        Logic = logic;
        GoodPixels = goodPixels;
    }

    public SharedBackbone Backbone { get; }
    public IFittedPatchEmbedding Embedding { get; }
    public IFittedScorer Scorer { get; }
    public IReadOnlyList<IFittedLogicCheck> Logic { get; }
    /// <summary>Where the maps are made: the host's device.</summary>
    public ComputeBackend Compute { get; }
    /// <summary>Per-pixel statistics of good parts for sizing defects; null for models fitted before they existed (map sizes only).</summary>
    public Explain.GoodPixels? GoodPixels { get; }

    /// <summary>Every component whose state goes into the model file, with its stage and index.</summary>
    public IEnumerable<(StageKind Stage, int Index, IFittedComponent Component)> Stored()
    {
        yield return (StageKinds.Backbone, 0, Backbone.Component);
        yield return (StageKinds.Embedding, 0, Embedding);
        yield return (StageKinds.Scoring, 0, Scorer);
        for (int i = 0; i < Logic.Count; i++) yield return (StageKinds.Logic, i, Logic[i]);
    }

    /// <summary>The pipeline the stages were fitted by, and the catalog they came from: to name a component that fails.</summary>
    public required PipelineSpec Spec { get; init; }
    public required IComponentCatalog Catalog { get; init; }

    string ScorerName => Spec.Scoring.Type;

    public PatchScores Score(LayerMaps maps, ImageScoreMode imageScore) => ImageScoring.Apply(ScoreChecked(Embed(maps)), imageScore);

    FeatureBatch Embed(LayerMaps maps) => Catalog.Guard(Spec.Embedding, "embedding", () => Embedding.Embed(maps));

    /// <summary>
    /// The scorer's scores, held to one score per image given: a plugin's answer is outside input, and a short answer
    /// would otherwise fail deep in the map code or, in calibration, set a threshold from fewer images than it names.
    /// </summary>
    PatchScores ScoreChecked(FeatureBatch features)
    {
        var scores = Catalog.Guard(Spec.Scoring, "scoring", () => Scorer.Score(features));
        if (scores.Count != features.Count)
            throw new PipelineException($"The scorer {ScorerName} returned scores for {scores.Count} images when given {features.Count}; "
                + "no verdict can be given. This is a fault of the scorer's plugin: update or replace it.");
        return scores;
    }

    /// <summary>Patch scores upsampled to the map size and smoothed (PatchCore: bilinear, then Gaussian sigma 4).</summary>
    public static Grid2D AnomalyMap(PatchScores scores, int index, int height, int width, double sigma)
    {
        int h = scores.Height, w = scores.Width;
        var patch = scores.Values.AsSpan(index * h * w, h * w);
        var upsampled = MapOps.ResizeBilinear(patch, h, w, height, width);
        var smoothed = MapOps.GaussianBlur(upsampled, height, width, (float)sigma);
        return new Grid2D(height, width, smoothed);
    }

    /// <summary>
    /// The map of a defect at a single point of the image: the centre cell of every backbone layer set to 1 through the
    /// embedding (its neighbourhood aggregation and upsampling), the change of each patch's features as its score, then
    /// the map's upsampling and smoothing. The geometry of this model's maps, independent of any data.
    /// </summary>
    public static Grid2D PointSpread(IFittedPatchEmbedding embedding, IReadOnlyList<LayerInfo> layers, int height, int width, double sigma)
    {
        var data = new float[layers.Count][];
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            data[l] = new float[2 * layer.ValuesPerImage];   // image 0 all zero, image 1 the point
            int cy = height / 2 * layer.Height / height, cx = width / 2 * layer.Width / width;
            for (int c = 0; c < layer.Channels; c++)
                data[l][layer.ValuesPerImage + (c * layer.Height + cy) * layer.Width + cx] = 1;
        }
        var features = embedding.Embed(new LayerMaps(2, layers, data));
        var zero = features.Image(0);
        var point = features.Image(1);
        var change = new float[features.PatchesPerImage];
        for (int p = 0; p < change.Length; p++)
        {
            double sum = 0;
            for (int d = 0; d < features.Dim; d++) { double diff = point[p * features.Dim + d] - zero[p * features.Dim + d]; sum += diff * diff; }
            change[p] = double.IsFinite(sum) ? (float)Math.Sqrt(sum) : 0;
        }
        return AnomalyMap(new PatchScores(1, features.Height, features.Width, change, [change.Max()]), 0, height, width, sigma);
    }

    Explain.DefectSize? _defectSize;

    /// <summary>The defect size estimate for this model's maps, worked out from its geometry on first use.</summary>
    Explain.DefectSize SizeEstimate(IReadOnlyList<LayerInfo> layers, InspectionSettings settings) =>
        _defectSize ??= new Explain.DefectSize(PointSpread(Embedding, layers, settings.Preprocessing.Height, settings.Preprocessing.Width, settings.Sigma));

    /// <summary>
    /// Regions of the map above the threshold, in map pixels and in the original image's pixels. A region's size is the
    /// larger of the map's estimate (<see cref="Explain.DefectSize"/>) and the count of the part's pixels in the region's
    /// bump that deviate from good parts beyond what good parts themselves do there (<see cref="Explain.GoodPixels"/>,
    /// when the model has the statistics and the preprocessed <paramref name="image"/> is given).
    /// </summary>
    /// <param name="goodLevel">What good parts score (the median held-out good score): the level a defect's bump rises from. Null
    /// before calibration has measured it; the map's median stands in.</param>
    public static IReadOnlyList<DefectRegion> Regions(Grid2D map, double threshold, double? goodLevel, Preprocessing preprocessing,
        int originalHeight, int originalWidth, Explain.DefectSize size, ImageTensor? image = null, Explain.GoodPixels? goodPixels = null)
    {
        var found = ConnectedRegions.Find(map.Values, map.Height, map.Width, (float)threshold);
        var regions = new DefectRegion[found.Length];
        double background = goodLevel ?? (found.Length == 0 ? 0 : Statistics.Quantile(map.Values, 0.5));
        var taken = new bool[map.Values.Length];
        var deviation = found.Length == 0 || image is null ? null : goodPixels?.Deviation(image);
        var counted = deviation is null ? null : new bool[deviation.Length];
        var bump = deviation is null ? null : new List<int>();
        // Images handed over already preprocessed have no original geometry: their pixels are the map's.
        bool preprocessed = originalHeight <= 0;
        double pixelScale = preprocessed ? 1 : preprocessing.PlacementFor(originalHeight, originalWidth).PixelArea;
        for (int i = 0; i < found.Length; i++)
        {
            var r = found[i];
            var mapBox = new PixelBox(r.X, r.Y, r.Width, r.Height);
            var imageBox = preprocessed ? mapBox : preprocessing.ToOriginal(mapBox, originalHeight, originalWidth);
            bump?.Clear();
            double core = size.Area(map, background, r.PeakX, r.PeakY, mapBox, taken, bump);
            if (deviation is not null) core = Math.Max(core, goodPixels!.ExcessArea(deviation, bump!, map.Width, counted!));
            regions[i] = new DefectRegion
            {
                MapBox = mapBox,
                MapArea = r.Area,
                ImageBox = imageBox,
                ImageArea = (long)Math.Round(r.Area * pixelScale),
                PeakScore = r.Peak,
                MeanScore = r.Mean,
                PeakX = r.PeakX,
                PeakY = r.PeakY,
                Location = Explain.PartLocation.Of(mapBox, map.Width, map.Height).Words,
                CoreImageArea = (long)Math.Round(core * pixelScale),
            };
        }
        return regions;
    }

    /// <summary>
    /// Inspects preprocessed images: every stage timed per batch and charged evenly to its images. Outcomes keep the
    /// input order; an image the scorer gave no finite score has an error instead of a result, and costs only its own.
    /// </summary>
    public ImageOutcome[] Inspect(IReadOnlyList<PreparedImage> images, IReadOnlyList<string> ids, InspectionSettings settings,
        IReadOnlyDictionary<string, double>? earlierTimings = null)
    {
        var watch = Stopwatch.StartNew();
        var maps = Backbone.Run(images.Select(i => i.Image).ToList());
        var timings = new Dictionary<string, double>(earlierTimings ?? new Dictionary<string, double>())
        {
            ["backbone"] = watch.Elapsed.TotalMilliseconds / Math.Max(1, images.Count),
        };
        return InspectMaps(maps, images, ids, settings, timings);
    }

    /// <summary>
    /// Image scores and heat maps of backbone maps already computed, with milliseconds per image of embedding, scoring
    /// and map added to <paramref name="timings"/>: the part of inspection that AutoML's validation also runs.
    /// <paramref name="scorerUnitMaps"/>: heat maps of the scorer's patch scores, not divided by a ratio image score's
    /// reference.
    /// </summary>
    public (PatchScores Scores, Grid2D[] Maps) ScoreMaps(LayerMaps maps, InspectionSettings settings, IDictionary<string, double> timings,
        bool scorerUnitMaps = false)
    {
        var watch = Stopwatch.StartNew();
        double Lap() { double ms = watch.Elapsed.TotalMilliseconds / Math.Max(1, maps.Count); watch.Restart(); return ms; }

        var features = Embed(maps);
        timings["embedding"] = Lap();
        var scores = ImageScoring.Apply(ScoreChecked(features), settings.ImageScore, divideMap: !scorerUnitMaps);
        timings["scoring"] = Lap();

        var heatMaps = new Grid2D[maps.Count];
        int mapHeight = settings.Preprocessing.Height, mapWidth = settings.Preprocessing.Width;
        if (Compute.UsesGpu)
        {
            var smoothed = Compute.AnomalyMaps(scores.Values, maps.Count, scores.Height, scores.Width, mapHeight, mapWidth, (float)settings.Sigma);
            for (int i = 0; i < smoothed.Length; i++) heatMaps[i] = new Grid2D(mapHeight, mapWidth, smoothed[i]);
        }
        else Parallel.For(0, maps.Count, i => heatMaps[i] = AnomalyMap(scores, i, mapHeight, mapWidth, settings.Sigma));
        timings["map"] = Lap();
        return (scores, heatMaps);
    }

    /// <summary>Inspection from backbone maps already computed (calibration reuses the prepared set's); as <see cref="Inspect"/>.</summary>
    public ImageOutcome[] InspectMaps(LayerMaps maps, IReadOnlyList<PreparedImage> images, IReadOnlyList<string> ids, InspectionSettings settings,
        IReadOnlyDictionary<string, double>? earlierTimings = null)
    {
        var timings = new Dictionary<string, double>(earlierTimings ?? new Dictionary<string, double>());
        var (scores, heatMaps) = ScoreMaps(maps, settings, timings);
        var unscorable = NonFiniteScoreErrors(scores, heatMaps, ids);
        var watch = Stopwatch.StartNew();
        double Lap() { double ms = watch.Elapsed.TotalMilliseconds / Math.Max(1, images.Count); watch.Restart(); return ms; }

        var regions = new IReadOnlyList<DefectRegion>[images.Count];
        var size = SizeEstimate(maps.Layers, settings);
        double? goodLevel = settings.Normalization?.GoodMedian();
        Parallel.For(0, images.Count, i => regions[i] = unscorable[i] is not null ? [] : Regions(heatMaps[i], settings.Threshold, goodLevel, settings.Preprocessing,
            images[i].OriginalHeight, images[i].OriginalWidth, size, images[i].Image, GoodPixels));
        timings["regions"] = Lap();
        var rules = new IReadOnlyList<RuleResult>[images.Count];
        var logicMargins = new double?[images.Count];
        Parallel.For(0, images.Count, i =>
        {
            if (unscorable[i] is not null) { rules[i] = []; return; }
            var subject = new InspectionSubject
            {
                Id = ids[i], Image = images[i].Image, WholeImage = images[i].Whole, AnomalyMap = heatMaps[i], Threshold = settings.Threshold, Regions = regions[i],
            };
            var outcomes = Logic.Select((check, c) => Catalog.Guard(Spec.Logic[c], "checking a part", () => check.Inspect(subject))).ToList();
            rules[i] = outcomes.SelectMany(o => o.Rules).ToList();
            logicMargins[i] = outcomes.Select(o => o.Margin).Where(m => m is not null).Max();
        });
        if (Logic.Count > 0) timings["logic"] = Lap();

        var results = new ImageOutcome[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            if (unscorable[i] is { } error) { results[i] = new ImageOutcome(ids[i], null, error, Unscorable: true); continue; }
            double imageRaw = scores.ImageScores[i];
            double raw = Fuse(imageRaw, logicMargins[i], settings);
            results[i] = new ImageOutcome(ids[i], new InspectionResult
            {
                Id = ids[i],
                RawScore = raw,
                ImageRawScore = imageRaw,
                Score = settings.Normalization?.Apply(raw) ?? double.NaN,
                IsAnomaly = raw > settings.Threshold || rules[i].Any(r => !r.Passed),
                RawMap = heatMaps[i],
                Regions = regions[i],
                Rules = rules[i],
                Timings = timings,
                ModelId = settings.ModelId,
                InputWarning = UnlikeImageWarning.Warning(settings.GoodImageSizes, settings.GoodImageColour, images[i].OriginalWidth, images[i].OriginalHeight, images[i].IsGrey,
                    settings.GoodImageLevels, images[i].Levels, compareBrightness: settings.Preprocessing.Intensity != IntensityMode.Mean),
            }, null);
        }
        return results;
    }

    /// <summary>
    /// Per image, why it has no verdict, or null. A NaN score compares false with the threshold, so a part would pass as
    /// good without a word: refused, naming the image, whatever the scorer. Infinity in the patch scores is refused too
    /// (the heat map and its regions are made of them), and so is a heat map that is not finite. Only that image is
    /// refused: the others of its batch are sound.
    /// </summary>
    string?[] NonFiniteScoreErrors(PatchScores scores, Grid2D[] heatMaps, IReadOnlyList<string> ids)
    {
        int perImage = scores.Height * scores.Width;
        var errors = new string?[scores.Count];
        for (int i = 0; i < scores.Count; i++)
        {
            float image = scores.ImageScores[i];
            if ((NonFinite(scores.Values.AsSpan(i * perImage, perImage)) ?? (float.IsFinite(image) ? null : image)) is { } bad)
                errors[i] = $"The scorer {ScorerName} gave {ids[i]} a score of {bad}; no verdict can be given, and the part is not "
                    + "passed as good. A scorer that gives no finite score is at fault (update or replace its plugin), or the image is unlike "
                    + "anything it can score.";
            // Finite patch scores so large that the blur's sums overflow: the regions would be made of infinity.
            else if (NonFinite(heatMaps[i].Values) is { } badMap)
                errors[i] = $"The heat map of {ids[i]} holds {badMap} (the scorer {ScorerName} gave patch scores too large to blur); no verdict "
                    + "can be given, and the part is not passed as good. Check the scorer's options.";
        }
        return errors;
    }

    /// <summary>The first NaN or infinity among <paramref name="values"/>; null when all are finite.</summary>
    static float? NonFinite(ReadOnlySpan<float> values)
    {
        foreach (var value in values)
            if (!float.IsFinite(value)) return value;
        return null;
    }

    /// <summary>
    /// Calibrated fusion: the image score's margin over its threshold, (raw - t) / s in the normalisation's units (the
    /// median held-out good part at -ln 19), and the logic checks' margins on the same scale; the larger one, mapped back
    /// to the image score's units, is the part's raw score. Without a logic margin (or a normalisation) it is the image
    /// score itself.
    /// </summary>
    static double Fuse(double imageRaw, double? logicMargin, InspectionSettings settings)
    {
        if (logicMargin is not double margin || settings.Normalization is not { } n || !double.IsFinite(margin)) return imageRaw;
        double imageMargin = (imageRaw - n.Center) / n.Scale;
        return margin > imageMargin ? n.Center + margin * n.Scale : imageRaw;
    }

    bool _embeddingAndScorerGivenUp;

    /// <summary>The embedding and scorer for another owner, who disposes them; this one keeps only the backbone and logic to dispose.</summary>
    public (IFittedPatchEmbedding Embedding, IFittedScorer Scorer) GiveUpEmbeddingAndScorer()
    {
        if (_embeddingAndScorerGivenUp) throw new InvalidOperationException("This model's embedding and scorer were already given up.");
        _embeddingAndScorerGivenUp = true;
        return (Embedding, Scorer);
    }

    public void Dispose()
    {
        Backbone.Release();
        if (!_embeddingAndScorerGivenUp)
        {
            Embedding.Dispose();
            Scorer.Dispose();
        }
        foreach (var check in Logic) check.Dispose();
    }
}

/// <summary>
/// What inspection needs besides the fitted components: geometry, map smoothing, image score, threshold, normalisation,
/// and what the good images were like (to flag unlike ones).
/// </summary>
sealed record InspectionSettings(Preprocessing Preprocessing, double Sigma, double Threshold,
    ModelFiles.ScoreNormalization? Normalization, string ModelId, ImageScoreMode ImageScore = ImageScoreMode.Max, GoodImageSizes? GoodImageSizes = null,
    GoodImageColour? GoodImageColour = null, GoodImageLevels? GoodImageLevels = null)
{
    /// <summary>
    /// A pipeline whose input is <c>"colour": "grey"</c> turns every image into grey before the backbone, so a colour
    /// image gives the features of its grey copy and a grey one those it would give anyway: colour is not compared then.
    /// </summary>
    public static InspectionSettings For(PipelineSpec spec, double threshold, ModelFiles.ScoreNormalization? normalization, string modelId,
        GoodImageSizes? goodImageSizes, GoodImageColour? goodImageColour, GoodImageLevels? goodImageLevels) =>
        new(spec.Preprocessing, spec.Map.Sigma, threshold, normalization, modelId, spec.Map.ImageScore, goodImageSizes,
            spec.Preprocessing.Colour == ColourMode.Grey ? null : goodImageColour, goodImageLevels);
}
