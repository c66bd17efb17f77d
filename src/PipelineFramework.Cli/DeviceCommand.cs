using System.CommandLine;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute.Gpu;
using PipelineFramework.Core.Hosting;

namespace PipelineFramework.Cli;

static partial class Commands
{
    /// <summary>
    /// <c>--device auto|cpu|cuda</c>, on every command: where dense work runs. A run-time choice of the host, never stored in a
    /// pipeline or a model file. <c>cpu</c> is the default, so no command pays for probing CUDA unless asked.
    /// </summary>
    public static Option<string> DeviceOption() => new("--device")
    {
        Description = "Where dense work runs: auto (CUDA where a usable NVIDIA GPU is found, else CPU), cpu or cuda. " +
                      $"Device memory budget: {GpuRuntime.MemoryBudgetVariable} (MiB).",
        Recursive = true,
        DefaultValueFactory = _ => "cpu",
    };

    /// <summary>The host services every command lends its pipelines and models; set from --device before a command runs.</summary>
    static HostServices Services { get; set; } = HostEnvironment.CreateServices(log: new ConsoleLog());

    /// <summary>Applies --device; false (after an error line on stderr) when it names no usable device.</summary>
    public static bool UseDevice(string? choice)
    {
        var device = ComputeBackend.Resolve(choice ?? "cpu", out var error);
        if (device is null)
        {
            Console.Error.WriteLine($"error: {error}");
            return false;
        }
        Services = HostEnvironment.CreateServices(device.Value, new ConsoleLog());
        return true;
    }

    /// <summary>One line naming the device that runs the kernels (for <c>pf plugins</c>).</summary>
    static string DeviceDescription => ComputeBackend.Describe(Services.Device);
}
