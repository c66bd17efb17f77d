using System.Text.Json;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Hosting;

/// <summary>
/// Secrets from the process environment first, then from the user's secrets file (a flat JSON object of names to
/// values, outside any repository): <c>$PF_SECRETS_FILE</c>, or <c>~/.config/pipelineframework/secrets.json</c>.
/// Never from a pipeline JSON or a model file.
/// </summary>
public sealed class EnvironmentSecretStore : ISecretStore
{
    public const string SecretsFileVariable = "PF_SECRETS_FILE";

    readonly Lazy<IReadOnlyDictionary<string, string>> _file;

    public EnvironmentSecretStore(string? secretsFile = null)
    {
        SecretsFile = secretsFile ?? Environment.GetEnvironmentVariable(SecretsFileVariable)
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "pipelineframework", "secrets.json");
        _file = new(ReadFile);
    }

    public string SecretsFile { get; }

    public string? Get(string name)
    {
        var value = Environment.GetEnvironmentVariable(name);
        if (!string.IsNullOrEmpty(value)) return value;
        return _file.Value.TryGetValue(name, out var fromFile) && fromFile.Length > 0 ? fromFile : null;
    }

    IReadOnlyDictionary<string, string> ReadFile()
    {
        if (!File.Exists(SecretsFile)) return new Dictionary<string, string>();
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(SecretsFile)) ?? new Dictionary<string, string>();
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            // The message names the file, never its content: it holds secrets.
            throw new PipelineException($"The secrets file {SecretsFile} cannot be read as a JSON object of names to strings ({e.GetType().Name}); fix or remove it.");
        }
    }
}

/// <summary>The host services a front end (CLI, service, app) lends components: what the environment provides.</summary>
public static class HostEnvironment
{
    public static HostServices CreateServices(ComputeDevice device = ComputeDevice.Cpu, IComponentLog? log = null) => new()
    {
        Device = device,
        Secrets = new EnvironmentSecretStore(),
        // HTTP clients: the default one (a pooled handler for the process that follows no redirect; see HostServices).
        Log = log ?? HostServices.None.Log,
    };
}
