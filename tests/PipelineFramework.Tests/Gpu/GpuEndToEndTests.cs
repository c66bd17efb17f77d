using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Hosting;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Gpu;

[Collection("Gpu")]
public class GpuEndToEndTests
{
    /// <summary>
    /// PatchCore small enough for ILGPU's CPU accelerator (one 32-channel layer, 1 % coreset, no synthetic set): every kernel of the GPU path runs (coreset, kNN, maps), the CPU path is the reference.
    /// </summary>
    const string Pipeline = """
    {
      "name": "patchcore-gpu-check", "seed": 42,
      "input": { "size": 256, "crop": 224 },
      "backbone": { "type": "backbone.onnx", "model": "builtin:mobilenetv2-int8", "layers": ["feat_f6_s8_32ch"] },
      "embedding": { "type": "embedding.patch", "patchSize": 3 },
      "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.01, "projectionDim": 128 },
      "map": { "sigma": 4 },
      "threshold": { "type": "threshold.quantile", "quantile": 0.99, "margin": 1.0 },
      "calibration": { "holdout": 0.2, "syntheticCount": 0 }
    }
    """;

    /// <summary>
    /// The bottle category cut to what ILGPU's CPU accelerator scores in seconds: the first 40 good training images and
    /// the first 6 test images of each kind, with their masks (links, not copies). The whole set runs on the GPU
    /// machine (bench/gpu-check.sh).
    /// </summary>
    static string BottleSubset()
    {
        var root = Path.Combine(TestData.TempFolder("bottle-subset"), "bottle");
        void Take(string relative, int count)
        {
            var source = Path.Combine(TestData.Bottle, relative);
            if (!Directory.Exists(source)) return;
            var target = Path.Combine(root, relative);
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(source).Order(StringComparer.Ordinal).Take(count))
                File.CreateSymbolicLink(Path.Combine(target, Path.GetFileName(file)), file);
        }
        Take(Path.Combine("train", "good"), 40);
        foreach (var kind in Directory.GetDirectories(Path.Combine(TestData.Bottle, "test")).Select(Path.GetFileName))
        {
            Take(Path.Combine("test", kind!), 6);
            Take(Path.Combine("ground_truth", kind!), 6);
        }
        return root;
    }

    [SharedDataFact]
    public void Bottle_evaluated_with_cuda_forced_onto_the_cpu_accelerator_gives_the_cpu_aurocs()
    {
        var data = BottleSubset();
        CategoryResult Evaluate(ComputeDevice device)
        {
            var services = HostEnvironment.CreateServices(device);
            var pipeline = AnomalyPipeline.FromJson(Pipeline, TestData.Catalog, services: services);
            return Evaluator.Run(pipeline, data, TestData.TempFolder("gpu-bottle-" + device), new EvaluationOptions { GallerySize = 0 })[0];
        }
        var cpu = Evaluate(ComputeDevice.Cpu);
        var cuda = Evaluate(ComputeDevice.Cuda);

        Assert.Equal(24, cpu.TestImages);
        Assert.True(cpu.Metrics.ImageAuroc > 0.9, $"CPU image AUROC {cpu.Metrics.ImageAuroc}: the reference itself is broken");
        Assert.Equal(Math.Round(cpu.Metrics.ImageAuroc, 3), Math.Round(cuda.Metrics.ImageAuroc, 3));
        Assert.Equal(Math.Round(cpu.Metrics.PixelAuroc!.Value, 3), Math.Round(cuda.Metrics.PixelAuroc!.Value, 3));
        Assert.Equal(cpu.Threshold, cuda.Threshold, 3);

        // The device that ran is reported with the run, and only there.
        var cpuMetrics = JsonNode.Parse(File.ReadAllText(Path.Combine(cpu.OutputFolder, "metrics.json")))!;
        var cudaMetrics = JsonNode.Parse(File.ReadAllText(Path.Combine(cuda.OutputFolder, "metrics.json")))!;
        Assert.Equal("cpu", (string?)cpuMetrics["device"]);
        Assert.Equal("cuda", (string?)cudaMetrics["device"]);
        Assert.Contains("CPU accelerator", (string?)cudaMetrics["device_detail"]);

        // The plugins loaded in their own contexts use the host's compute assemblies: one accelerator per process.
        var loaded = AppDomain.CurrentDomain.GetAssemblies().Where(a => a.GetName().Name == "PipelineFramework.Compute.Gpu").ToList();
        Assert.Single(loaded);
    }
}
