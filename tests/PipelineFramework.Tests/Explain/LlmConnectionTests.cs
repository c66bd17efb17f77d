using PipelineFramework.Abstractions;
using PipelineFramework.Core.Explain;
using PipelineFramework.Explain.SemanticKernel;
using PipelineFramework.Llm;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Explain;

/// <summary>
/// What PipelineFramework.Llm guards for every caller of a model, over real HTTP against the fake server: secrets that
/// would break the request's headers, and replies too large to hold.
/// </summary>
public class LlmConnectionTests
{
    static Task<Explanation> Explain(FakeOpenAIServer server, string endpoint, string key) =>
        new ExplanationConversation(
            new LlmExplainer(new LlmExplainerOptions { Kind = LlmKinds.OpenAICompatible, Model = "gpt-test", TimeoutSeconds = 30 }),
            LlmExplainerTests.Facts(),
            new HostServices { Secrets = new DictionarySecrets(new Dictionary<string, string> { [LlmSecretNames.Endpoint] = endpoint, [LlmSecretNames.ApiKey] = key }) })
        .ExplainAsync();

    [Fact]
    public async Task A_key_with_a_trailing_newline_is_trimmed_and_sent_as_one_header()
    {
        using var server = new FakeOpenAIServer(FakeReply.Text(LlmExplainerTests.Answer()));
        var explanation = await Explain(server, " " + server.BaseUrl + "/v1\n", "sk-clean-key\r\n");
        Assert.True(explanation.Notes.Count == 0, string.Join("\n", explanation.Notes));
        Assert.Equal("Bearer sk-clean-key", Assert.Single(server.Received).Authorization);
    }

    [Theory]
    [InlineData(LlmSecretNames.ApiKey, "sk-secret-inside\nX-Injected: evil")]
    [InlineData(LlmSecretNames.ApiKey, "sk-secret-inside\r\n\r\nGET /smuggled HTTP/1.1")]
    [InlineData(LlmSecretNames.ApiKey, "sk-secret-inside\u001b[2K")]
    [InlineData(LlmSecretNames.Endpoint, "http://127.0.0.1:1/v1\nX-Injected: sk-secret-inside")]
    public async Task A_secret_with_a_control_character_inside_is_refused_by_name_and_never_sent_or_printed(string variable, string value)
    {
        using var server = new FakeOpenAIServer(FakeReply.Text(LlmExplainerTests.Answer()));
        var explanation = await Explain(server,
            variable == LlmSecretNames.Endpoint ? value : server.BaseUrl + "/v1",
            variable == LlmSecretNames.ApiKey ? value : "sk-ok");
        Assert.Equal(OfflineExplainer.SourceName, explanation.Source);
        var note = Assert.Single(explanation.Notes);
        Assert.Contains($"{variable} holds a control character", note);
        Assert.DoesNotContain("secret-inside", note);
        Assert.DoesNotContain("Injected", note);
        Assert.Empty(server.Received);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_reply_larger_than_the_limit_is_refused_while_it_arrives(bool chunked)
    {
        // 5 MiB of content: over the 4 MiB limit. Chunked, only reading the body tells its size.
        using var server = new FakeOpenAIServer(FakeReply.Text(new string('A', 5 << 20)) with { Chunked = chunked });
        var explanation = await Explain(server, server.BaseUrl + "/v1", "sk-ok");
        Assert.Equal(OfflineExplainer.SourceName, explanation.Source);
        Assert.Contains("sent a reply larger than 4 MiB", Assert.Single(explanation.Notes));
    }

    [Fact]
    public async Task A_reply_under_the_limit_is_read_as_usual()
    {
        // Padding of 3 MiB in the JSON envelope (outside the answer): under the limit, so the answer is used.
        var body = FakeReply.Text(LlmExplainerTests.Answer()).Body.Replace("\"chatcmpl-fake\"", "\"" + new string('p', 3 << 20) + "\"");
        using var server = new FakeOpenAIServer(new FakeReply(200, body) { Chunked = true });
        var explanation = await Explain(server, server.BaseUrl + "/v1", "sk-ok");
        Assert.True(explanation.Notes.Count == 0, string.Join("\n", explanation.Notes));
    }
}
