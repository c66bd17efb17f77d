using System.Diagnostics;

namespace PipelineFramework.Tests.Support;

/// <summary>The real `pf` executable (the test project builds it next to itself), run as users and CI scripts run it.</summary>
internal static class PfProcess
{
    public static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "pf-cli", "pf.dll");

    /// <summary>pf with these arguments: exit code, stdout, stderr.</summary>
    public static (int ExitCode, string Out, string Err) Run(params string[] args) => Run(null, args);

    /// <summary>
    /// pf with variables set (a null value removes one the machine has); a run past <paramref name="timeout"/> (default
    /// 5 minutes) is killed and fails the test with its stderr.
    /// </summary>
    public static (int ExitCode, string Out, string Err) Run(IReadOnlyDictionary<string, string?>? environment, string[] args, TimeSpan? timeout = null)
    {
        Assert.True(File.Exists(Dll), $"{Dll} is missing: the test project builds the CLI next to itself.");
        using var process = Start(environment, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"pf did not finish in {limit.TotalMinutes:0.#} minutes:\n{stderr.Result}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>pf started with its output redirected, for tests that talk to it while it runs.</summary>
    public static Process Start(IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        return Process.Start(start)!;
    }
}
