using PipelineFramework.Compute.Gpu;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Gpu;

/// <summary>`pf --device`: a run-time choice on every command, refused with one line when it names no usable device.</summary>
public class DeviceOptionTests
{
    static (int ExitCode, string Out, string Err) Pf(string forceCpuAccelerator, params string[] args) =>
        PfProcess.Run(new Dictionary<string, string?> { [GpuRuntime.CpuAcceleratorVariable] = forceCpuAccelerator }, args);

    [Fact]
    public void Plugins_names_the_device_the_host_chose()
    {
        var cpu = Pf("", "plugins");
        Assert.Equal(0, cpu.ExitCode);
        Assert.Contains("Compute device: cpu:", cpu.Out);
        var forced = Pf("1", "plugins", "--device", "cuda");
        Assert.Equal(0, forced.ExitCode);
        Assert.Contains("Compute device: cuda forced onto ILGPU's CPU accelerator", forced.Out);
    }

    [Fact]
    public void An_unknown_or_unusable_device_is_refused_in_one_line()
    {
        var unknown = Pf("", "plugins", "--device", "tpu");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal("error: --device 'tpu' is not a device; use auto, cpu or cuda.", unknown.Err.Trim());
        // This machine has no NVIDIA GPU (CI neither): cuda is refused, auto falls back to the CPU.
        var cuda = Pf("", "plugins", "--device", "cuda");
        if (cuda.ExitCode == 0) return; // a machine with a GPU: nothing to refuse
        Assert.Equal(1, cuda.ExitCode);
        Assert.Contains("--device cuda: ", cuda.Err);
        Assert.Contains("Use --device auto", cuda.Err);
        var auto = Pf("", "plugins", "--device", "auto");
        Assert.Equal(0, auto.ExitCode);
        Assert.Contains("Compute device: cpu:", auto.Out);
    }
}
