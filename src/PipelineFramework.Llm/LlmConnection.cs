using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Connectors.AzureOpenAI;
using Microsoft.SemanticKernel.Connectors.OpenAI;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Llm;

/// <summary>
/// A Semantic Kernel chat completion service (or a Kernel holding it) for an endpoint named by kind and model, with its
/// URL and key read from <see cref="HostServices.Secrets"/> and its HttpClient from
/// <see cref="HostServices.CreateHttpClient"/> (named <see cref="HttpClientName"/>). A missing secret is a
/// <see cref="PipelineException"/> naming the variable to set; the message never contains a secret's value.
/// </summary>
public static class LlmConnection
{
    /// <summary>The name passed to <see cref="HostServices.CreateHttpClient"/>.</summary>
    public const string HttpClientName = "llm";

    /// <summary>
    /// Longest reply body read from an endpoint (4 MiB). An explanation is a few KiB and a rules document at most
    /// 1 MiB (<c>RuleParser.MaxDocumentBytes</c>, with room for JSON escaping); anything longer fails while it arrives.
    /// </summary>
    public const long MaxReplyBytes = 4L << 20;

    /// <summary>
    /// A Kernel with the chat service registered; add plugins (tools) to it. <paramref name="maxRequests"/> bounds the
    /// requests sent through it (see <see cref="CreateChatService"/>).
    /// </summary>
    public static Kernel CreateKernel(LlmEndpointOptions options, HostServices services, int maxRequests = int.MaxValue)
    {
        var builder = Kernel.CreateBuilder();
        builder.Services.AddSingleton(CreateChatService(options, services, maxRequests));
        return builder.Build();
    }

    /// <summary>
    /// The chat service. At most <paramref name="maxRequests"/> requests are sent through it: the one past that fails
    /// with <see cref="LlmRequestLimitException"/> unsent, which bounds a tool loop whatever the endpoint answers.
    /// </summary>
    public static IChatCompletionService CreateChatService(LlmEndpointOptions options, HostServices services, int maxRequests = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        var problems = options.Validate().ToList();
        if (problems.Count > 0)
            throw new PipelineException(string.Join("; ", problems.Select(p => $"{p.Option}: {p.Message}")));

        var host = services.CreateHttpClient(HttpClientName);
        if (ReplySizeLimit.FollowsRedirects(host))
            throw new PipelineException("The HTTP client the host lent for the LLM follows redirects, so a redirect would take the key "
                + "(and, for 307 / 308, the part's facts) to another address before its reply could be refused; nothing was sent. "
                + "Lend a client whose handler has AllowAutoRedirect = false (HostServices.CreateHttpClient).");
        // The host's client may have a longer default; a model call gets the pipeline's timeout. (Only a fresh client
        // accepts a new timeout; the host hands out a new one per call.)
        try { host.Timeout = options.Timeout; } catch (InvalidOperationException) { }
        var http = new HttpClient(new RequestLimit(maxRequests) { InnerHandler = new ReplySizeLimit(host, MaxReplyBytes) }) { Timeout = options.Timeout };

        var secrets = services.Secrets;
        switch (options.Kind)
        {
            case LlmKinds.OpenAI:
            {
                var key = First(secrets, LlmSecretNames.ApiKey, LlmSecretNames.OpenAIApiKey)
                    ?? throw Missing(options.Kind, $"{LlmSecretNames.OpenAIApiKey} (or {LlmSecretNames.ApiKey})", "the API key");
                var endpoint = Secret(secrets, LlmSecretNames.Endpoint);
                return endpoint is null
                    ? new OpenAIChatCompletionService(options.Model, key, httpClient: http)
                    : new OpenAIChatCompletionService(options.Model, ParseEndpoint(endpoint, LlmSecretNames.Endpoint), key, httpClient: http);
            }
            case LlmKinds.OpenAICompatible:
            {
                var endpoint = Secret(secrets, LlmSecretNames.Endpoint)
                    ?? throw Missing(options.Kind, LlmSecretNames.Endpoint, "the server's base URL (e.g. http://localhost:11434/v1 for Ollama)");
                // Local servers usually need no key; the OpenAI client insists on a non-empty one.
                var key = Secret(secrets, LlmSecretNames.ApiKey) ?? "none";
                return new OpenAIChatCompletionService(options.Model, ParseEndpoint(endpoint, LlmSecretNames.Endpoint), key, httpClient: http);
            }
            case LlmKinds.AzureOpenAI:
            {
                var endpoint = First(secrets, LlmSecretNames.AzureEndpoint, LlmSecretNames.Endpoint)
                    ?? throw Missing(options.Kind, $"{LlmSecretNames.AzureEndpoint} (or {LlmSecretNames.Endpoint})", "the resource URL (https://<resource>.openai.azure.com)");
                var key = First(secrets, LlmSecretNames.AzureApiKey, LlmSecretNames.ApiKey)
                    ?? throw Missing(options.Kind, $"{LlmSecretNames.AzureApiKey} (or {LlmSecretNames.ApiKey})", "the API key");
                var name = ParseEndpoint(endpoint, LlmSecretNames.AzureEndpoint);
                return new AzureOpenAIChatCompletionService(options.Model, name.ToString(), key, httpClient: http);
            }
            default:
                throw new PipelineException($"'{options.Kind}' is not a kind of endpoint; use one of {string.Join(", ", LlmKinds.All)}");
        }
    }

    /// <summary>What may be logged about an endpoint: its kind and model, never its URL or key.</summary>
    public static string Describe(LlmEndpointOptions options) => $"{options.Kind} model '{options.Model}'";

    static string? First(ISecretStore secrets, string name, string fallback) => Secret(secrets, name) ?? Secret(secrets, fallback);

    /// <summary>
    /// A secret as it may go into a URL or a header: surrounding whitespace trimmed (a secrets file or a pasted key
    /// often ends with a newline), empty taken as unset, and any control character left inside refused, since a line
    /// break in a header value starts another header (or ends the headers). The message names the variable, never the value.
    /// </summary>
    static string? Secret(ISecretStore secrets, string name)
    {
        var value = secrets.Get(name)?.Trim();
        if (string.IsNullOrEmpty(value)) return null;
        if (value.Any(char.IsControl))
            throw new PipelineException($"{name} holds a control character (a line break, tab or escape) inside its value; " +
                "set it to the value alone, on one line.");
        return value;
    }

    static PipelineException Missing(string kind, string variable, string what) =>
        new($"The {kind} endpoint needs {what}: set {variable} in the environment or in the user secrets file " +
            "($PF_SECRETS_FILE or ~/.config/pipelineframework/secrets.json). It is never read from the pipeline JSON.");

    static Uri ParseEndpoint(string value, string variable) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            // The value itself is not echoed: a misplaced key could be in it.
            : throw new PipelineException($"{variable} is not an http(s) URL; set it to the endpoint's base URL.");
}
