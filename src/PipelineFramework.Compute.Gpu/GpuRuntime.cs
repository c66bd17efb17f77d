using System.Globalization;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace PipelineFramework.Compute.Gpu;

/// <summary>
/// The process's one ILGPU accelerator and its kernels, created on first use. Every plugin reaches the same instance:
/// this assembly is shared across plugin load contexts (McMasterPluginLoader), so a process holds one CUDA context and
/// one memory budget however many plugins it loads. Work on it is serialised by <see cref="Run{T}"/>.
/// </summary>
public sealed class GpuRuntime
{
    /// <summary>Set to 1: "cuda" runs on ILGPU's CPU accelerator (same kernels, no GPU), for tests and CI.</summary>
    public const string CpuAcceleratorVariable = "PF_CUDA_ON_CPU_ACCELERATOR";
    /// <summary>Device memory this process may use, in MiB (default: 75 % of the device's memory).</summary>
    public const string MemoryBudgetVariable = "PF_GPU_MEMORY_MB";

    static readonly object CreateGate = new();
    static GpuRuntime? _shared;
    static string? _unavailableReason;

    readonly object _gate = new();
    readonly Context _context;
    readonly Lazy<Kernels> _kernels;

    GpuRuntime(Context context, Accelerator accelerator, bool onCpuAccelerator)
    {
        _context = context;
        Accelerator = accelerator;
        OnCpuAccelerator = onCpuAccelerator;
        long deviceBytes = accelerator.MemorySize > 0 ? accelerator.MemorySize : 1L << 30;
        long defaultBudget = onCpuAccelerator ? Math.Min(deviceBytes, 1L << 30) : deviceBytes / 4 * 3;
        MemoryBudgetBytes = ReadBudget() ?? defaultBudget;
        Description = onCpuAccelerator
            ? $"cuda forced onto ILGPU's CPU accelerator ({CpuAcceleratorVariable}=1; {Environment.ProcessorCount} cores), budget {MemoryBudgetBytes >> 20} MiB"
            : $"cuda: {accelerator.Name}, {accelerator.MemorySize >> 20} MiB, {accelerator.NumMultiprocessors} SMs (ILGPU {typeof(Context).Assembly.GetName().Version?.ToString(3)}), budget {MemoryBudgetBytes >> 20} MiB";
        _kernels = new(() => new Kernels(accelerator));
    }

    public Accelerator Accelerator { get; }
    /// <summary>True when "cuda" was forced onto ILGPU's CPU accelerator (<see cref="CpuAcceleratorVariable"/>).</summary>
    public bool OnCpuAccelerator { get; }
    /// <summary>The most device memory one operation plans to hold; chunks are sized to it.</summary>
    public long MemoryBudgetBytes { get; set; }
    /// <summary>One line for logs, metrics.json and <c>pf plugins</c>: which device runs the kernels.</summary>
    public string Description { get; }

    internal Kernels Kernels => _kernels.Value;
    /// <summary>kNN thread layout: the GPU's, or a small one on the CPU accelerator (see <see cref="KnnTiling"/>).</summary>
    internal KnnTiling KnnTiling => OnCpuAccelerator ? KnnTiling.CpuAccelerator : KnnTiling.Gpu;
    /// <summary>Launch shape for grid-stride kernels over <paramref name="items"/> elements: enough groups to fill the device, no more.</summary>
    internal KernelConfig Spread(long items)
    {
        int groupSize = OnCpuAccelerator ? 16 : 256;
        long wanted = (items + groupSize - 1) / groupSize;
        int cap = OnCpuAccelerator ? 2 : Math.Max(1, Accelerator.NumMultiprocessors) * 16;
        return new KernelConfig(new Index1D((int)Math.Clamp(wanted, 1, cap)), new Index1D(groupSize));
    }

    /// <summary>Coreset reduction group size, for the same reason.</summary>
    internal int CoresetGroupSize => OnCpuAccelerator ? 16 : CoresetKernels.MaxGroupSize;

    /// <summary>The shared runtime, or null with the reason when no usable CUDA device is found (and none is forced).</summary>
    public static GpuRuntime? TryGetShared(out string? unavailableReason)
    {
        lock (CreateGate)
        {
            if (_shared is null && _unavailableReason is null)
            {
                try { _shared = Create(); }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _unavailableReason = $"CUDA could not be initialised ({e.GetType().Name}: {e.Message})";
                }
            }
            unavailableReason = _unavailableReason;
            return _shared;
        }
    }

    static bool ForcedOntoCpu => Environment.GetEnvironmentVariable(CpuAcceleratorVariable) is "1" or "true" or "yes";

    static GpuRuntime? Create()
    {
        if (ForcedOntoCpu)
        {
            // ILGPU's CPU accelerator gives every simulated thread of a group an OS thread, and barriers make them
            // wait for each other: 16-thread groups (4-thread warps x 4) on one simulated multiprocessor keep it
            // light on a small shared CI machine; the kernels take their group shape from the runtime.
            var device = new CPUDevice(4, 4, 1);
            var cpuContext = Context.Create(builder => builder.CPU(device).EnableAlgorithms());
            return new GpuRuntime(cpuContext, cpuContext.CreateCPUAccelerator(0), onCpuAccelerator: true);
        }
        var context = Context.Create(builder => builder.Cuda().EnableAlgorithms());
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            _unavailableReason = "no CUDA device found (no NVIDIA GPU or driver)";
            return null;
        }
        return new GpuRuntime(context, context.CreateCudaAccelerator(0), onCpuAccelerator: false);
    }

    static long? ReadBudget()
    {
        var text = Environment.GetEnvironmentVariable(MemoryBudgetVariable);
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long mib) && mib > 0) return mib << 20;
        throw new ArgumentException($"{MemoryBudgetVariable}='{text}' is not a positive number of MiB; set it to, e.g., 4096 or unset it.");
    }

    /// <summary>Holds the accelerator for one caller at a time (CUDA contexts are bound per thread); dispose to release.</summary>
    internal Lease Enter()
    {
        Monitor.Enter(_gate);
        try { Accelerator.Bind(); }
        catch { Monitor.Exit(_gate); throw; }
        return new Lease(_gate);
    }

    internal readonly struct Lease(object gate) : IDisposable
    {
        public void Dispose() => Monitor.Exit(gate);
    }

    // One memory bank stays on the device between searches (a line scores image after image against the same bank);
    // a search against another bank replaces it, so at most one is resident.
    ResidentBank? _resident;

    sealed class ResidentBank(NearestNeighbourIndex index, MemoryBuffer1D<float, Stride1D.Dense> bank, MemoryBuffer1D<float, Stride1D.Dense> norms) : IDisposable
    {
        public NearestNeighbourIndex Index { get; } = index;
        public MemoryBuffer1D<float, Stride1D.Dense> Bank { get; } = bank;
        public MemoryBuffer1D<float, Stride1D.Dense> Norms { get; } = norms;
        public void Dispose() { Bank.Dispose(); Norms.Dispose(); }
    }

    /// <summary>Rows [start, start + rows) of the index's bank and norms on the device; owned is null for the resident bank.</summary>
    internal (ArrayView<float> Bank, ArrayView<float> Norms, IDisposable? Owned) BankChunk(NearestNeighbourIndex index, int start, int rows)
    {
        int dim = index.Dim;
        bool whole = start == 0 && rows == index.Count;
        if (whole && _resident?.Index == index) return (_resident.Bank.View, _resident.Norms.View, null);
        if (whole) ReleaseResidentBank();
        var bank = Accelerator.Allocate1D<float>((long)rows * dim);
        var norms = Accelerator.Allocate1D<float>(rows);
        var chunk = new ResidentBank(index, bank, norms);
        try
        {
            bank.View.CopyFromCPU(ref index.Bank[(long)start * dim], (long)rows * dim);
            norms.View.CopyFromCPU(ref index.Norms[start], rows);
        }
        catch
        {
            chunk.Dispose();
            throw;
        }
        if (!whole) return (bank.View, norms.View, chunk);
        _resident = chunk;
        return (bank.View, norms.View, null);
    }

    /// <summary>Frees the resident bank (before retrying in smaller chunks, or when the caller is done with it).</summary>
    internal void ReleaseResidentBank()
    {
        _resident?.Dispose();
        _resident = null;
    }

    /// <summary>Out-of-memory on the device, as ILGPU reports it (allocation or launch), not a kernel bug.</summary>
    internal static bool IsOutOfMemory(Exception e) =>
        e is OutOfMemoryException ||
        (e is AcceleratorException && e.Message.Contains("memory", StringComparison.OrdinalIgnoreCase));
}
