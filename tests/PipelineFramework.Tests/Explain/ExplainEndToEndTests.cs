using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Llm;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Explain;

/// <summary>
/// <c>explain.llm</c> named in a pipeline JSON, loaded by the catalog from its plugin folder, talking to a loopback fake
/// server: the evaluation's explanations come from it, and the endpoint URL and key are in no file, report or log line.
/// </summary>
public class ExplainEndToEndTests
{
    const string Key = "sk-e2e-secret-9f8e7d6c5b4a";

    const string PipelineJson = """
        { "name": "explained", "seed": 5,
          "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] },
          "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.5 },
          "explain": { "type": "explain.llm", "kind": "openai-compatible", "model": "llama3.1", "timeoutSeconds": 30 } }
        """;

    /// <summary>Asks for the verdict tool first, then answers from it (no numbers, so every part's answer checks out).</summary>
    static FakeOpenAIServer Server() => new((_, request) =>
        request.Body["messages"]!.AsArray().Last()!["role"]!.GetValue<string>() == "tool"
            ? FakeReply.Text("""{"verdict":"ANOMALY","summary":"Rejected: the part looks unlike the good parts.","reasons":[{"text":"the anomaly score is above the threshold","facts":["score","threshold"]}],"confidence":0.7}""")
            : FakeReply.ToolCalls("inspection-get_verdict"));

    [Fact]
    public void The_llm_explains_rejected_parts_and_no_url_or_key_reaches_a_file_or_log()
    {
        using var server = Server();
        var log = new RecordingLog();
        var services = new HostServices
        {
            Secrets = new DictionarySecrets(new Dictionary<string, string> { [LlmSecretNames.Endpoint] = server.BaseUrl + "/v1", [LlmSecretNames.ApiKey] = Key }),
            Log = log,
        };
        var output = TestData.TempFolder("explain-e2e");
        var pipeline = AnomalyPipeline.FromJson(PipelineJson, TestData.Catalog, services: services);
        Evaluator.Run(pipeline, TestData.Hazelnut, output, new EvaluationOptions { SaveModels = true, GallerySize = 6 });

        var explanations = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "explanations.json")))!.AsArray();
        Assert.NotEmpty(explanations);
        Assert.All(explanations, e => Assert.Equal("openai-compatible:llama3.1", (string)e!["explanation"]!["source"]!));
        Assert.All(server.Received, r => Assert.Equal("Bearer " + Key, r.Authorization));
        Assert.Contains("Rejected: the part looks unlike the good parts.", File.ReadAllText(Path.Combine(output, "report.html")));

        var texts = Directory.GetFiles(output, "*", SearchOption.AllDirectories).SelectMany(ReadAllTexts).Concat(log.Lines).ToList();
        Assert.Contains(texts, t => t.Contains("\"explain.llm\""));   // the pipeline (kind and model) is in the model file
        foreach (var secret in new[] { Key, server.BaseUrl, $"127.0.0.1:{server.Port}" })
            Assert.DoesNotContain(texts, t => t.Contains(secret, StringComparison.Ordinal));
    }

    [Fact]
    public void Pf_explain_prints_the_explanation_and_answers_a_follow_up()
    {
        using var server = Server();
        var folder = TestData.TempFolder("explain-cli");
        var pipelinePath = Path.Combine(folder, "explained.json");
        File.WriteAllText(pipelinePath, PipelineJson);
        var model = Path.Combine(folder, "m.pfmodel");
        var env = new Dictionary<string, string> { [LlmSecretNames.Endpoint] = server.BaseUrl + "/v1", [LlmSecretNames.ApiKey] = Key };
        var (code, _, err) = Pf(env, "fit", "--pipeline", pipelinePath, "--data", TestData.Hazelnut, "--model", model);
        Assert.True(code == 0, err);
        var image = Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "colour")).Order().First();

        (code, var stdout, err) = Pf(env, "explain", "--model", model, "--image", image, "--ask", "is it on the shell or the tip?");
        Assert.True(code == 0, err);
        Assert.Contains("Q: is it on the shell or the tip?", stdout);
        Assert.Contains(": ANOMALY, score", stdout);   // the shipped colour defect is rejected
        Assert.Equal(2, stdout.Split("explained by openai-compatible:llama3.1").Length - 1);   // the explanation and the answer
        Assert.DoesNotContain("note:", stdout);
        Assert.DoesNotContain(Key, stdout + err);
        Assert.DoesNotContain($"127.0.0.1:{server.Port}", stdout + err);

        // pf score --out carries the same location words and size per region.
        var results = Path.Combine(folder, "results.json");
        (code, _, err) = Pf(env, "score", "--model", model, "--images", image, "--out", results);
        Assert.True(code == 0, err);
        var region = JsonNode.Parse(File.ReadAllText(results))!["results"]![0]!["regions"]![0]!;
        Assert.NotNull(Core.Explain.PartLocation.Parse((string)region["location"]!));
        Assert.InRange((long)region["size"]!, 1, (long)region["area"]!);

        // Without the endpoint: the offline explanation, with a note that names the variable to set.
        (code, stdout, err) = Pf(new Dictionary<string, string>(), "explain", "--model", model, "--image", image);
        Assert.True(code == 0, err);
        Assert.Contains("explained by offline", stdout);
        Assert.Contains(LlmSecretNames.Endpoint, stdout);
    }

    static (int ExitCode, string Out, string Err) Pf(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        // Only what the test sets: no endpoint or key from the machine, no user secrets file.
        var variables = new Dictionary<string, string?> { ["PF_SECRETS_FILE"] = "/nonexistent/pf-secrets.json" };
        foreach (var name in new[] { LlmSecretNames.Endpoint, LlmSecretNames.ApiKey, LlmSecretNames.OpenAIApiKey, LlmSecretNames.AzureEndpoint, LlmSecretNames.AzureApiKey })
            variables[name] = null;
        foreach (var (k, v) in env) variables[k] = v;
        return PfProcess.Run(variables, args);
    }

    /// <summary>A file's text, and for a zip (the model file) the text of every entry.</summary>
    static IEnumerable<string> ReadAllTexts(string path)
    {
        var bytes = File.ReadAllBytes(path);
        yield return Encoding.UTF8.GetString(bytes);
        if (bytes.Length > 4 && bytes[0] == 'P' && bytes[1] == 'K')
        {
            using var zip = new ZipArchive(new MemoryStream(bytes));
            foreach (var entry in zip.Entries)
            {
                using var reader = new StreamReader(entry.Open());
                yield return reader.ReadToEnd();
            }
        }
    }
}
