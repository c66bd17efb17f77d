using System.IO.Compression;
using System.Text.Json;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// A fitted pipeline: feature extractor, scorer, threshold and score normalisation. Immutable and thread-safe for
/// scoring; saved as one zip (see docs/model-file.md) and loaded to score bit-identically.
/// </summary>
public sealed class AnomalyModel : IDisposable
{
    const string ManifestEntry = ModelFileReader.ManifestEntry;
    const string FeaturesPrefix = "features/";
    const string ScoringPrefix = "scoring/";

    static JsonSerializerOptions ManifestJson => ModelFileReader.ManifestJson;

    readonly IFittedFeatureExtractor _extractor;
    readonly IFittedScorer _scorer;

    internal AnomalyModel(ModelManifest manifest, PipelineSpec spec, IFittedFeatureExtractor extractor, IFittedScorer scorer)
    {
        Manifest = manifest;
        Spec = spec;
        _extractor = extractor;
        _scorer = scorer;
    }

    public ModelManifest Manifest { get; }
    public PipelineSpec Spec { get; }
    /// <summary>Decision threshold in raw score units; the normalised score puts it at 0.5.</summary>
    public double Threshold => Manifest.Threshold.Value;
    public ScoreNormalization Normalization => Manifest.Normalization;
    public Preprocessing Preprocessing => new(Spec.Input.Size, Spec.Input.Crop);
    /// <summary>Side of the square anomaly map, in preprocessed (cropped) image pixels.</summary>
    public int MapSize => Spec.Input.Crop;

    public InspectionResult Inspect(string imagePath) => Inspect([imagePath])[0];

    /// <summary>Scores image files; results keep the input order. Decoding errors name the file.</summary>
    public IReadOnlyList<InspectionResult> Inspect(IReadOnlyList<string> imagePaths, IProgress<ProgressUpdate>? progress = null,
        CancellationToken cancellation = default)
    {
        var runner = Runner();
        var results = new List<InspectionResult>(imagePaths.Count);
        int batch = Spec.Calibration.BatchSize;
        for (int start = 0; start < imagePaths.Count; start += batch)
        {
            cancellation.ThrowIfCancellationRequested();
            var slice = imagePaths.Skip(start).Take(batch).ToList();
            results.AddRange(Inspect(runner.LoadBatch(slice), slice));
            progress?.Report(new ProgressUpdate("scoring", Math.Min(start + batch, imagePaths.Count), imagePaths.Count));
        }
        return results;
    }

    /// <summary>Scores images already preprocessed to the model's input geometry (see <see cref="Preprocessing"/>).</summary>
    public IReadOnlyList<InspectionResult> Inspect(IReadOnlyList<ImageTensor> images, IReadOnlyList<string> ids)
    {
        if (images.Count != ids.Count) throw new ArgumentException("One id per image is needed.");
        foreach (var image in images)
        {
            if (image.Height != Spec.Input.Crop || image.Width != Spec.Input.Crop || image.Channels != 3)
                throw new PipelineException($"Image is {image.Channels}x{image.Height}x{image.Width}; this model takes 3x{Spec.Input.Crop}x{Spec.Input.Crop}. Use model.Preprocessing.Load(path).");
        }
        var scores = Runner().ScoreImages(images, _scorer);
        var results = new InspectionResult[images.Count];
        Parallel.For(0, images.Count, i =>
        {
            var map = AnomalyMap(scores, i);
            double raw = scores.ImageScores[i];
            results[i] = new InspectionResult(ids[i], raw, Normalization.Apply(raw), raw > Threshold, map);
        });
        return results;
    }

    /// <summary>Patch scores upsampled to the input size and smoothed (PatchCore: bilinear, then Gaussian sigma 4).</summary>
    Grid2D AnomalyMap(PatchScores scores, int index)
    {
        int h = scores.Height, w = scores.Width, size = MapSize;
        var patch = scores.Values.AsSpan(index * h * w, h * w);
        var upsampled = MapOps.ResizeBilinear(patch, h, w, size, size);
        var smoothed = MapOps.GaussianBlur(upsampled, size, size, (float)Spec.Map.Sigma);
        return new Grid2D(size, size, smoothed);
    }

    ImageRunner Runner() => new(Preprocessing, _extractor, Spec.Calibration.BatchSize);

    /// <summary>Writes the model file atomically: an existing file at <paramref name="path"/> survives any failure.</summary>
    public void Save(string path)
    {
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            using (var entry = zip.CreateEntry(ManifestEntry, CompressionLevel.Optimal).Open())
                JsonSerializer.Serialize(entry, Manifest, ManifestJson);
            _extractor.Save(new ZipModelWriter(zip, FeaturesPrefix));
            _scorer.Save(new ZipModelWriter(zip, ScoringPrefix));
        });
    }

    public static AnomalyModel Load(string path, IComponentCatalog catalog, CancellationToken cancellation = default)
    {
        if (!File.Exists(path))
            throw new PipelineException($"Model file '{path}' does not exist. Create one with `pf fit --pipeline <json> --data <folder> --model {path}`.");
        var name = Path.GetFileName(path);
        using var zip = ModelFileReader.OpenArchive(new MemoryStream(File.ReadAllBytes(path)), path);
        {
            var manifest = ModelFileReader.ReadManifest(zip, path);
            foreach (var (stage, component) in manifest.Components)
            {
                if (catalog.Components.All(c => c.TypeName != component.Type))
                    throw new PipelineException(
                        $"Model file '{name}' needs the {stage} plugin '{component.Type}' ({component.Source} {component.Version}), which is not installed. " +
                        $"Installed components: {string.Join(", ", catalog.Components.Select(c => c.TypeName))}. " +
                        $"Put the plugin's folder under the application's plugins/ folder or in {ComponentCatalog.PluginPathVariable}.");
            }
            var spec = PipelineSpecParser.Parse(manifest.Pipeline.ToJsonString(), $"{name}:{ManifestEntry}", catalog);
            var pipeline = new AnomalyPipeline(spec, catalog);
            var context = new FitContext { Seed = spec.Seed, Cancellation = cancellation };
            var extractor = pipeline.Features.Load(pipeline.Geometry, new ZipModelReader(zip, FeaturesPrefix, name), context);
            try
            {
                var scorer = pipeline.Scorer.Load(new ZipModelReader(zip, ScoringPrefix, name), context);
                return new AnomalyModel(manifest, spec, extractor, scorer);
            }
            catch
            {
                extractor.Dispose();
                throw;
            }
        }
    }

    public void Dispose() => _extractor.Dispose();
}
