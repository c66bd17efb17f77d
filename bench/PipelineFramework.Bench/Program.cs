using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Bench;
using PipelineFramework.Core;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;

// Benchmarks, not tests: one run on this machine, every number in one JSON file.
// dotnet run --project bench/PipelineFramework.Bench -c Release -- [--data <category>] [--out bench.json] [--skip-compute]
// dotnet run --project bench/PipelineFramework.Bench -c Release -- gpu [...]: CPU vs ILGPU kernels (see GpuBench).
// dotnet run --project bench/PipelineFramework.Bench -c Release -- size --data <category>: defect size estimates vs masks (see SizeBench).
// dotnet run --project bench/PipelineFramework.Bench -c Release -- coreset [--images 167,502]: coreset time against fitting images (see CoresetScalingBench).
try
{
    if (args is ["gpu", ..]) return GpuBench.Run(args[1..]);
    if (args is ["size", ..]) return SizeBench.Run(args[1..]);
    if (args is ["coreset", ..]) return CoresetScalingBench.Run(args[1..]);
}
catch (Exception e) when (e is PipelineException or InvalidOperationException or IOException or FormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
string? data = null, outPath = "bench-results.json";
bool skipCompute = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--data": data = args[++i]; break;
        case "--out": outPath = args[++i]; break;
        case "--skip-compute": skipCompute = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}; use --data <category folder> --out <file> --skip-compute"); return 1;
    }
}
data ??= FindBottle();
var results = new JsonObject
{
    ["machine"] = new JsonObject
    {
        ["cores"] = Environment.ProcessorCount,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["avx512"] = System.Runtime.Intrinsics.X86.Avx512F.IsSupported,
        ["dotnet"] = Environment.Version.ToString(),
    },
    ["utc"] = DateTime.UtcNow.ToString("O"),
};

if (data is not null)
{
    Console.Error.WriteLine($"pipeline benchmark on {data}");
    results["pipeline"] = PipelineBench(data);
    Console.Error.WriteLine(results["pipeline"]!.ToJsonString());
}
else
{
    Console.Error.WriteLine("no data set found (pass --data <category>); skipping the pipeline benchmark");
}

if (!skipCompute)
{
    Console.Error.WriteLine("compute kernels (GEMM peak, kNN, coreset)");
    results["compute"] = JsonSerializer.SerializeToNode(ComputeBench.Run(data is null ? null : Path.Combine(data, "train", "good")));
}

AtomicFile.WriteText(outPath, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine(results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
Console.Error.WriteLine($"written to {Path.GetFullPath(outPath)}");
return 0;

static string? FindBottle()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        var candidate = Path.Combine(dir.FullName, "shared", "datasets", "mvtec_bottle_256", "bottle");
        if (Directory.Exists(candidate)) return candidate;
    }
    return null;
}

/// <summary>Backbone alone vs the whole PatchCore pipeline, same images, same run.</summary>
static JsonObject PipelineBench(string categoryFolder)
{
    var catalog = ComponentCatalog.CreateDefault();
    var repo = new DirectoryInfo(AppContext.BaseDirectory);
    while (repo is not null && !File.Exists(Path.Combine(repo.FullName, "PipelineFramework.sln"))) repo = repo.Parent;
    var pipelinePath = Path.Combine(repo!.FullName, "pipelines", "patchcore-mobilenet.json");
    var pipeline = AnomalyPipeline.FromFile(pipelinePath, catalog);
    var dataset = ImageDataset.LoadMvtec(categoryFolder);
    var train = dataset.Train.Select(t => t.Path).ToList();
    var test = dataset.Test.Select(t => t.Path).ToList();

    var fitWatch = Stopwatch.StartNew();
    using var model = pipeline.Fit(train);
    double fitSeconds = fitWatch.Elapsed.TotalSeconds;

    // Backbone alone: the same backbone on already decoded images, so decoding is not counted.
    var backboneComponent = catalog.Create<IBackbone>(pipeline.Spec.Backbone, ComponentKind.Backbone);
    var preprocessing = model.Preprocessing;
    var images = test.Select(preprocessing.Load).ToList();
    using var backbone = backboneComponent.Fit(pipeline.Spec.Geometry, new FitContext());
    backbone.Run(images.Take(8).ToList()); // warm-up
    var backboneWatch = Stopwatch.StartNew();
    for (int start = 0; start < images.Count; start += 8) backbone.Run(images.Skip(start).Take(8).ToList());
    double backboneMs = backboneWatch.Elapsed.TotalMilliseconds / images.Count;

    model.Inspect(test.Take(8).ToList()); // warm-up
    var inspectWatch = Stopwatch.StartNew();
    model.Inspect(test);
    double pipelineMs = inspectWatch.Elapsed.TotalMilliseconds / test.Count;

    var (h, w, d) = (model.Manifest.Training.FeatureShape[0], model.Manifest.Training.FeatureShape[1], model.Manifest.Training.FeatureShape[2]);
    return new JsonObject
    {
        ["data"] = categoryFolder,
        ["pipeline"] = pipeline.Spec.Name,
        ["train_images"] = train.Count,
        ["test_images"] = test.Count,
        ["feature_grid"] = $"{h}x{w}x{d}",
        ["fit_seconds"] = Math.Round(fitSeconds, 2),
        ["backbone_ms_per_image"] = Math.Round(backboneMs, 2),
        ["pipeline_ms_per_image"] = Math.Round(pipelineMs, 2),
        ["pipeline_note"] = "whole pipeline = decode + resize/crop + backbone + kNN + map upsampling/blur, batch 8",
    };
}
