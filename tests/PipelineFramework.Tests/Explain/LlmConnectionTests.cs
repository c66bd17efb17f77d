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
