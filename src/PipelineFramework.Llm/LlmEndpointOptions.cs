using PipelineFramework.Abstractions;

namespace PipelineFramework.Llm;

/// <summary>
/// Which language model a component talks to, as a pipeline JSON may say it: the kind of endpoint and the model (or
/// Azure deployment) name, and a timeout. Never a URL or a key: those come from <see cref="HostServices.Secrets"/>
/// (see <see cref="LlmSecretNames"/>). Components that use a model derive their options record from this one, so the
/// JSON reads <c>{ "type": "explain.llm", "kind": "azure-openai", "model": "gpt-4o-mini" }</c>.
/// </summary>
public record LlmEndpointOptions : IValidatableOptions
{
    /// <summary><c>openai</c>, <c>azure-openai</c> or <c>openai-compatible</c> (Ollama, vLLM, llama.cpp, LM Studio).</summary>
    public string Kind { get; init; } = LlmKinds.OpenAI;

    /// <summary>The model name (OpenAI, compatible servers) or the deployment name (Azure OpenAI).</summary>
    public string Model { get; init; } = "gpt-4o-mini";

    /// <summary>Seconds one request may take before it is abandoned.</summary>
    [OptionRange(1, 600)]
    public double TimeoutSeconds { get; init; } = 60;

    [System.Text.Json.Serialization.JsonIgnore]
    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    public virtual IEnumerable<OptionError> Validate()
    {
        if (!LlmKinds.All.Contains(Kind))
        {
            var near = LlmKinds.Nearest(Kind);
            yield return new OptionError("kind", $"'{Kind}' is not a kind of endpoint; use one of {string.Join(", ", LlmKinds.All)}" +
                (near is null ? "" : $" (did you mean '{near}'?)"));
        }
        if (string.IsNullOrWhiteSpace(Model))
            yield return new OptionError("model", "name the model (or, for azure-openai, the deployment), e.g. \"gpt-4o-mini\" or \"llama3.1\"");
        else if (Model.Contains("://", StringComparison.Ordinal))
            yield return new OptionError("model", "is a URL; the pipeline names the model only. Put the endpoint URL in the environment " +
                $"({LlmSecretNames.Endpoint}, or {LlmSecretNames.AzureEndpoint} for azure-openai) or the user secrets file");
    }
}

/// <summary>The kinds of endpoint, as written in JSON.</summary>
public static class LlmKinds
{
    public const string OpenAI = "openai";
    public const string AzureOpenAI = "azure-openai";
    public const string OpenAICompatible = "openai-compatible";

    public static IReadOnlyList<string> All { get; } = [OpenAI, AzureOpenAI, OpenAICompatible];

    /// <summary>The kind closest to a misspelt one (edit distance at most 3, case ignored), or null.</summary>
    public static string? Nearest(string? kind)
    {
        if (string.IsNullOrEmpty(kind)) return null;
        return Spelling.Nearest(kind, All) is { Distance: <= 3 } near ? near.Name : null;
    }

}

/// <summary>
/// The names of the secrets (environment variables, or keys of the user secrets file) an endpoint is read from.
/// The PF_LLM_* names come first for every kind; the vendor's usual names are read when those are unset.
/// </summary>
public static class LlmSecretNames
{
    /// <summary>Base URL: required for openai-compatible (e.g. <c>http://localhost:11434/v1</c>), optional for openai.</summary>
    public const string Endpoint = "PF_LLM_ENDPOINT";
    public const string ApiKey = "PF_LLM_API_KEY";
    public const string OpenAIApiKey = "OPENAI_API_KEY";
    public const string AzureEndpoint = "AZURE_OPENAI_ENDPOINT";
    public const string AzureApiKey = "AZURE_OPENAI_API_KEY";
}
