using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Core;
using PipelineFramework.Core.MLNet;

// PredictionEngine (one camera frame per call) against Transform (batches of calibration.batchSize) on the default
// pipeline, same model, same frames, one run.
// dotnet run --project bench/PipelineFramework.Bench.MLNet -c Release -- [--data <category>] [--frames 96] [--out bench-mlnet.json]
string? data = null, outPath = "bench-mlnet.json";
int frameCount = 96;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--data": data = args[++i]; break;
        case "--frames": frameCount = int.Parse(args[++i]); break;
        case "--out": outPath = args[++i]; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}; use --data <category folder> --frames <n> --out <file>"); return 1;
    }
}
var repo = FindRepoRoot();
data ??= Path.Combine(repo, "samples", "data", "hazelnut");
var pipelinePath = Path.Combine(repo, "pipelines", "patchcore-mobilenet.json");

var ml = new MLContext(seed: 1);
var va = ml.VisualAnomaly();
var train = Directory.GetFiles(Path.Combine(data, "train", "good")).Order().Select(p => new Frame { Image = File.ReadAllBytes(p) }).ToList();
var testFiles = Directory.GetDirectories(Path.Combine(data, "test")).Order().SelectMany(d => Directory.GetFiles(d).Order()).ToList();
var frames = Enumerable.Range(0, frameCount).Select(i => new Frame { Image = File.ReadAllBytes(testFiles[i % testFiles.Count]) }).ToList();

var watch = Stopwatch.StartNew();
using var model = va.Pipeline(pipelinePath, nameof(Frame.Image)).Fit(ml.Data.LoadFromEnumerable(train));
double fitSeconds = watch.Elapsed.TotalSeconds;
Console.Error.WriteLine($"fitted {pipelinePath} on {train.Count} images in {fitSeconds:0.0} s; scoring {frames.Count} frames");

// Warm-up for both paths (ONNX Runtime session, JIT), not timed.
using var engine = ml.Model.CreatePredictionEngine<Frame, Scored>(model.WithImageColumn(nameof(Frame.Image)));
for (int i = 0; i < 4; i++) engine.Predict(frames[i]);
model.Transform(ml.Data.LoadFromEnumerable(frames.Take(8))).GetColumn<float>("Score").ToList();

var latencies = new List<double>();
var engineScores = new List<float>();
foreach (var frame in frames)
{
    watch.Restart();
    engineScores.Add(engine.Predict(frame).Score);
    latencies.Add(watch.Elapsed.TotalMilliseconds);
}
latencies.Sort();

watch.Restart();
var transformScores = ml.Data.CreateEnumerable<Scored>(model.Transform(ml.Data.LoadFromEnumerable(frames)), reuseRowObject: true).Select(s => s.Score).ToList();
double transformSeconds = watch.Elapsed.TotalSeconds;

var result = new JsonObject
{
    ["utc"] = DateTime.UtcNow.ToString("O"),
    ["machine"] = new JsonObject { ["cores"] = Environment.ProcessorCount, ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription },
    ["pipeline"] = Path.GetFileName(pipelinePath),
    ["data"] = data,
    ["train_images"] = train.Count,
    ["frames"] = frames.Count,
    ["batch_size"] = model.Model.Spec.Calibration.BatchSize,
    ["fit_seconds"] = Math.Round(fitSeconds, 2),
    ["prediction_engine"] = new JsonObject
    {
        ["ms_per_image_mean"] = Math.Round(latencies.Average(), 2),
        ["ms_p50"] = Math.Round(latencies[latencies.Count / 2], 2),
        ["ms_p95"] = Math.Round(latencies[(int)(latencies.Count * 0.95)], 2),
        ["images_per_second"] = Math.Round(1000 / latencies.Average(), 1),
    },
    ["transform_batched"] = new JsonObject
    {
        ["ms_per_image"] = Math.Round(transformSeconds * 1000 / frames.Count, 2),
        ["images_per_second"] = Math.Round(frames.Count / transformSeconds, 1),
    },
    // Same frames, same model: both paths give the same score to the bit, row by row.
    ["scores_identical"] = engineScores.SequenceEqual(transformScores),
    ["load_average_1min"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
};
var json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
AtomicFile.WriteText(outPath, json);
Console.WriteLine(json);
return 0;

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "PipelineFramework.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

sealed class Frame
{
    public byte[] Image { get; set; } = [];
}

sealed class Scored
{
    public float Score { get; set; }
}
