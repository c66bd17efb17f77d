using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace PipelineFramework.Tests.Support;

/// <summary>One request the fake server received.</summary>
public sealed record FakeRequest(string Path, string? ApiKeyHeader, string? Authorization, JsonObject Body)
{
    /// <summary>Every request header, by name (case-insensitive): to see what reached a server a redirect pointed to.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>The request's method (a 301 turns the SDK's POST into a GET).</summary>
    public string Method { get; init; } = "POST";

    /// <summary>The chat messages sent, as one string (roles, contents, tool results) for assertions.</summary>
    public string MessagesText => string.Join("\n", (Body["messages"]?.AsArray() ?? []).Select(m =>
        $"{m?["role"]}: {(m?["content"] is JsonValue v ? v.GetValue<string>() : m?["content"]?.ToJsonString())}"));
}

/// <summary>What the fake server sends back: a status, a body and how long it waits first.</summary>
public sealed record FakeReply(int Status, string Body, TimeSpan Delay = default)
{
    /// <summary>Send this many bytes of the body (with the whole body's Content-Length), then drop the connection.</summary>
    public int? CutAfterBytes { get; init; }

    /// <summary>Send the body chunked, with no Content-Length (so only reading it tells its size).</summary>
    public bool Chunked { get; init; }

    public string ContentType { get; init; } = "application/json";

    /// <summary>Extra response headers (Retry-After, Location).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Send the body one byte at a time, this long apart (a server that drips its reply).</summary>
    public TimeSpan? DripEvery { get; init; }

    /// <summary>An assistant message asking for tool calls with the given names and raw argument strings.</summary>
    public static FakeReply ToolCallsWithArguments(params (string Function, string Arguments)[] calls) => new(200, Completion(new JsonObject
    {
        ["role"] = "assistant",
        ["content"] = null,
        ["tool_calls"] = new JsonArray(calls.Select((c, i) => (JsonNode)new JsonObject
        {
            ["id"] = $"call_{i + 1}",
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = c.Function, ["arguments"] = c.Arguments },
        }).ToArray()),
    }, "tool_calls"));

    /// <summary>An assistant message asking for tool calls (names as SK sends them: <c>plugin-function</c>).</summary>
    public static FakeReply ToolCalls(params string[] functions) => ToolCallsWithArguments(functions.Select(f => (f, "{}")).ToArray());

    /// <summary>An assistant message with text content.</summary>
    public static FakeReply Text(string content) => new(200, Completion(new JsonObject { ["role"] = "assistant", ["content"] = content }, "stop"));

    static string Completion(JsonObject message, string finish) => new JsonObject
    {
        ["id"] = "chatcmpl-fake",
        ["object"] = "chat.completion",
        ["created"] = 1700000000,
        ["model"] = "fake-model",
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = 10, ["completion_tokens"] = 10, ["total_tokens"] = 20 },
    }.ToJsonString();
}

/// <summary>
/// A local OpenAI-compatible chat completions server on loopback (real HTTP): answers each request with the reply the
/// script gives for it (by its index and content) and records what it received. Serves both the OpenAI path
/// (<c>/v1/chat/completions</c>) and the Azure one (<c>/openai/deployments/NAME/chat/completions</c>).
/// </summary>
public sealed class FakeOpenAIServer : IDisposable
{
    readonly HttpListener _listener;
    readonly Func<int, FakeRequest, FakeReply> _script;
    readonly Task _loop;
    // Ends the waits of replies still pending when the test is over (a reply delayed past the client's timeout).
    readonly CancellationTokenSource _closed = new();

    public FakeOpenAIServer(Func<int, FakeRequest, FakeReply> script)
    {
        _script = script;
        (_listener, Port) = StartOnFreePort();
        _loop = Task.Run(Serve);
    }

    /// <summary>
    /// HttpListener cannot listen on port 0, so a port is probed free and then taken; a test running beside this one
    /// can take the same port in between, so a few ports are tried.
    /// </summary>
    static (HttpListener Listener, int Port) StartOnFreePort()
    {
        for (int attempt = 1; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Abort();
            }
        }
    }

    /// <summary>Replies in order; the last one repeats.</summary>
    public FakeOpenAIServer(params FakeReply[] replies) : this((i, _) => replies[Math.Min(i, replies.Length - 1)]) { }

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";
    public ConcurrentQueue<FakeRequest> Requests { get; } = new();
    public IReadOnlyList<FakeRequest> Received => Requests.ToList();

    async Task Serve()
    {
        int index = 0;
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                var text = await reader.ReadToEndAsync();
                JsonObject body;
                try { body = JsonNode.Parse(text) as JsonObject ?? new JsonObject(); }
                catch (System.Text.Json.JsonException) { body = new JsonObject(); }   // a GET after a redirect has no body
                var headers = context.Request.Headers.AllKeys.Where(k => k is not null)
                    .ToDictionary(k => k!, k => context.Request.Headers[k] ?? "", StringComparer.OrdinalIgnoreCase);
                var request = new FakeRequest(context.Request.Url!.PathAndQuery, context.Request.Headers["api-key"],
                    context.Request.Headers["Authorization"], body) { Headers = headers, Method = context.Request.HttpMethod };
                Requests.Enqueue(request);
                var reply = _script(Interlocked.Increment(ref index) - 1, request);
                try
                {
                    if (reply.Delay > TimeSpan.Zero) await Task.Delay(reply.Delay, _closed.Token);
                    var bytes = Encoding.UTF8.GetBytes(reply.Body);
                    context.Response.StatusCode = reply.Status;
                    context.Response.ContentType = reply.ContentType;
                    foreach (var (name, value) in reply.Headers) context.Response.Headers[name] = value;
                    if (reply.Chunked) context.Response.SendChunked = true;
                    else context.Response.ContentLength64 = bytes.Length;
                    if (reply.CutAfterBytes is { } cut)
                    {
                        await context.Response.OutputStream.WriteAsync(bytes.AsMemory(0, cut));
                        await context.Response.OutputStream.FlushAsync();
                        context.Response.Abort();
                        return;
                    }
                    if (reply.DripEvery is { } every)
                    {
                        for (int sent = 0; sent < bytes.Length; sent++)
                        {
                            await context.Response.OutputStream.WriteAsync(bytes.AsMemory(sent, 1));
                            await context.Response.OutputStream.FlushAsync();
                            await Task.Delay(every, _closed.Token);
                        }
                        context.Response.Close();
                        return;
                    }
                    for (int sent = 0; sent < bytes.Length; sent += 1 << 16)
                        await context.Response.OutputStream.WriteAsync(bytes.AsMemory(sent, Math.Min(1 << 16, bytes.Length - sent)));
                    context.Response.Close();
                }
                catch (Exception) { /* the client gave up (timeout test) */ }
            });
        }
    }

    public void Dispose()
    {
        // Close alone: Stop then Close unregisters the prefix twice, and the second time the managed listener binds the
        // port again to find it (HttpEndPointManager.GetEPListener), which fails with "Address already in use" when a
        // test beside this one has taken the port meanwhile (seen once in CI).
        _closed.Cancel();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
    }
}

/// <summary>Secrets from a dictionary: what a test sets, nothing from the machine's environment.</summary>
public sealed class DictionarySecrets(IReadOnlyDictionary<string, string> values) : PipelineFramework.Abstractions.ISecretStore
{
    public string? Get(string name) => values.TryGetValue(name, out var v) ? v : null;
}

/// <summary>A log that keeps its lines (to check what reaches a log).</summary>
public sealed class RecordingLog : PipelineFramework.Abstractions.IComponentLog
{
    public ConcurrentQueue<string> Lines { get; } = new();
    public void Info(string message) => Lines.Enqueue("info: " + message);
    public void Warning(string message) => Lines.Enqueue("warning: " + message);
}
