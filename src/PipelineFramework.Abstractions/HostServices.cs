namespace PipelineFramework.Abstractions;

/// <summary>Where dense work runs. The host chooses it at run time (<c>--device</c>); it is never part of a pipeline or a model file.</summary>
public enum ComputeDevice
{
    Cpu,
    Cuda,
}

/// <summary>
/// Secrets and endpoints (API keys, URLs) from the environment or the user's secrets file. Components ask for them by
/// name at run time, so nothing secret is ever in a pipeline JSON, an options record or a model file.
/// </summary>
public interface ISecretStore
{
    /// <summary>The value, or null when it is not set anywhere.</summary>
    string? Get(string name);
}

/// <summary>A line for the host's log (never the terminal's result stream).</summary>
public interface IComponentLog
{
    void Info(string message);
    void Warning(string message);
}

/// <summary>
/// What the host lends components besides their options: the device, secrets, HTTP clients and a log. Reaches them
/// through <see cref="FitContext.Services"/> when they are fitted or loaded, and when an explainer runs.
/// </summary>
public sealed record HostServices
{
    /// <summary>Nothing lent: CPU, no secrets, a plain HttpClient (no redirects followed), a log that drops everything.</summary>
    public static HostServices None { get; } = new();

    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;
    public ISecretStore Secrets { get; init; } = NoSecrets.Instance;
    /// <summary>
    /// Creates an HTTP client for the named use (the host may set timeouts, proxies and handlers). The default shares
    /// one pooled handler (no socket exhaustion) that follows no redirect: a client that follows one sends the request's
    /// headers (an <c>api-key</c> among them; .NET drops only <c>Authorization</c>) and, for 307 / 308, its body to
    /// whatever address the server names. Each client gets its own timeout (100 s unless the caller sets one).
    /// </summary>
    public Func<string, HttpClient> CreateHttpClient { get; init; } = _ => new HttpClient(NoRedirects.Value, disposeHandler: false);
    public IComponentLog Log { get; init; } = SilentLog.Instance;

    static readonly Lazy<HttpMessageHandler> NoRedirects = new(() =>
        new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });

    sealed class NoSecrets : ISecretStore
    {
        public static readonly NoSecrets Instance = new();
        public string? Get(string name) => null;
    }

    sealed class SilentLog : IComponentLog
    {
        public static readonly SilentLog Instance = new();
        public void Info(string message) { }
        public void Warning(string message) { }
    }
}
