using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Logic;

/// <summary>
/// `pf rules --propose` end to end: the real `pf`, real Semantic Kernel and real HTTP against a fake OpenAI-compatible
/// server on loopback. Good proposals are accepted, one that rejects a good part is refused with the reason, and a
/// malformed reply or a timeout is one clear error that leaves the model file byte for byte as it was.
/// </summary>
public sealed class LlmRuleProposalTests : IDisposable
{
    const string Description = "two red pins on the left, a blue bar and a green label on the right, two connectors of one colour at the bottom";

    readonly FakeChatServer _server = new();

    static readonly Lazy<string> Model = new(() =>
    {
        var spec = LogicPipelineTests.LogicPipeline();
        var logic = spec["logic"]![0]!.AsObject();
        logic["description"] = Description;
        logic["llmKind"] = "openai-compatible";
        logic["llmModel"] = "fake-model";
        // Generous: a cold `pf` on a busy CI machine spends seconds loading Semantic Kernel before the first request.
        logic["llmTimeoutSeconds"] = 60;
        using var model = AnomalyPipeline.FromJson(spec.ToJsonString(), TestData.Catalog)
            .Fit(Directory.GetFiles(Path.Combine(LogicPipelineTests.Data.Value, "train", "good")));
        var path = Path.Combine(TestData.TempFolder("llm-model"), "m.pfmodel");
        model.Save(path);
        return path;
    });

    static string CopyOfModel()
    {
        var path = Path.Combine(TestData.TempFolder("llm-copy"), "m.pfmodel");
        File.Copy(Model.Value, path);
        return path;
    }

    [Fact]
    public void Proposals_that_hold_on_every_good_part_are_accepted_and_one_that_rejects_a_good_part_is_refused()
    {
        _server.Reply = """
            Here are the rules:
            ```json
            {"rules": [
              {"id": "two-red-pins", "kind": "quantity", "description": "two pins", "check": {"range": {"count": "red"}, "min": 2, "max": 2}},
              {"id": "label-right-of-pins", "kind": "position", "check": {"leftOf": ["red", "green"]}},
              {"id": "one-pin", "kind": "quantity", "check": {"range": {"count": "red"}, "max": 1}}
            ]}
            ```
            """;
        var path = CopyOfModel();
        var (code, output, err) = Pf(path, "rules", "--model", path, "--propose");
        Assert.True(code == 0, err);
        Assert.Contains("Accepted 2 proposed rules (two-red-pins, label-right-of-pins)", output);
        Assert.Contains("refused: rule 'one-pin' rejects the good training part", output);
        Assert.Contains("count of red = 2, expected [-inf, 1]", output);

        var request = Assert.Single(_server.Requests);
        Assert.Contains(Description, request);
        Assert.Contains("- red: count 2..2", request);
        Assert.Contains("\"model\":\"fake-model\"", request);

        (code, output, _) = Pf(path, "rules", "--model", path);
        Assert.Equal(0, code);
        Assert.Matches(@"two-red-pins\s+quantity\s+llm", output);
        Assert.DoesNotContain("one-pin", output);
        using var loaded = AnomalyModel.Load(path, TestData.Catalog);
        var missing = loaded.Inspect([Path.Combine(LogicPipelineTests.Data.Value, "test", "logical_anomalies", "000.png")])[0];
        Assert.False(Assert.Single(missing.Rules, r => r.RuleId == "two-red-pins").Passed);
        Assert.Contains("[quantity, llm]", missing.Rules.Single(r => r.RuleId == "two-red-pins").Detail);
    }

    [Theory]
    [InlineData("I cannot help with that.", "is not a usable rules document (the model's reply holds no JSON")]
    [InlineData("{\"rules\": [{\"id\": \"x\", \"kind\": \"quantity\", \"check\": {\"range\": {\"count\": \"purple\"}, \"max\": 2}}]}", "unknown class 'purple'")]
    [InlineData("{\"rules\": [{\"id\": \"x\", \"kind\": \"quantity\", \"check\": {\"range\": {\"count\": \"red\"}, ", "is not a usable rules document")]
    public void A_malformed_reply_is_a_clear_error_and_the_model_is_unchanged(string reply, string expected)
    {
        _server.Reply = reply;
        var path = CopyOfModel();
        var before = File.ReadAllBytes(path);
        var (code, _, err) = Pf(path, "rules", "--model", path, "--propose");
        Assert.Equal(1, code);
        Assert.Contains(expected, err);
        Assert.Contains("the model is unchanged", err);
        Assert.DoesNotContain("   at ", err);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_model_that_does_not_answer_in_time_is_a_clear_error_and_the_model_is_unchanged()
    {
        _server.Reply = "{\"rules\": []}";
        _server.Delay = TimeSpan.FromSeconds(120);
        var path = CopyOfModel();
        // The same model with a short timeout, as a user would get by fitting with "llmTimeoutSeconds": 3.
        var manifest = JsonNode.Parse(ModelFileEntries.ReadText(path, "manifest.json"))!;
        manifest["pipeline"]!["logic"]![0]!["llmTimeoutSeconds"] = 3;
        ModelFileEntries.ReplaceText(path, new Dictionary<string, string> { ["manifest.json"] = manifest.ToJsonString() });
        var before = File.ReadAllBytes(path);
        var watch = Stopwatch.StartNew();
        var (code, _, err) = Pf(path, "rules", "--model", path, "--propose");
        Assert.Equal(1, code);
        Assert.Contains("openai-compatible model 'fake-model' did not answer within 3 s; the model is unchanged", err);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed.TotalSeconds:0} s; the server answers only after 120 s");
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    (int ExitCode, string Out, string Err) Pf(string model, params string[] args) => PfProcess.Run(new Dictionary<string, string?>
    {
        ["PF_LLM_ENDPOINT"] = _server.BaseUrl,
        ["PF_SECRETS_FILE"] = Path.Combine(Path.GetDirectoryName(model)!, "no-secrets.json"),
    }, args);

    public void Dispose() => _server.Dispose();

    /// <summary>An OpenAI-compatible chat completions endpoint on loopback that answers with a set reply, optionally late.</summary>
    sealed class FakeChatServer : IDisposable
    {
        readonly HttpListener _listener = new();
        readonly CancellationTokenSource _stop = new();

        public FakeChatServer()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            BaseUrl = $"http://127.0.0.1:{port}/v1";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _ = Task.Run(Serve);
        }

        public string BaseUrl { get; }
        public string Reply { get; set; } = "";
        public TimeSpan Delay { get; set; } = TimeSpan.Zero;
        public ConcurrentQueue<string> Requests { get; } = new();

        async Task Serve()
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); } catch { return; }
                _ = Task.Run(async () =>
                {
                    using var reader = new StreamReader(context.Request.InputStream);
                    Requests.Enqueue(await reader.ReadToEndAsync());
                    try { await Task.Delay(Delay, _stop.Token); } catch (OperationCanceledException) { }
                    var body = new JsonObject
                    {
                        ["id"] = "chatcmpl-1", ["object"] = "chat.completion", ["created"] = 1, ["model"] = "fake-model",
                        ["choices"] = new JsonArray(new JsonObject
                        {
                            ["index"] = 0, ["finish_reason"] = "stop",
                            ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = Reply },
                        }),
                        ["usage"] = new JsonObject { ["prompt_tokens"] = 1, ["completion_tokens"] = 1, ["total_tokens"] = 2 },
                    };
                    var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
                    try
                    {
                        context.Response.ContentType = "application/json";
                        context.Response.ContentLength64 = bytes.Length;
                        await context.Response.OutputStream.WriteAsync(bytes);
                        context.Response.Close();
                    }
                    catch { /* the client gave up (timeout test) */ }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Close();
        }
    }
}
