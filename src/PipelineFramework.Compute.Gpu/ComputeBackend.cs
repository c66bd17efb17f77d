using PipelineFramework.Abstractions;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Compute.Gpu;

/// <summary>
/// The one door plugins and the engine use for the hot loops: runs them on the device the host chose
/// (<see cref="HostServices.Device"/>), CPU by default. On CUDA every call runs the ILGPU kernel on the process's shared
/// accelerator; when CUDA is missing, or the work does not fit in device memory even in small chunks, it warns once in
/// the host's log and runs the CPU kernel, which gives the same results (see the compute README for the tolerances).
/// </summary>
public sealed class ComputeBackend
{
    static readonly object WarnGate = new();
    static readonly HashSet<string> Warned = [];

    readonly GpuRuntime? _gpu;
    readonly IComponentLog _log;

    ComputeBackend(ComputeDevice requested, GpuRuntime? gpu, IComponentLog log)
    {
        Requested = requested;
        _gpu = gpu;
        _log = log;
    }

    /// <summary>The CPU kernels only.</summary>
    public static ComputeBackend Cpu { get; } = new(ComputeDevice.Cpu, null, HostServices.None.Log);

    /// <summary>The back end for the host's device choice; CUDA without a usable device warns and uses the CPU.</summary>
    public static ComputeBackend For(HostServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Device != ComputeDevice.Cuda) return Cpu;
        var gpu = GpuRuntime.TryGetShared(out var reason);
        if (gpu is null) WarnOnce(services.Log, $"--device cuda: {reason}; running on the CPU.");
        return new ComputeBackend(ComputeDevice.Cuda, gpu, services.Log);
    }

    public ComputeDevice Requested { get; }
    /// <summary>True when the kernels run on the accelerator (a GPU, or ILGPU's CPU accelerator when forced).</summary>
    public bool UsesGpu => _gpu is not null;
    /// <summary>Which device runs the kernels, in one line.</summary>
    public string Description => _gpu?.Description ?? CpuDescription;

    static string CpuDescription => $"cpu: {Environment.ProcessorCount} cores, {MicroKernel.ActivePath} kernels";

    /// <summary>
    /// The device a choice of <c>auto</c>, <c>cpu</c> or <c>cuda</c> (any case) means here: <c>auto</c> is CUDA when a usable
    /// GPU is found, else the CPU. Null with a message for an unknown word, or for <c>cuda</c> where no GPU is usable.
    /// </summary>
    public static ComputeDevice? Resolve(string choice, out string? error)
    {
        error = null;
        switch (choice.Trim().ToLowerInvariant())
        {
            case "cpu":
                return ComputeDevice.Cpu;
            case "auto":
                // ILGPU's CPU accelerator is for tests: auto never picks it, only a real GPU.
                return GpuRuntime.TryGetShared(out _) is { OnCpuAccelerator: false } ? ComputeDevice.Cuda : ComputeDevice.Cpu;
            case "cuda" or "gpu":
                if (GpuRuntime.TryGetShared(out var reason) is not null) return ComputeDevice.Cuda;
                error = $"--device cuda: {reason}. Use --device auto (CUDA where available, else CPU) or --device cpu.";
                return null;
            default:
                error = $"--device '{choice}' is not a device; use auto, cpu or cuda.";
                return null;
        }
    }

    /// <summary>One line naming the device that runs a host's dense work: for metrics.json, trial logs and <c>pf plugins</c>.</summary>
    public static string Describe(ComputeDevice device)
    {
        if (device != ComputeDevice.Cuda) return CpuDescription;
        var gpu = GpuRuntime.TryGetShared(out var reason);
        return gpu?.Description ?? $"{CpuDescription} (cuda requested: {reason})";
    }

    /// <summary><see cref="NearestNeighbourIndex.Search"/> on this device (k up to 16 on the GPU; larger k runs on the CPU).</summary>
    public void Search(NearestNeighbourIndex index, ReadOnlySpan<float> queries, int queryCount, int k, Span<float> distances, Span<int> indices)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (_gpu is not null && k <= KnnKernel.KMax && queryCount > 0)
        {
            if (queries.Length < (long)queryCount * index.Dim) throw new ArgumentException($"Queries need {(long)queryCount * index.Dim} floats, have {queries.Length}.", nameof(queries));
            if (distances.Length < (long)queryCount * k || indices.Length < (long)queryCount * k) throw new ArgumentException($"Outputs need {(long)queryCount * k} slots.");
            try
            {
                GpuOperations.Search(_gpu, index, queries, queryCount, k, distances, indices);
                return;
            }
            catch (GpuMemoryException e) { WarnOnce(_log, $"GPU: {e.Message}; kNN runs on the CPU."); }
        }
        index.Search(queries, queryCount, k, distances, indices);
    }

    /// <summary><see cref="KCenterGreedy.Select(float[], int, int, int, int, int, CancellationToken)"/> on this device: same projection and start, same picks (see the README).</summary>
    public int[] SelectCoreset(float[] data, int count, int dim, int selectCount, int projectionDim = 128, int seed = 0, CancellationToken cancellation = default)
    {
        if (_gpu is null || selectCount <= 1 || count == 0) return KCenterGreedy.Select(data, count, dim, selectCount, projectionDim, seed, cancellation);
        ArgumentNullException.ThrowIfNull(data);
        if (selectCount > count) throw new ArgumentOutOfRangeException(nameof(selectCount), $"Cannot select {selectCount} of {count} points.");
        if (data.Length < (long)count * dim) throw new ArgumentException($"Data needs {(long)count * dim} floats, has {data.Length}.", nameof(data));
        float[] x = data;
        int d = dim;
        if (projectionDim > 0 && projectionDim < dim)
        {
            x = RandomProjection.Project(data, count, dim, RandomProjection.CreateMatrix(dim, projectionDim, seed), projectionDim);
            d = projectionDim;
        }
        try
        {
            return GpuOperations.Coreset(_gpu, x, count, d, selectCount, KCenterGreedy.StartIndex(count, seed));
        }
        catch (GpuMemoryException e)
        {
            WarnOnce(_log, $"GPU: {e.Message}; the coreset runs on the CPU.");
            return KCenterGreedy.Select(data, count, dim, selectCount, projectionDim, seed, cancellation);
        }
    }

    /// <summary>
    /// PaDiM scores: sqrt of the Mahalanobis distance of each patch of features [images, positions, inputDim] (the given
    /// channels) to its position's Gaussian (mean [positions, dim], inverse [positions, dim, dim]).
    /// </summary>
    public float[] Mahalanobis(float[] features, int images, int positions, int inputDim, int[] channels, float[] mean, float[] inverse)
    {
        if (_gpu is not null && images > 0)
        {
            try { return GpuOperations.Mahalanobis(_gpu, features, images, positions, inputDim, channels, mean, inverse); }
            catch (GpuMemoryException e) { WarnOnce(_log, $"GPU: {e.Message}; PaDiM scores on the CPU."); }
        }
        return MahalanobisOnCpu(features, images, positions, inputDim, channels, mean, inverse);
    }

    /// <summary>The CPU path: <see cref="GaussianStatistics.MahalanobisSquared"/> per patch, in parallel.</summary>
    public static float[] MahalanobisOnCpu(float[] features, int images, int positions, int inputDim, int[] channels, float[] mean, float[] inverse)
    {
        int dim = channels.Length, patches = images * positions;
        var values = new float[patches];
        Parallel.For(0, patches, () => (new float[dim], new float[dim]), (patch, _, buffers) =>
        {
            var (x, scratch) = buffers;
            var source = features.AsSpan(patch * inputDim, inputDim);
            for (int j = 0; j < dim; j++) x[j] = source[channels[j]];
            int position = patch % positions;
            float squared = GaussianStatistics.MahalanobisSquared(x, mean.AsSpan(position * dim, dim),
                inverse.AsSpan(position * dim * dim, dim * dim), dim, scratch);
            values[patch] = MathF.Sqrt(MathF.Max(0f, squared));
            return buffers;
        }, _ => { });
        return values;
    }

    /// <summary>Anomaly maps: each patch map [h, w] of patchMaps [count, h, w] resized (bilinear) to outHeight x outWidth and Gaussian-blurred.</summary>
    public float[][] AnomalyMaps(float[] patchMaps, int count, int h, int w, int outHeight, int outWidth, float sigma)
    {
        if (_gpu is not null && count > 0)
        {
            try { return GpuOperations.AnomalyMaps(_gpu, patchMaps, count, h, w, outHeight, outWidth, sigma); }
            catch (GpuMemoryException e) { WarnOnce(_log, $"GPU: {e.Message}; maps are made on the CPU."); }
        }
        var maps = new float[count][];
        Parallel.For(0, count, i =>
            maps[i] = MapOps.GaussianBlur(MapOps.ResizeBilinear(patchMaps.AsSpan(i * h * w, h * w), h, w, outHeight, outWidth), outHeight, outWidth, sigma));
        return maps;
    }

    static void WarnOnce(IComponentLog log, string message)
    {
        lock (WarnGate)
            if (!Warned.Add(message)) return;
        log.Warning(message);
    }
}
