using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Service;

/// <summary><c>pf serve</c> as an operator runs it: a separate process, a real port, SIGTERM to stop; and its refusals.</summary>
[Collection("Service")]
public class ServeCommandTests(ServiceModels models)
{
    static readonly string PfDll = Path.Combine(AppContext.BaseDirectory, "pf-cli", "pf.dll");

    [Fact]
    public async Task Pf_serve_scores_over_http_and_stops_cleanly_on_SIGTERM_with_the_result_stored()
    {
        var modelsFolder = TestData.TempFolder("serve-models");
        var dataFolder = TestData.TempFolder("serve-data");
        File.Copy(models.ModelA, Path.Combine(modelsFolder, "hazelnut.pfmodel"));
        var (process, address, output) = await StartServingAsync("serve", "--models", modelsFolder, "--port", "0", "--data", dataFolder);
        try
        {
            using var http = new HttpClient { BaseAddress = address };
            using var body = new ByteArrayContent(File.ReadAllBytes(ServiceModels.DefectiveHazelnut));
            body.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
            using var response = await http.PostAsync("/v1/inspect/hazelnut", body);
            var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(models.IdA, (string)answer["model"]!["id"]!);

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) await kill.WaitForExitAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "pf serve did not stop on SIGTERM:\n" + string.Join("\n", output));
            Assert.True(process.ExitCode is 0 or 130, $"exit code {process.ExitCode}:\n{string.Join("\n", output)}");

            using var db = new SqliteConnection($"Data Source={Path.Combine(dataFolder, "results.db")};Pooling=False");
            db.Open();
            using var query = db.CreateCommand();
            query.CommandText = "SELECT id FROM inspections";
            Assert.Equal((string)answer["id"]!, (string)query.ExecuteScalar()!);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
        }
    }

    [Fact]
    public void Pf_serve_refuses_a_missing_folder_and_an_open_address_without_a_key()
    {
        var (code, err) = Run("serve", "--models", "/nowhere/models", "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("The models folder '/nowhere/models' does not exist", err);

        var folder = TestData.TempFolder("serve-open");
        (code, err) = Run("serve", "--models", folder, "--host", "0.0.0.0", "--port", "0", "--data", folder);
        Assert.Equal(1, code);
        Assert.Contains("Set PF_API_KEY", err);

        // A port another program holds: the operator's situation in one line, not a bug report with a log.
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        int taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        (code, err) = Run("serve", "--models", folder, "--port", taken.ToString(), "--data", folder);
        Assert.Equal(1, code);
        Assert.Contains($"error: Port {taken} on 127.0.0.1 is already in use by another program; stop it, or choose another port with --port.", err);
        Assert.DoesNotContain("report this bug", err);
        // The host's own log entry of the failure (30 lines of stack trace) is not printed before the one line.
        Assert.DoesNotContain("Hosting failed to start", err);
        Assert.DoesNotContain("AddressInUseException", err);

        // An address this machine does not have (TEST-NET-1, RFC 5737), with the key an open address needs.
        (code, err) = Run(new Dictionary<string, string> { ["PF_API_KEY"] = "serve-test-key-0123456789abcdef" }, "serve", "--models", folder, "--host", "192.0.2.1", "--port", "0", "--data", folder);
        Assert.Equal(1, code);
        Assert.Contains("error: Cannot listen on 192.0.2.1 port 0: ", err);
        Assert.DoesNotContain("report this bug", err);
    }

    [Fact]
    public async Task A_second_pf_serve_on_the_same_data_folder_refuses_to_start_and_the_first_keeps_storing()
    {
        var modelsFolder = TestData.TempFolder("serve-models");
        var dataFolder = TestData.TempFolder("serve-data");
        File.Copy(models.ModelA, Path.Combine(modelsFolder, "hazelnut.pfmodel"));
        var (first, firstAddress, firstOutput) = await StartServingAsync("serve", "--models", modelsFolder, "--port", "0", "--data", dataFolder);
        try
        {
            // Both used to run: when one created a new results.db for a deleted one, the other went on writing into the
            // deleted file and answered stored: true for results that were gone.
            var (code, err) = Run("serve", "--models", modelsFolder, "--port", "0", "--data", dataFolder);
            Assert.Equal(1, code);
            Assert.Contains($"error: Another pf serve is using the data folder '{dataFolder}' (it holds .pf-serve.lock there). " +
                "Stop that service, or give this one its own --data folder", err);
            Assert.DoesNotContain("Exception", err);

            using var http = new HttpClient { BaseAddress = firstAddress };
            using var body = new ByteArrayContent(File.ReadAllBytes(ServiceModels.GoodHazelnut));
            var answer = JsonNode.Parse(await (await http.PostAsync("/v1/inspect/hazelnut", body)).Content.ReadAsStringAsync())!;
            Assert.True((bool)answer["stored"]!, answer.ToJsonString());
            Assert.DoesNotContain(firstOutput, l => l.Contains("fail:"));

            // The OS frees the folder when the holder dies, a killed one included: no stale lock to clean up by hand.
            first.Kill();
            Assert.True(first.WaitForExit(TimeSpan.FromSeconds(30)));
            var (second, secondAddress, _) = await StartServingAsync("serve", "--models", modelsFolder, "--port", "0", "--data", dataFolder);
            try
            {
                using var secondHttp = new HttpClient { BaseAddress = secondAddress };
                var stored = JsonNode.Parse(await secondHttp.GetStringAsync($"/v1/inspections/{(string)answer["id"]!}"))!;
                Assert.Equal((string)answer["id"]!, (string)stored["id"]!);
            }
            finally
            {
                second.Kill(entireProcessTree: true);
                second.Dispose();
            }
        }
        finally
        {
            if (!first.HasExited) first.Kill(entireProcessTree: true);
            first.Dispose();
        }
    }

    /// <summary>
    /// pf started with these arguments, once it says it serves, and the address it says (from the log line naming it);
    /// its stdout and stderr lines are collected. The tests give <c>--port 0</c>: a port probed free and then handed to
    /// pf can be taken by a test running beside this one during the second or more pf spends starting (pf then stops
    /// with "already in use"); the port the OS gives pf itself cannot.
    /// </summary>
    static async Task<(Process Process, Uri Address, System.Collections.Concurrent.ConcurrentQueue<string> Output)> StartServingAsync(params string[] args)
    {
        var process = Start(args);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var started = new TaskCompletionSource<Uri>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            output.Enqueue(e.Data);
            if (Regex.Match(e.Data, @"Inspection service on (\S+/): ") is { Success: true } serving) started.TrySetResult(new Uri(serving.Groups[1].Value));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.Exited += (_, _) => started.TrySetException(new Xunit.Sdk.XunitException("pf serve ended before serving:\n" + string.Join("\n", output)));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try { return (process, await started.Task.WaitAsync(TimeSpan.FromSeconds(60)), output); }
        catch
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    static Process Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    static Process Start(Dictionary<string, string> environment, params string[] args)
    {
        Assert.True(File.Exists(PfDll), $"{PfDll} is missing: the test project builds the CLI next to itself.");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(PfDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("PF_API_KEY");
        foreach (var (name, value) in environment) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    static (int Code, string Err) Run(params string[] args) => Run(new Dictionary<string, string>(), args);

    static (int Code, string Err) Run(Dictionary<string, string> environment, params string[] args)
    {
        using var process = Start(environment, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "pf did not finish in a minute");
        return (process.ExitCode, stderr.Result + stdout.Result);
    }
}
