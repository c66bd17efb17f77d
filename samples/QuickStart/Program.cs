using Microsoft.ML;
using PipelineFramework.Core.MLNet;

// Usage: dotnet run --project samples/QuickStart -c Release [-- <category folder> [pipeline.json]]
var repo = FindRepoRoot();
var category = args.Length > 0 ? args[0] : Path.Combine(repo, "samples", "data", "hazelnut");
var pipelineJson = args.Length > 1 ? args[1] : Path.Combine(repo, "pipelines", "patchcore-mobilenet.json");

var mlContext = new MLContext(seed: 0);

// Good parts only, one image path per row.
var trainView = mlContext.Data.LoadFromEnumerable(
    Directory.GetFiles(Path.Combine(category, "train", "good")).Order().Select(p => new ImageInput { ImagePath = p }));
var testView = mlContext.Data.LoadFromEnumerable(
    Directory.GetDirectories(Path.Combine(category, "test")).SelectMany(Directory.GetFiles).Order().Select(p => new ImageInput { ImagePath = p }));

var pipeline = mlContext.VisualAnomaly().Pipeline(pipelineJson);
using var model = pipeline.Fit(trainView);
var scored = model.Transform(testView);

Console.WriteLine($"{"score",6}  {"verdict",-8} {"hottest pixel",13}  image");
foreach (var row in mlContext.Data.CreateEnumerable<ScoredImage>(scored, reuseRowObject: false))
{
    float hottest = row.AnomalyMap.Max();
    Console.WriteLine($"{row.Score,6:0.000}  {(row.IsAnomaly ? "ANOMALY" : "ok"),-8} {hottest,13:0.000}  {Path.GetRelativePath(category, row.ImagePath)}");
}

var modelPath = Path.Combine(Path.GetTempPath(), "quickstart.pfmodel");
model.SaveModel(modelPath);
Console.WriteLine($"Model saved to {modelPath}; load it with mlContext.VisualAnomaly().LoadModel(path).");

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "PipelineFramework.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

sealed class ImageInput
{
    public string ImagePath { get; set; } = "";
}

sealed class ScoredImage
{
    public string ImagePath { get; set; } = "";
    /// <summary>0..1; 0.5 is the threshold the model chose from good images.</summary>
    public float Score { get; set; }
    public bool IsAnomaly { get; set; }
    /// <summary>224 x 224 heat map, row-major, same scale as Score.</summary>
    public float[] AnomalyMap { get; set; } = [];
}
