using System.Runtime.CompilerServices;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Compute.Gpu;
using PipelineFramework.Tests.Compute;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Gpu;

/// <summary>
/// In this test process "cuda" means ILGPU's CPU accelerator (no GPU in CI): the same kernels, compiled to .NET code
/// instead of PTX. Set before any test runs, so the shared runtime is created on it.
/// </summary>
static class CudaOnCpuAccelerator
{
    [ModuleInitializer]
    internal static void Force() => Environment.SetEnvironmentVariable(GpuRuntime.CpuAcceleratorVariable, "1");

    public static GpuRuntime Runtime => GpuRuntime.TryGetShared(out var reason) ?? throw new InvalidOperationException(reason);
    public static HostServices Services(IComponentLog? log = null) => HostServices.None with { Device = ComputeDevice.Cuda, Log = log ?? HostServices.None.Log };
}

/// <summary>The shared runtime's memory budget is process state: these tests change it, so they run one at a time.</summary>
[CollectionDefinition("Gpu", DisableParallelization = true)]
public sealed class GpuCollection;

[Collection("Gpu")]
public class GpuKernelTests
{
    static ComputeBackend Gpu(IComponentLog? log = null) => ComputeBackend.For(CudaOnCpuAccelerator.Services(log));

    [Fact]
    public void Forced_cuda_runs_on_the_cpu_accelerator_and_says_so()
    {
        var backend = Gpu();
        Assert.True(backend.UsesGpu);
        Assert.Contains("CPU accelerator", backend.Description);
        Assert.Contains("CPU accelerator", ComputeBackend.Describe(ComputeDevice.Cuda));
        Assert.StartsWith("cpu:", ComputeBackend.Describe(ComputeDevice.Cpu));
        // auto never picks the CPU accelerator: only a real GPU.
        Assert.Equal(ComputeDevice.Cpu, ComputeBackend.Resolve("auto", out _));
        Assert.Equal(ComputeDevice.Cuda, ComputeBackend.Resolve("CUDA", out _));
        Assert.Null(ComputeBackend.Resolve("tpu", out var error));
        Assert.Contains("auto, cpu or cuda", error);
    }

    /// <summary>
    /// kNN: the GPU kernel's neighbours are the CPU kernel's wherever the CPU's distances around a rank differ by more
    /// than 1e-5 relative (the two sum the dot products in different orders); the reported distances are then
    /// bit-identical (both recompute them with the same host code).
    /// </summary>
    [Theory]
    [InlineData(1000, 77, 75, 1)]    // bank and queries not multiples of the 128-row tiles, odd dim
    [InlineData(3001, 130, 33, 3)]   // several query tiles and bank splits
    [InlineData(500, 64, 160, 16)]   // the largest k the kernel keeps
    [InlineData(13, 5, 7, 16)]       // k above the bank: -1 slots
    [InlineData(13, 5, 7, 20)]       // k above the kernel's limit: the CPU kernel runs
    public void Knn_matches_the_cpu_kernel(int count, int queryCount, int dim, int k)
    {
        var bank = ComputeTestData.Random(count * dim, count + dim, 0f, 1f);
        var queries = ComputeTestData.Random(queryCount * dim, count + dim + 1, 0f, 1f);
        var index = new NearestNeighbourIndex(bank, count, dim);
        var (cpuD, cpuI) = (new float[queryCount * k], new int[queryCount * k]);
        index.Search(queries, queryCount, k, cpuD, cpuI);
        var (gpuD, gpuI) = (new float[queryCount * k], new int[queryCount * k]);
        Gpu().Search(index, queries, queryCount, k, gpuD, gpuI);
        AssertSameNeighbours(cpuD, cpuI, gpuD, gpuI, queryCount, k);
    }

    [Fact]
    public void Knn_in_chunks_under_a_small_memory_budget_gives_the_same_neighbours()
    {
        int count = 2000, queryCount = 300, dim = 40, k = 2;
        var bank = ComputeTestData.Random(count * dim, 5, 0f, 1f);
        var queries = ComputeTestData.Random(queryCount * dim, 6, 0f, 1f);
        var index = new NearestNeighbourIndex(bank, count, dim);
        var (cpuD, cpuI) = (new float[queryCount * k], new int[queryCount * k]);
        index.Search(queries, queryCount, k, cpuD, cpuI);
        var runtime = CudaOnCpuAccelerator.Runtime;
        long saved = runtime.MemoryBudgetBytes;
        try
        {
            runtime.MemoryBudgetBytes = 200_000; // bank (328 KB) no longer fits: 512-row chunks, 128-query chunks
            var (gpuD, gpuI) = (new float[queryCount * k], new int[queryCount * k]);
            Gpu().Search(index, queries, queryCount, k, gpuD, gpuI);
            AssertSameNeighbours(cpuD, cpuI, gpuD, gpuI, queryCount, k);
        }
        finally { runtime.MemoryBudgetBytes = saved; }
    }

    static void AssertSameNeighbours(float[] cpuD, int[] cpuI, float[] gpuD, int[] gpuI, int queryCount, int k)
    {
        for (int q = 0; q < queryCount; q++)
            for (int t = 0; t < k; t++)
            {
                int o = q * k + t;
                if (cpuI[o] < 0) { Assert.Equal(-1, gpuI[o]); Assert.Equal(float.PositiveInfinity, gpuD[o]); continue; }
                bool distinct = (t == 0 || cpuD[o] - cpuD[o - 1] > 1e-5f * cpuD[o]) && (t == k - 1 || cpuD[o + 1] - cpuD[o] > 1e-5f * cpuD[o]);
                if (!distinct) { Assert.True(Math.Abs(gpuD[o] - cpuD[o]) <= 1e-5f * cpuD[o], $"query {q} rank {t}: {gpuD[o]} vs {cpuD[o]}"); continue; }
                Assert.True(cpuI[o] == gpuI[o], $"query {q} rank {t}: GPU neighbour {gpuI[o]} ({gpuD[o]}), CPU {cpuI[o]} ({cpuD[o]})");
                Assert.Equal(cpuD[o], gpuD[o]);
            }
    }

    /// <summary>Coreset: the same picks in the same order as the CPU's greedy k-centre (random data: no near ties).</summary>
    [Theory]
    [InlineData(3000, 20, 150, 0)]    // exact (no projection)
    [InlineData(1500, 200, 100, 64)]  // projected to 64 dims first, as PatchCore does
    public void Coreset_picks_the_cpu_kernels_points(int count, int dim, int select, int projectionDim)
    {
        var data = ComputeTestData.Random(count * dim, count + dim);
        var cpu = KCenterGreedy.Select(data, count, dim, select, projectionDim, seed: 7);
        var gpu = Gpu().SelectCoreset(data, count, dim, select, projectionDim, seed: 7);
        Assert.Equal(cpu, gpu);
    }

    [Fact]
    public void Coreset_over_the_memory_budget_warns_and_runs_on_the_cpu()
    {
        int count = 2000, dim = 16, select = 50;
        var data = ComputeTestData.Random(count * dim, 3);
        var runtime = CudaOnCpuAccelerator.Runtime;
        long saved = runtime.MemoryBudgetBytes;
        var log = new RecordingLog();
        try
        {
            runtime.MemoryBudgetBytes = 10_000;
            var picks = Gpu(log).SelectCoreset(data, count, dim, select, 0, seed: 1);
            Assert.Equal(KCenterGreedy.Select(data, count, dim, select, 0, seed: 1), picks);
        }
        finally { runtime.MemoryBudgetBytes = saved; }
        var warning = Assert.Single(log.Lines, line => line.StartsWith("warning: "));
        Assert.Contains("over the budget", warning);
        Assert.Contains("runs on the CPU", warning);
    }

    /// <summary>PaDiM: Mahalanobis distances within 1e-4 relative of the CPU kernel (float sums in another order).</summary>
    [Fact]
    public void Mahalanobis_matches_the_cpu_kernel()
    {
        int images = 6, positions = 30, inputDim = 24;
        int[] channels = [0, 3, 4, 7, 9, 10, 15, 16, 20, 23];
        int dim = channels.Length;
        var train = ComputeTestData.Random(12 * positions * dim, 11);
        var (mean, inverse) = GaussianStatistics.Estimate(train, 12, positions, dim, shrinkage: 0.1f);
        var features = ComputeTestData.Random(images * positions * inputDim, 12);
        var cpu = ComputeBackend.MahalanobisOnCpu(features, images, positions, inputDim, channels, mean, inverse);
        var gpu = Gpu().Mahalanobis(features, images, positions, inputDim, channels, mean, inverse);
        Assert.Equal(cpu.Length, gpu.Length);
        for (int i = 0; i < cpu.Length; i++)
            Assert.True(Math.Abs(cpu[i] - gpu[i]) <= 1e-4f * cpu[i] + 1e-6f, $"patch {i}: {gpu[i]} vs {cpu[i]}");
    }

    [Fact]
    public void Mahalanobis_of_a_NaN_feature_is_NaN_as_on_the_cpu_never_0()
    {
        // Before: the kernel wrote "sum > 0 ? sqrt(sum) : 0", so a NaN feature scored 0 on the GPU (a perfect part,
        // passed as good) where the CPU's NaN is refused by the engine.
        int images = 2, positions = 4, inputDim = 3;
        int[] channels = [0, 1, 2];
        var (mean, inverse) = GaussianStatistics.Estimate(ComputeTestData.Random(8 * positions * 3, 3), 8, positions, 3, shrinkage: 0.1f);
        var features = ComputeTestData.Random(images * positions * inputDim, 4);
        features[5 * inputDim + 1] = float.NaN;   // image 1, position 1
        var cpu = ComputeBackend.MahalanobisOnCpu(features, images, positions, inputDim, channels, mean, inverse);
        var gpu = Gpu().Mahalanobis(features, images, positions, inputDim, channels, mean, inverse);
        Assert.True(float.IsNaN(cpu[5]), $"cpu: {cpu[5]}");
        Assert.True(float.IsNaN(gpu[5]), $"gpu: {gpu[5]}");
        Assert.Equal(7, gpu.Count(float.IsFinite));
    }

    /// <summary>Maps: upsampling and blur within 1e-5 of the map's range of MapOps (same arithmetic, fused or not).</summary>
    [Theory]
    [InlineData(28, 28, 224, 224, 4f)]
    [InlineData(7, 5, 64, 40, 1.5f)]    // non-square grid and map, radius beyond the small side: reflection wraps
    [InlineData(28, 28, 224, 224, 0f)]  // no blur
    public void Anomaly_maps_match_MapOps(int h, int w, int outHeight, int outWidth, float sigma)
    {
        int count = 3;
        var patches = ComputeTestData.Random(count * h * w, h + w + outHeight, 0f, 5f);
        var gpu = Gpu().AnomalyMaps(patches, count, h, w, outHeight, outWidth, sigma);
        for (int i = 0; i < count; i++)
        {
            var cpu = MapOps.GaussianBlur(MapOps.ResizeBilinear(patches.AsSpan(i * h * w, h * w), h, w, outHeight, outWidth), outHeight, outWidth, sigma);
            Assert.Equal(cpu.Length, gpu[i].Length);
            for (int p = 0; p < cpu.Length; p++)
                Assert.True(Math.Abs(cpu[p] - gpu[i][p]) <= 5e-5f, $"image {i} pixel {p}: {gpu[i][p]} vs {cpu[p]}");
        }
    }
}
