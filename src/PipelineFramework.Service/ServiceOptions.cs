using System.Net;

namespace PipelineFramework.Service;

/// <summary>
/// How the inspection service runs. Defaults suit one line computer on a 2-core machine; every limit is here, in one
/// place, so what a request may cost (bytes, pixels, queue places) is visible and changeable.
/// </summary>
public sealed record ServiceOptions
{
    /// <summary>Name of the environment variable (or user secret) holding the API key.</summary>
    public const string ApiKeyVariable = "PF_API_KEY";
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>Folder of <c>&lt;category&gt;.pfmodel</c> files, watched for new and changed files.</summary>
    public required string ModelsFolder { get; init; }
    /// <summary>Where the results database (<c>results.db</c>) and the reject images (<c>rejects/</c>) live.</summary>
    public required string DataFolder { get; init; }
    public IPAddress Address { get; init; } = IPAddress.Loopback;
    /// <summary>0 picks a free port (tests, the load test).</summary>
    public int Port { get; init; } = 5080;
    /// <summary>The key the HTTP API asks for from clients not on loopback; null = no key configured.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Asks loopback clients for the key too (tests use it to act as a remote client).</summary>
    public bool KeyRequiredOnLoopback { get; init; }

    /// <summary>Largest request body accepted (bytes); Kestrel refuses larger ones before reading them.</summary>
    public long MaxRequestBytes { get; init; } = 16 * 1024 * 1024;
    /// <summary>Largest image accepted, in pixels, checked from the header before decoding (decoding costs 16 bytes a pixel).</summary>
    public long MaxPixels { get; init; } = 25_000_000;
    /// <summary>Requests waiting to be scored; when full, new ones get 429 with Retry-After.</summary>
    public int QueueCapacity { get; init; } = 32;
    /// <summary>Most requests scored in one batch (one backbone call).</summary>
    public int MaxBatch { get; init; } = 8;
    /// <summary>
    /// Most declared pixels in one batch: a batch is decoded at once (about 16 bytes a pixel while decoding), so this
    /// bounds the decoding memory near 400 MB by default. An image alone is scored whatever its size (up to <see cref="MaxPixels"/>).
    /// </summary>
    public long MaxBatchPixels { get; init; } = 25_000_000;
    public int RetryAfterSeconds { get; init; } = 1;
    /// <summary>Reject images (and their overlays) kept on disk; the oldest beyond this are deleted, their results kept.</summary>
    public int RejectImagesKept { get; init; } = 1000;
    /// <summary>
    /// How long a write of results waits for a lock that another program holds on results.db before the answer goes out
    /// with stored: false. The scoring line waits this long per batch while the lock lasts, so it is kept short.
    /// </summary>
    public TimeSpan StoreBusyTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// How often every page of results.db is checked for damage (<c>PRAGMA quick_check</c>, beside the serving) after
    /// the check at start: damage in a page no read or write touches is found then, not at the next restart.
    /// </summary>
    public TimeSpan StoreCheckInterval { get; init; } = TimeSpan.FromDays(1);
    /// <summary>How often the models folder is checked (a file watcher also wakes the check at once).</summary>
    public TimeSpan ModelCheckInterval { get; init; } = TimeSpan.FromSeconds(2);

    public bool IsLoopback => IPAddress.IsLoopback(Address);

    /// <summary>Problems with the options, before anything starts; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!Directory.Exists(ModelsFolder))
            problems.Add($"The models folder '{ModelsFolder}' does not exist. Create it and put one <category>.pfmodel per category in it (from `pf fit`).");
        if (!IsLoopback && string.IsNullOrEmpty(ApiKey))
            problems.Add($"The service would listen on {Address}, beyond this machine, without an API key. Set {ApiKeyVariable} in the environment (or the user secrets file), or listen on 127.0.0.1.");
        if (Port is < 0 or > 65535) problems.Add($"Port {Port} is not a TCP port (0-65535).");
        if (MaxRequestBytes < 1024) problems.Add($"MaxRequestBytes {MaxRequestBytes} is below 1 KiB.");
        if (MaxPixels < 1) problems.Add("MaxPixels must be at least 1.");
        if (QueueCapacity < 1) problems.Add("QueueCapacity must be at least 1.");
        if (MaxBatch < 1) problems.Add("MaxBatch must be at least 1.");
        if (MaxBatchPixels < 1) problems.Add("MaxBatchPixels must be at least 1.");
        if (RejectImagesKept < 0) problems.Add("RejectImagesKept cannot be negative.");
        if (StoreBusyTimeout < TimeSpan.FromMilliseconds(1)) problems.Add("StoreBusyTimeout must be positive.");
        if (StoreCheckInterval < TimeSpan.FromMilliseconds(1) || StoreCheckInterval.TotalMilliseconds > int.MaxValue)
            problems.Add("StoreCheckInterval must be from 1 ms to 24 days.");
        return problems;
    }
}
