using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Core.MLNet;

// LoadImages -> ResizeImages -> ExtractPixels -> ApplyOnnxModel (ML.NET) -> PatchCore on the feature column.
// Usage: dotnet run -- [category folder with train/good and test/<defect>]   (default: the repository's hazelnut set)
var category = args.Length > 0 ? args[0] : Path.Combine(FindRepoRoot(), "samples", "data", "hazelnut");
// The MobileNetV2 int8 graph with named feature outputs, as the Features.Onnx plugin package installs it.
var onnx = Path.Combine(AppContext.BaseDirectory, "plugins", "Features.Onnx", "models", "mobilenetv2-12-int8-features.onnx");
const string layer = "feat_f10_s16_64ch";

var mlContext = new MLContext(seed: 3);
var va = mlContext.VisualAnomaly();
var train = mlContext.Data.LoadFromEnumerable(Directory.GetFiles(Path.Combine(category, "train", "good")).Order().Select(p => new Row { ImagePath = p }));
var testRows = Directory.GetDirectories(Path.Combine(category, "test")).Order()
    .SelectMany(d => Directory.GetFiles(d).Order().Select(p => new Row { ImagePath = p, Label = Path.GetFileName(d) != "good" })).ToList();

var pipeline = mlContext.Transforms.LoadImages("Image", null, nameof(Row.ImagePath))
    .Append(mlContext.Transforms.ResizeImages("Resized", 224, 224, "Image"))
    // PipelineFramework's ExtractPixels: ImageNet mean/std per channel (ML.NET's fails beside SkiaSharp 3, see docs/mlnet.md).
    .Append(va.ExtractPixels("input", "Resized", 224, 224))
    .Append(mlContext.Transforms.ApplyOnnxModel([layer], ["input"], onnx))
    .Append(va.PatchCore(layer, o => o.CoresetRatio = 0.25));
using var model = pipeline.Fit(train);

var scored = model.Transform(mlContext.Data.LoadFromEnumerable(testRows));
var withFloatLabel = mlContext.Transforms.Conversion.ConvertType("Label", "Label", DataKind.Single).Fit(scored).Transform(scored);
var metrics = mlContext.AnomalyDetection.Evaluate(withFloatLabel);
Console.WriteLine($"OnnxTransformer features -> PatchCore: AUC {metrics.AreaUnderRocCurve:0.000} on {testRows.Count} test images of {category}");

using var engine = mlContext.Model.CreatePredictionEngine<Row, Prediction>(model);
var first = engine.Predict(testRows[0]);
Console.WriteLine($"PredictionEngine, {Path.GetFileName(testRows[0].ImagePath)}: score {first.Score:0.000} ({(first.PredictedLabel ? "anomaly" : "ok")})");
return metrics.AreaUnderRocCurve >= 0.9 ? 0 : 1;

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (Directory.Exists(Path.Combine(dir.FullName, "samples", "data"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

sealed class Row
{
    public string ImagePath { get; set; } = "";
    public bool Label { get; set; }
}

sealed class Prediction
{
    public float Score { get; set; }
    public bool PredictedLabel { get; set; }
}
