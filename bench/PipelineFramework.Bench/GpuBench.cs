using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Compute.Gpu;
using PipelineFramework.Core;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Hosting;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Bench;

/// <summary>
/// CPU kernels against the ILGPU kernels, same data, same run: kNN (time, GFLOP/s), coreset, a bottle fit + score
/// end to end, and a self-check of every kernel against the CPU on the device. Where no GPU is found it says so and
/// runs the CPU parts. <c>--dump DIR</c> writes each kNN case's data and the GPU's neighbours as raw float32/int32
/// files for bench/gpu_compare.py (torch.cdist + topk on the same data).
/// </summary>
public static class GpuBench
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static int Run(string[] args)
    {
        string outPath = "gpu-bench.json", sizes = "small";
        string? dump = null, bottle = null, pipeline = null;
        bool selfCheck = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--out": outPath = args[++i]; break;
                case "--sizes": sizes = args[++i]; break;
                case "--dump": dump = args[++i]; break;
                case "--bottle": bottle = args[++i]; break;
                case "--pipeline": pipeline = args[++i]; break;
                case "--self-check": selfCheck = true; break;
                default:
                    Console.Error.WriteLine($"unknown argument {args[i]}; use gpu [--sizes small|full] [--self-check] [--dump DIR] [--bottle DIR --pipeline FILE] [--out FILE]");
                    return 1;
            }
        }
        var gpu = GpuRuntime.TryGetShared(out var reason);
        Console.Error.WriteLine(gpu is null ? $"NO GPU: {reason}. Running the CPU parts only." : $"device: {gpu.Description}");
        var result = new JsonObject
        {
            ["utc"] = DateTime.UtcNow.ToString("O"),
            ["cores"] = Environment.ProcessorCount,
            ["cpu"] = ComputeBackend.Describe(ComputeDevice.Cpu),
            ["gpu"] = gpu?.Description,
            ["gpu_missing_reason"] = gpu is null ? reason : null,
            ["sizes"] = sizes,
        };
        var cuda = gpu is null ? null : ComputeBackend.For(HostServices.None with { Device = ComputeDevice.Cuda, Log = new StderrLog() });
        bool ok = true;
        void Save() => AtomicFile.WriteText(outPath, result.ToJsonString(Indented));

        if (selfCheck)
        {
            var check = SelfCheck(cuda, sizes == "full");
            ok &= check["passed"]?.GetValue<bool>() ?? true;
            result["self_check"] = check;
            Save();
        }
        result["knn"] = Knn(cuda, sizes == "full", dump, Save, result);
        Save();
        result["coreset"] = Coreset(cuda, sizes == "full");
        Save();
        if (bottle is not null && pipeline is not null)
        {
            result["bottle"] = Bottle(bottle, pipeline, gpu is not null);
            Save();
        }
        Console.WriteLine(result.ToJsonString(Indented));
        Console.Error.WriteLine($"written to {Path.GetFullPath(outPath)}");
        return ok ? 0 : 1;
    }

    sealed class StderrLog : IComponentLog
    {
        public void Info(string message) => Console.Error.WriteLine(message);
        public void Warning(string message) => Console.Error.WriteLine("warning: " + message);
    }

    static float[] Uniform(long length, int seed)
    {
        var data = new float[length];
        Parallel.For(0, (int)((length + 65535) / 65536), block =>
        {
            var rng = new Random(seed * 7919 + block);
            long end = Math.Min(length, (block + 1) * 65536L);
            for (long i = block * 65536L; i < end; i++) data[i] = (float)rng.NextDouble();
        });
        return data;
    }

    static double Seconds(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>kNN, k = 1, for every (N, D, M): the CPU kernel, the ILGPU kernel (bank resident, as on a line), agreement.</summary>
    static JsonArray Knn(ComputeBackend? cuda, bool full, string? dump, Action save, JsonObject result)
    {
        int[] banks = full ? [100_000, 1_000_000] : [2_000];
        int[] dims = full ? [128, 384] : [128];
        int[] queries = full ? [784, 7_840] : [256];
        var rows = new JsonArray();
        result["knn"] = rows;
        if (dump is not null) Directory.CreateDirectory(dump);
        foreach (int n in banks)
            foreach (int d in dims)
            {
                var bank = Uniform((long)n * d, n + d);
                var index = new NearestNeighbourIndex(bank, n, d);
                foreach (int m in queries)
                {
                    var q = Uniform((long)m * d, m + d + 1);
                    double flop = 2.0 * n * m * d;
                    var (cpuD, cpuI) = (new float[m], new int[m]);
                    index.Search(q.AsSpan(0, Math.Min(m, 64) * d), Math.Min(m, 64), 1, cpuD, cpuI); // JIT
                    double cpu = Seconds(() => index.Search(q, m, 1, cpuD, cpuI));
                    var row = new JsonObject
                    {
                        ["n"] = n, ["d"] = d, ["m"] = m, ["k"] = 1, ["gflop"] = Math.Round(flop / 1e9, 2),
                        ["cpu_seconds"] = Math.Round(cpu, 4), ["cpu_gflops"] = Math.Round(flop / cpu / 1e9, 1),
                    };
                    if (cuda is not null)
                    {
                        var (gD, gI) = (new float[m], new int[m]);
                        double first = Seconds(() => cuda.Search(index, q, m, 1, gD, gI)); // compile + bank upload
                        double best = double.MaxValue;
                        for (int rep = 0; rep < (full ? 3 : 1); rep++) best = Math.Min(best, Seconds(() => cuda.Search(index, q, m, 1, gD, gI)));
                        int same = 0;
                        for (int i = 0; i < m; i++) if (gI[i] == cpuI[i]) same++;
                        row["ilgpu_first_call_seconds"] = Math.Round(first, 4);
                        row["ilgpu_seconds"] = Math.Round(best, 5);
                        row["ilgpu_gflops"] = Math.Round(flop / best / 1e9, 1);
                        row["ilgpu_same_neighbour_as_cpu"] = Math.Round((double)same / m, 5);
                        if (dump is not null)
                        {
                            string stem = Path.Combine(dump, $"knn_{n}_{d}_{m}");
                            WriteRaw(stem + ".bank.f32", bank);
                            WriteRaw(stem + ".queries.f32", q);
                            WriteRaw(stem + ".ilgpu.i32", gI);
                        }
                    }
                    rows.Add(row);
                    Console.Error.WriteLine(row.ToJsonString());
                    save();
                }
            }
        return rows;
    }

    static void WriteRaw<T>(string path, T[] data) where T : unmanaged
    {
        using var file = File.Create(path);
        file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
    }

    /// <summary>
    /// Greedy k-centre, 10 % of N points of 128 dims (PatchCore's projected space): CPU vs ILGPU with the same picks at
    /// the small size; at 1,000,000 the GPU only (about 25 TFLOP of distance updates on the CPU: minutes even on 16 cores, too long for the one-call budget).
    /// </summary>
    static JsonArray Coreset(ComputeBackend? cuda, bool full)
    {
        var rows = new JsonArray();
        foreach (var (n, withCpu) in full ? new[] { (100_000, true), (1_000_000, false) } : [(2_000, true)])
        {
            int d = 128, select = n / 10;
            var data = Uniform((long)n * d, 77);
            var row = new JsonObject { ["n"] = n, ["d"] = d, ["selected"] = select };
            int[] cpuPicks = [];
            if (withCpu) row["cpu_seconds"] = Math.Round(Seconds(() => cpuPicks = KCenterGreedy.Select(data, n, d, select, projectionDim: 0, seed: 0)), 3);
            if (cuda is not null)
            {
                int[] gpuPicks = [];
                row["ilgpu_seconds"] = Math.Round(Seconds(() => gpuPicks = cuda.SelectCoreset(data, n, d, select, projectionDim: 0, seed: 0)), 3);
                if (withCpu)
                {
                    int firstDifference = Enumerable.Range(0, select).FirstOrDefault(i => cpuPicks[i] != gpuPicks[i], -1);
                    row["ilgpu_same_picks"] = firstDifference < 0;
                    row["ilgpu_first_different_pick"] = firstDifference;
                }
            }
            rows.Add(row);
            Console.Error.WriteLine(row.ToJsonString());
        }
        return rows;
    }

    /// <summary>The pipeline evaluated on the category on the CPU and on CUDA: AUROCs, fit and score times.</summary>
    static JsonObject Bottle(string category, string pipelinePath, bool withGpu)
    {
        var catalog = ComponentCatalog.CreateDefault();
        var row = new JsonObject { ["data"] = category, ["pipeline"] = Path.GetFileName(pipelinePath) };
        foreach (var device in withGpu ? new[] { ComputeDevice.Cpu, ComputeDevice.Cuda } : [ComputeDevice.Cpu])
        {
            var services = HostEnvironment.CreateServices(device);
            var pipeline = AnomalyPipeline.FromFile(pipelinePath, catalog, services);
            var outDir = Path.Combine(Path.GetTempPath(), "pf-gpu-bench", device.ToString().ToLowerInvariant());
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
            var watch = Stopwatch.StartNew();
            var r = Evaluator.Run(pipeline, category, outDir, new EvaluationOptions { GallerySize = 0 })[0];
            row[device.ToString().ToLowerInvariant()] = new JsonObject
            {
                ["image_auroc"] = r.Metrics.ImageAuroc, ["pixel_auroc"] = r.Metrics.PixelAuroc, ["threshold"] = r.Threshold,
                ["fit_seconds"] = Math.Round(r.FitSeconds, 2), ["ms_per_image"] = Math.Round(r.MsPerImage, 2),
                ["wall_seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 2), ["device"] = ComputeBackend.Describe(device),
            };
            Console.Error.WriteLine($"bottle {device}: {row[device.ToString().ToLowerInvariant()]!.ToJsonString()}");
        }
        if (withGpu)
        {
            double Auroc(string device, string key) => row[device]![key]!.GetValue<double>();
            row["same_aurocs_to_3_decimals"] = Math.Round(Auroc("cpu", "image_auroc"), 3) == Math.Round(Auroc("cuda", "image_auroc"), 3)
                && Math.Round(Auroc("cpu", "pixel_auroc"), 3) == Math.Round(Auroc("cuda", "pixel_auroc"), 3);
        }
        return row;
    }

    /// <summary>Every kernel on the device against the CPU kernel (the tests' checks; full: at PatchCore/PaDiM sizes).</summary>
    static JsonObject SelfCheck(ComputeBackend? cuda, bool full)
    {
        var checks = new JsonObject();
        if (cuda is null) return new JsonObject { ["skipped"] = "no GPU" };
        bool passed = true;
        void Record(string name, bool ok, string detail)
        {
            checks[name] = new JsonObject { ["passed"] = ok, ["detail"] = detail };
            passed &= ok;
            Console.Error.WriteLine($"self-check {name}: {(ok ? "ok" : "FAILED")} ({detail})");
        }

        // kNN, k = 1 and 9, bank and queries off the tile sizes.
        foreach (int k in new[] { 1, 9 })
        {
            int n = full ? 50_003 : 2_003, d = 192, m = full ? 3_001 : 301;
            var index = new NearestNeighbourIndex(Uniform((long)n * d, 1), n, d);
            var q = Uniform((long)m * d, 2);
            var (cD, cI, gD, gI) = (new float[m * k], new int[m * k], new float[m * k], new int[m * k]);
            index.Search(q, m, k, cD, cI);
            cuda.Search(index, q, m, k, gD, gI);
            int differ = 0;
            double worst = 0;
            for (int i = 0; i < m * k; i++)
            {
                if (cI[i] != gI[i]) differ++;
                worst = Math.Max(worst, Math.Abs(cD[i] - gD[i]) / Math.Max(1e-12, cD[i]));
            }
            // Different neighbours only where distances agree to float rounding (near ties): the distances decide.
            Record($"knn_k{k}", worst <= 1e-5, $"{differ} of {m * k} neighbours differ (near ties), worst relative distance difference {worst:G3}");
        }
        {
            int n = full ? 100_000 : 3_000, d = 128, select = full ? 2_000 : 100;
            var data = Uniform((long)n * d, 3);
            var cpu = KCenterGreedy.Select(data, n, d, select, 0, 0);
            var gpu = cuda.SelectCoreset(data, n, d, select, 0, 0);
            int first = Enumerable.Range(0, select).FirstOrDefault(i => cpu[i] != gpu[i], -1);
            Record("coreset", first < 0, first < 0 ? $"all {select} picks equal" : $"picks differ from pick {first} on");
        }
        {
            int images = full ? 20 : 2, positions = full ? 784 : 100, inputDim = 448, dim = 100;
            var channels = Enumerable.Range(0, dim).Select(i => i * 4).ToArray();
            var (mean, inverse) = GaussianStatistics.Estimate(Uniform(30L * positions * dim, 4), 30, positions, dim, 0.1f);
            var features = Uniform((long)images * positions * inputDim, 5);
            var cpu = ComputeBackend.MahalanobisOnCpu(features, images, positions, inputDim, channels, mean, inverse);
            var gpu = cuda.Mahalanobis(features, images, positions, inputDim, channels, mean, inverse);
            double worst = cpu.Select((v, i) => Math.Abs(v - gpu[i]) / Math.Max(1e-6, v)).Max();
            Record("mahalanobis", worst <= 1e-4, $"worst relative difference {worst:G3}");
        }
        {
            int count = full ? 16 : 2, h = 28, size = 224;
            var patches = Uniform((long)count * h * h, 6);
            var gpu = cuda.AnomalyMaps(patches, count, h, h, size, size, 4f);
            double worst = 0;
            for (int i = 0; i < count; i++)
            {
                var cpu = MapOps.GaussianBlur(MapOps.ResizeBilinear(patches.AsSpan(i * h * h, h * h), h, h, size, size), size, size, 4f);
                for (int p = 0; p < cpu.Length; p++) worst = Math.Max(worst, Math.Abs(cpu[p] - gpu[i][p]));
            }
            Record("maps", worst <= 1e-5, $"worst absolute difference {worst:G3} (values in [0, 1])");
        }
        checks["passed"] = passed;
        return checks;
    }
}
