using System.Diagnostics;
using PipelineFramework.Compute.Gpu;

namespace PipelineFramework.Tests.Gpu;

/// <summary>`pf --device`: a run-time choice on every command, refused with one line when it names no usable device.</summary>
public class DeviceOptionTests
{
    static (int ExitCode, string Out, string Err) Pf(string forceCpuAccelerator, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pf-cli", "pf.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment[GpuRuntime.CpuAcceleratorVariable] = forceCpuAccelerator;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "pf did not finish in 2 minutes");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

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
