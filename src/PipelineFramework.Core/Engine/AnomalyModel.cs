using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// A fitted pipeline: its fitted stages, threshold and score normalisation. Immutable and thread-safe for inspection;
/// saved as one zip (see docs/model-file.md) and loaded to score bit-identically. Loading needs only the plugins of
/// the stages whose state it stores (backbone, embedding, scoring, logic), never those of synthesis.
/// </summary>
public sealed class AnomalyModel : IDisposable
{
    readonly FittedStages _stages;
    readonly InspectionSettings _settings;
    // The model itself counts as one user; each inspection or save in flight as another. The stages (an ONNX session,
    // native buffers) are released when the count reaches zero, so Dispose during a Transform on another thread waits
    // for it instead of pulling the session from under it, and any use after Dispose is refused instead of crashing.
    int _users = 1;
    int _disposed;

    internal AnomalyModel(ModelManifest manifest, PipelineSpec spec, FittedStages stages, HostServices services, IComponentCatalog catalog)
    {
        Manifest = manifest;
        Spec = spec;
        Services = services;
        Catalog = catalog;
        _stages = stages;
        _settings = InspectionSettings.For(spec, manifest.Threshold.Value, manifest.Normalization, manifest.ModelId, manifest.Training.ImageSizes, manifest.Training.ImageColour, manifest.Training.ImageLevels);
    }

    public ModelManifest Manifest { get; }
    public PipelineSpec Spec { get; }
    public HostServices Services { get; }
    /// <summary>Where the explainer is created from when one is asked for.</summary>
    IComponentCatalog Catalog { get; }
    public string ModelId => Manifest.ModelId;
    /// <summary>Decision threshold in raw score units; the normalised score puts it at 0.5.</summary>
    public double Threshold => Manifest.Threshold.Value;
    public ScoreNormalization Normalization => Manifest.Normalization;
    public Preprocessing Preprocessing => _settings.Preprocessing;
    /// <summary>Height of the anomaly map, in preprocessed image pixels.</summary>
    public int MapHeight => Preprocessing.Height;
    /// <summary>Width of the anomaly map, in preprocessed image pixels.</summary>
    public int MapWidth => Preprocessing.Width;
    /// <summary>Images the backbone has run on through this model (and the prepared set it was fitted from).</summary>
    public long BackboneImages => _stages.Backbone.ImagesRun;

    /// <summary>The per-pixel statistics of good parts that sizes use besides the map; null for a model file written before them.</summary>
    internal Explain.GoodPixels? GoodPixels => _stages.GoodPixels;

    /// <summary>
    /// This model's map of a single-point defect (<see cref="FittedStages.PointSpread"/>), for measuring size estimates
    /// at other levels (bench size). The backbone knows its layers once it has run: inspect an image first.
    /// </summary>
    internal Grid2D PointSpread() => _stages.Backbone.Layers.Count == 0
        ? throw new InvalidOperationException("The backbone's layers are known once it has run; inspect an image first.")
        : FittedStages.PointSpread(_stages.Embedding, _stages.Backbone.Layers, MapHeight, MapWidth, _settings.Sigma);

    public InspectionResult Inspect(string imagePath) => Inspect([imagePath])[0];

    /// <summary>Scores encoded image bytes (PNG, JPEG, BMP), e.g. from a camera or a request; same result as the file.</summary>
    public InspectionResult Inspect(byte[] encodedImage, string id) => Inspect([ImageSource.FromBytes(id, encodedImage)])[0];

    /// <summary>Scores an image read from a stream of encoded bytes.</summary>
    public InspectionResult Inspect(Stream encodedImage, string id) => Inspect([ImageSource.FromStream(id, encodedImage)])[0];

    /// <summary>Scores image files; results keep the input order. Decoding errors name the file.</summary>
    public IReadOnlyList<InspectionResult> Inspect(IReadOnlyList<string> imagePaths, IProgress<ProgressUpdate>? progress = null,
        CancellationToken cancellation = default) =>
        Inspect(ImageSource.FromFiles(imagePaths), progress, cancellation);

    /// <summary>
    /// Scores images from any source, decoded and inspected batch by batch; an unreadable image, or one the scorer gives
    /// no finite score, is an error naming it.
    /// </summary>
    public IReadOnlyList<InspectionResult> Inspect(IReadOnlyList<ImageSource> sources, IProgress<ProgressUpdate>? progress = null,
        CancellationToken cancellation = default) =>
        ImageOutcome.ResultsOrFirstError(InspectBatches(sources, stopAtUnreadable: true, progress, cancellation));

    /// <summary>
    /// Scores every image that can be read and says why each other one could not: a damaged file among many (a folder
    /// of a shift's parts), or one the scorer gives no finite score, costs its own result only. Results keep the input order.
    /// </summary>
    public IReadOnlyList<ImageOutcome> InspectReadable(IReadOnlyList<ImageSource> sources, IProgress<ProgressUpdate>? progress = null,
        CancellationToken cancellation = default) =>
        InspectBatches(sources, stopAtUnreadable: false, progress, cancellation);

    ImageOutcome[] InspectBatches(IReadOnlyList<ImageSource> sources, bool stopAtUnreadable, IProgress<ProgressUpdate>? progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(sources);
        using var use = Use();
        var outcomes = new ImageOutcome[sources.Count];
        Batches.ForEach(sources.Count, Spec.Calibration.BatchSize, (start, count) =>
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var slice = sources.Skip(start).Take(count).ToList();
            var (images, errors) = Batches.TryDecode(slice, Preprocessing);
            // The first unreadable image in input order, so the message does not depend on thread timing.
            if (stopAtUnreadable && errors.FirstOrDefault(e => e is not null) is { } first) throw new PipelineException(first.Message, first);
            var readable = Enumerable.Range(0, count).Where(i => images[i] is not null).ToList();
            for (int i = 0; i < count; i++)
                if (errors[i] is { } error) outcomes[start + i] = new ImageOutcome(slice[i].Id, null, error.Message);
            if (readable.Count == 0) return;
            var decode = new Dictionary<string, double> { ["decode"] = watch.Elapsed.TotalMilliseconds / readable.Count };
            var scored = _stages.Inspect(readable.Select(i => images[i]!).ToList(), readable.Select(i => slice[i].Id).ToList(), _settings, decode);
            for (int k = 0; k < readable.Count; k++) outcomes[start + readable[k]] = scored[k];
        }, progress, "scoring", cancellation);
        return outcomes;
    }

    /// <summary>
    /// Scores images already preprocessed to the model's input geometry (see <see cref="Preprocessing"/>); regions are
    /// then reported in those pixels only.
    /// </summary>
    public IReadOnlyList<InspectionResult> Inspect(IReadOnlyList<ImageTensor> images, IReadOnlyList<string> ids)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(ids);
        if (images.Count != ids.Count) throw new ArgumentException("One id per image is needed.");
        using var use = Use();
        foreach (var image in images)
        {
            if (image.Height != MapHeight || image.Width != MapWidth || image.Channels != 3)
                throw new PipelineException($"Image is {image.Channels}x{image.Height}x{image.Width}; this model takes 3x{MapHeight}x{MapWidth}. Use model.Preprocessing.Load(path).");
        }
        var results = new InspectionResult[images.Count];
        Batches.ForEach(images.Count, Spec.Calibration.BatchSize, (start, count) =>
            ImageOutcome.ResultsOrFirstError(_stages.Inspect(images.Skip(start).Take(count).Select(i => new PreparedImage(i, 0, 0)).ToList(), ids.Skip(start).Take(count).ToList(), _settings))
                .CopyTo(results, start), null, "scoring", default);
        return results;
    }

    /// <summary>
    /// Raw image scores and heat maps of layer maps the backbone has already produced (a prepared set's hold-out and
    /// synthetic anomalies): AutoML validates a trial without running the backbone again. Milliseconds per image of
    /// each stage after the backbone are measured here. <paramref name="scorerUnitMaps"/>: heat maps as the scorer made
    /// them, before a ratio image score (<see cref="ImageScoreMode.MaxOverMedian"/>) divides each by its reference.
    /// </summary>
    public MapScores ScoreMaps(LayerMaps maps, bool scorerUnitMaps = false)
    {
        using var use = Use();
        var timings = new Dictionary<string, double>();
        var (scores, heatMaps) = _stages.ScoreMaps(maps, _settings, timings, scorerUnitMaps);
        return new MapScores(scores.ImageScores.ToArray(), heatMaps, timings);
    }

    /// <summary>
    /// Why a part got its verdict, from the measured facts only (score, threshold, regions, rules, good parts), by the
    /// pipeline's explainer (<c>$.explain</c>; the offline one when none is declared). Never fails for the explainer's
    /// sake: a failed or unusable answer is replaced by the offline explanation with a note.
    /// </summary>
    public Task<Explanation> ExplainAsync(InspectionResult result, CancellationToken cancellation = default) =>
        Converse(result).ExplainAsync(cancellation);

    /// <summary>An explanation of one part that follow-up questions can continue (<see cref="Explain.ExplanationConversation.AskAsync"/>).</summary>
    public Explain.ExplanationConversation Converse(InspectionResult result) =>
        Converse(FactsOf(result), result.InputWarning is { } unlike ? [unlike] : []);

    /// <summary>
    /// The same from facts kept elsewhere (a results store), when the heat map itself is no longer at hand; the facts
    /// carry their own threshold (that of the model which scored the part).
    /// </summary>
    public Task<Explanation> ExplainAsync(InspectionFacts facts, CancellationToken cancellation = default) =>
        Converse(facts).ExplainAsync(cancellation);

    /// <summary>A conversation about a part from its stored facts, with the same guard rails.</summary>
    public Explain.ExplanationConversation Converse(InspectionFacts facts) => Converse(facts, []);

    Explain.ExplanationConversation Converse(InspectionFacts facts, IReadOnlyList<string> hostNotes)
    {
        var spec = Spec.Explain ?? new ComponentSpec(Explain.OfflineExplainer.TypeName, new(), "$.explain");
        var explainer = Catalog.Create<IExplainer>(spec, ComponentKind.Explainer);
        return new Explain.ExplanationConversation(explainer, facts, Services) { HostNotes = hostNotes, ExplainerType = spec.Type };
    }

    /// <summary>The facts an explainer gets about a part: the result, the threshold and what good parts score.</summary>
    public InspectionFacts FactsOf(InspectionResult result)
    {
        double goodMedian = Normalization.GoodMedian();
        bool imageAtHand = File.Exists(result.Id);
        return new InspectionFacts
        {
            Id = result.Id, Score = result.Score, RawScore = result.RawScore, Threshold = Threshold, IsAnomaly = result.IsAnomaly,
            Regions = result.Regions, Rules = result.Rules, MapWidth = result.RawMap.Width, MapHeight = result.RawMap.Height,
            GoodParts = Manifest.Training.HoldoutImages > 0 ? new GoodPartStatistics { Count = Manifest.Training.HoldoutImages, MedianRawScore = goodMedian } : null,
            CropImage = imageAtHand ? box => Explain.ExplanationConversation.CropPng(result.Id, box) : null,
        };
    }

    /// <summary>Writes the model file atomically: an existing file at <paramref name="path"/> survives any failure.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // Checked now: the rename at the end of an atomic write would find the folder only after the whole model is written.
        if (Directory.Exists(path))
            throw new PipelineException($"Model file '{path}' is a folder; give a file name, e.g. {Path.Combine(path, "model.pfmodel")}.");
        AtomicFile.Write(path, Save);
    }

    /// <summary>Writes the model file to a stream (left open).</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var use = Use();
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        using (var entry = zip.CreateEntry(ModelFileReader.ManifestEntry, CompressionLevel.Optimal).Open())
            JsonSerializer.Serialize(entry, Manifest, ModelFileReader.ManifestJson);
        foreach (var (stage, index, component) in _stages.Stored())
            Catalog.Guard(Spec.Components(stage)[index], "saving", () => component.Save(new ZipModelWriter(zip, stage.StateFolder(index))));
        _stages.GoodPixels?.Save(new ZipModelWriter(zip, Explain.GoodPixels.Folder));
        MLNet.MLNetLoadRedirect.AddTo(zip);
    }

    public static AnomalyModel Load(string path, IComponentCatalog catalog, CancellationToken cancellation = default) =>
        Load(path, catalog, null, cancellation);

    public static AnomalyModel Load(string path, IComponentCatalog catalog, HostServices? services, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(catalog);
        UserPaths.RequireFile(path, "Model file", $"Create one with `pf fit --pipeline <json> --data <folder> --model {path}`.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PipelineException($"Cannot read model file '{path}': {e.Message}", e);
        }
        return Load(bytes, path, catalog, services, cancellation);
    }

    /// <summary>Loads a model file from a stream (read to its end now); <paramref name="name"/> labels errors.</summary>
    public static AnomalyModel Load(Stream stream, IComponentCatalog catalog, string name = "model stream", HostServices? services = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(catalog);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return Load(copy.ToArray(), name, catalog, services, cancellation);
    }

    static AnomalyModel Load(byte[] bytes, string path, IComponentCatalog catalog, HostServices? services, CancellationToken cancellation)
    {
        var name = Path.GetFileName(path);
        services ??= HostServices.None;
        using var zip = ModelFileReader.OpenArchive(new MemoryStream(bytes), path);
        var manifest = ModelFileReader.ReadManifest(zip, path);
        var source = $"{name}:{ModelFileReader.ManifestEntry}";

        // Only the stages whose state the file stores need their plugins; name any that is missing, with its origin.
        var unchecked_ = PipelineSpecParser.Parse(manifest.Pipeline.ToJsonString(), source, catalog, _ => false);
        foreach (var stage in StageKinds.All.Where(s => s.Stored))
        {
            foreach (var (component, index) in unchecked_.Components(stage).Select((c, i) => (c, i)))
            {
                if (catalog.Components.Any(c => c.TypeName == component.Type)) continue;
                var origin = manifest.Components.GetValueOrDefault(stage.ManifestKey(index));
                throw new PipelineException(
                    $"Model file '{name}' needs the {stage.Words} plugin '{component.Type}'{(origin is null ? "" : $" ({origin.Source} {origin.Version})")}, which is not installed. " +
                    $"Installed components: {string.Join(", ", catalog.Components.Select(c => c.TypeName))}. " +
                    $"Put the plugin's folder under the application's plugins/ folder or in {ComponentCatalog.PluginPathVariable}.");
            }
        }
        var spec = PipelineSpecParser.Parse(manifest.Pipeline.ToJsonString(), source, catalog, stage => stage.Stored);
        if (manifest.Preprocessing.Disagreement(PreprocessingManifest.Of(spec)) is { } disagreement)
            throw ModelFileDamage.Error(path, ModelFileReader.ManifestEntry, disagreement);
        if (manifest.FormatVersion < ModelManifest.CurrentFormatVersion) manifest = Upgrade(manifest, spec, catalog, bytes);

        var context = new FitContext { Seed = spec.Seed, Cancellation = cancellation, Services = services };
        IModelReader Reader(StageKind stage, int index) => new ZipModelReader(zip, StateFolder(stage, index, manifest), name);

        var loaded = new List<IDisposable>();
        try
        {
            var backboneComponent = catalog.Create<IBackbone>(spec.Backbone, ComponentKind.Backbone);
            var backbone = catalog.Guard(spec.Backbone, "loading", () => backboneComponent.Load(spec.Geometry, Reader(StageKinds.Backbone, 0), context));
            loaded.Add(backbone);
            var embeddingComponent = catalog.Create<IPatchEmbedding>(spec.Embedding, ComponentKind.PatchEmbedding);
            var embedding = catalog.Guard(spec.Embedding, "loading", () => embeddingComponent.Load(backbone.Layers, Reader(StageKinds.Embedding, 0), context));
            loaded.Add(embedding);
            var scorerComponent = catalog.Create<IScorer>(spec.Scoring, ComponentKind.Scorer);
            var scorer = catalog.Guard(spec.Scoring, "loading", () => scorerComponent.Load(Reader(StageKinds.Scoring, 0), context));
            loaded.Add(scorer);
            var logic = new List<IFittedLogicCheck>();
            foreach (var (check, index) in spec.Logic.Select((c, i) => (c, i)))
            {
                var checkComponent = catalog.Create<ILogicCheck>(check, ComponentKind.LogicCheck);
                var fitted = catalog.Guard(check, "loading", () => checkComponent.Load(Reader(StageKinds.Logic, index), context));
                loaded.Add(fitted);
                logic.Add(fitted);
            }
            // Files written before the statistics existed have none: their sizes are the map's alone, as when they were written.
            var pixels = Explain.GoodPixels.Load(new ZipModelReader(zip, Explain.GoodPixels.Folder, name), spec.Preprocessing.Height, spec.Preprocessing.Width, name);
            return new AnomalyModel(manifest, spec, new FittedStages(new SharedBackbone(backbone, catalog, spec.Backbone), embedding, scorer, logic, services, pixels) { Catalog = catalog, Spec = spec }, services, catalog);
        }
        catch (PipelineException e) when (!e.Message.Contains(name, StringComparison.Ordinal))
        {
            foreach (var d in loaded) d.Dispose();
            // Components name the entry; the user also needs to know which file.
            throw new PipelineException($"Model file '{name}': {e.Message}", e);
        }
        catch
        {
            foreach (var d in loaded) d.Dispose();
            throw;
        }
    }

    /// <summary>Format 1 (before backbone and embedding were separate stages) kept both under <c>features/</c>.</summary>
    static string StateFolder(StageKind stage, int index, ModelManifest manifest) =>
        manifest.StateFormatVersion == 1 && (stage == StageKinds.Backbone || stage == StageKinds.Embedding) ? "features/" : stage.StateFolder(index);

    /// <summary>
    /// An older manifest described in today's terms (migrated pipeline, one component per stage, an id from the file's
    /// bytes), so saving a loaded old model writes the current format.
    /// </summary>
    static ModelManifest Upgrade(ModelManifest old, PipelineSpec spec, IComponentCatalog catalog, byte[] bytes) => old with
    {
        FormatVersion = ModelManifest.CurrentFormatVersion,
        StateFormatVersion = old.FormatVersion,
        ModelId = string.IsNullOrEmpty(old.ModelId) ? Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] : old.ModelId,
        Pipeline = spec.ToJson(),
        Components = catalog.Describe(spec),
    };

    /// <summary>Hands this model's embedding and scorer to a new owner (<see cref="AnomalyPipeline.Fit(PreparedSet, AnomalyModel, IProgress{ProgressUpdate}?, CancellationToken)"/>); disposing this model no longer disposes them.</summary>
    internal (IFittedPatchEmbedding Embedding, IFittedScorer Scorer) GiveUpEmbeddingAndScorer() => _stages.GiveUpEmbeddingAndScorer();

    /// <summary>
    /// Releases the backbone session and the scorer's buffers once no inspection is running; the model refuses any use
    /// afterwards (a clear <see cref="ObjectDisposedException"/>, where a released ONNX session could crash the process).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Release();
    }

    Lease Use()
    {
        while (true)
        {
            int users = Volatile.Read(ref _users);
            if (users == 0 || Volatile.Read(ref _disposed) == 1)
                throw new ObjectDisposedException(null, "This model was disposed; it can no longer score or be saved. Keep it until its "
                    + "last use: an ML.NET PredictionEngine disposes the transformer it was given, so give it transformer.WithImageColumn(...) "
                    + "(a view that does not own the model) or PredictionEngineOptions { OwnsTransformer = false }.");
            if (Interlocked.CompareExchange(ref _users, users + 1, users) == users) return new Lease(this);
        }
    }

    void Release()
    {
        if (Interlocked.Decrement(ref _users) == 0) _stages.Dispose();
    }

    readonly struct Lease(AnomalyModel model) : IDisposable
    {
        public void Dispose() => model.Release();
    }
}
