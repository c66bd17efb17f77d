using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.MLNet;

// A camera-style inspection app built from the NuGet packages only (PipelineFramework + two plugin packages):
// fit on good parts, score frames that never touch the disk through a PredictionEngine, evaluate with ML.NET.
// Usage: dotnet run -- [category folder with train/good and test/<defect>]   (default: the repository's hazelnut set)
var category = args.Length > 0 ? args[0] : Path.Combine(FindRepoRoot(), "samples", "data", "hazelnut");
var failures = new List<string>();
var mlContext = new MLContext(seed: 1);
var va = mlContext.VisualAnomaly();
Console.WriteLine($"plugins found: {string.Join(", ", va.Components.Components.Where(c => c.Source != "built-in").Select(c => c.TypeName))}");

// 1. A component whose package is not installed: the error says which package to add.
try
{
    va.Padim();
    failures.Add("a PaDiM pipeline was accepted without its plugin package");
}
catch (PipelineException e)
{
    Console.WriteLine($"without its package: {e.Message}");
    if (!e.Message.Contains("PipelineFramework.Plugins.Scoring.Padim")) failures.Add("the missing-plugin error does not name its package");
}

// 2. Fit on good frames held in memory (a camera would hand over encoded bytes like these).
var goodFrames = Directory.GetFiles(Path.Combine(category, "train", "good")).Order().Select(p => new Frame { Image = File.ReadAllBytes(p) }).ToList();
var pipeline = va.PatchCore(o => o.CoresetRatio = 0.1, imageColumnName: nameof(Frame.Image));
var watch = Stopwatch.StartNew();
using var model = pipeline.Fit(mlContext.Data.LoadFromEnumerable(goodFrames));
Console.WriteLine($"fitted on {goodFrames.Count} good frames in {watch.Elapsed.TotalSeconds:0.0} s; threshold {model.Model.Threshold:0.000} (raw)");

// 3. One frame at a time through a PredictionEngine.
var test = Directory.GetDirectories(Path.Combine(category, "test")).Order()
    .SelectMany(d => Directory.GetFiles(d).Order().Select(p => new LabelledFrame { Image = File.ReadAllBytes(p), Label = Path.GetFileName(d) != "good", Name = Path.GetRelativePath(category, p) }))
    .ToList();
using var engine = mlContext.Model.CreatePredictionEngine<LabelledFrame, Prediction>(model.WithImageColumn(nameof(Frame.Image)));
watch.Restart();
var predictions = test.Select(engine.Predict).ToList();
Console.WriteLine($"PredictionEngine: {test.Count} frames, {watch.Elapsed.TotalMilliseconds / test.Count:0.0} ms per frame");
foreach (var (frame, p) in test.Zip(predictions))
    Console.WriteLine($"  {p.Score,6:0.000}  {(p.PredictedLabel ? "ANOMALY" : "ok"),-8} {frame.Name}");

// 4. The whole test set through Transform, evaluated with ML.NET's own anomaly-detection evaluator.
var scored = model.Transform(mlContext.Data.LoadFromEnumerable(test));
var floatLabel = mlContext.Transforms.Conversion.ConvertType("Label", "Label", Microsoft.ML.Data.DataKind.Single).Fit(scored).Transform(scored);
var metrics = mlContext.AnomalyDetection.Evaluate(floatLabel);
Console.WriteLine($"AnomalyDetection.Evaluate: AUC {metrics.AreaUnderRocCurve:0.000}, detection rate at {10} false positives {metrics.DetectionRateAtFalsePositiveCount:0.000}");
if (metrics.AreaUnderRocCurve < 0.9) failures.Add($"AUC {metrics.AreaUnderRocCurve:0.000} is below 0.9 on {category}");
var batchScores = scored.GetColumn<float>("Score").ToList();
if (!batchScores.SequenceEqual(predictions.Select(p => p.Score))) failures.Add("PredictionEngine and Transform scores differ");

// 5. Our model file round trip; ML.NET's Model.Save and Model.Load cannot handle third-party transformers.
var modelPath = Path.Combine(Path.GetTempPath(), $"packaged-app-{Environment.ProcessId}.pfmodel");
model.SaveModel(modelPath);
using (var loaded = va.LoadModel(modelPath, nameof(Frame.Image)))
{
    var again = loaded.Transform(mlContext.Data.LoadFromEnumerable(test)).GetColumn<float>("Score").ToList();
    if (!again.SequenceEqual(batchScores)) failures.Add("the loaded model scores differently");
}
// ML.NET's own Model.Load cannot restore it either; it must say what to call instead.
try
{
    mlContext.Model.Load(modelPath, out _);
    failures.Add("mlContext.Model.Load accepted a PipelineFramework model file");
}
catch (Exception e)
{
    Console.WriteLine($"mlContext.Model.Load: {e.GetType().Name} -> {e.InnerException?.Message ?? e.Message}");
    if (!e.ToString().Contains("VisualAnomaly().LoadModel")) failures.Add("mlContext.Model.Load's error does not point to VisualAnomaly().LoadModel");
}
File.Delete(modelPath);

foreach (var failure in failures) Console.Error.WriteLine($"FAILED: {failure}");
Console.WriteLine(failures.Count == 0 ? "packaged app: all checks passed" : $"packaged app: {failures.Count} checks failed");
return failures.Count == 0 ? 0 : 1;

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (Directory.Exists(Path.Combine(dir.FullName, "samples", "data"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

class Frame
{
    public byte[] Image { get; set; } = [];
}

sealed class LabelledFrame : Frame
{
    public bool Label { get; set; }
    public string Name { get; set; } = "";
}

sealed class Prediction
{
    public float Score { get; set; }
    public bool PredictedLabel { get; set; }
}
