using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PipelineFramework.Tests.Support;

/// <summary>
/// A real headless Chromium driven over the DevTools protocol (one loopback WebSocket, flattened sessions), so tests
/// can open a report as a user's browser does: load it, ask the page what it shows, take screenshots. A few dozen lines
/// instead of Playwright, whose package is 214 MB and whose browser download cannot run here.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    static readonly string[] Candidates = ["chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The browser to use: $PF_CHROMIUM, else the first of the usual names on PATH; null when none is installed.</summary>
    public static string? Executable { get; } = FindExecutable();

    static string? FindExecutable()
    {
        var configured = Environment.GetEnvironmentVariable("PF_CHROMIUM");
        if (!string.IsNullOrEmpty(configured)) return File.Exists(configured) ? configured : null;
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return Candidates.SelectMany(name => path.Select(dir => Path.Combine(dir, name))).FirstOrDefault(File.Exists);
    }

    readonly Process _process;
    readonly string _profile;
    readonly ClientWebSocket _socket = new();
    readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> _pending = new();
    readonly ConcurrentQueue<JsonNode> _events = new();
    readonly CancellationTokenSource _stop = new();
    readonly SemaphoreSlim _sendLock = new(1, 1);
    Task _receiveLoop = Task.CompletedTask;
    int _nextId;
    string _session = "";

    /// <summary>Every event the page sent (method + params), oldest first.</summary>
    public IReadOnlyCollection<JsonNode> Events => _events;

    HeadlessChromium(Process process, string profile) { _process = process; _profile = profile; }

    /// <summary>Starts the browser with one blank page of the given viewport size.</summary>
    public static async Task<HeadlessChromium> StartAsync(int width = 1400, int height = 1000)
    {
        var executable = Executable ?? throw new InvalidOperationException("No headless Chromium found: " + ChromiumFactAttribute.Requirement);
        var profile = TestData.TempFolder("chromium-profile");
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
            ArgumentList =
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--mute-audio",
                "--remote-debugging-port=0", "--user-data-dir=" + profile, $"--window-size={width},{height}", "about:blank",
            },
        };
        var process = Process.Start(start)!;
        var browser = new HeadlessChromium(process, profile);
        try
        {
            var endpoint = await ReadDevToolsEndpoint(process);
            await browser._socket.ConnectAsync(new Uri(endpoint), CancellationToken.None);
            browser._receiveLoop = Task.Run(browser.ReceiveLoop);
            var target = await browser.Send("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, session: null);
            var attached = await browser.Send("Target.attachToTarget",
                new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true }, session: null);
            browser._session = attached["sessionId"]!.GetValue<string>();
            await browser.Send("Emulation.setDeviceMetricsOverride",
                new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
            foreach (var domain in new[] { "Page", "Network", "Runtime", "Log" }) await browser.Send(domain + ".enable");
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    static async Task<string> ReadDevToolsEndpoint(Process process)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var seen = new StringBuilder();
        while (await process.StandardError.ReadLineAsync(timeout.Token) is { } line)
        {
            seen.AppendLine(line);
            const string marker = "DevTools listening on ";
            int at = line.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) return line[(at + marker.Length)..].Trim();
        }
        throw new InvalidOperationException($"Chromium exited before opening its DevTools port:\n{seen}");
    }

    /// <summary>Opens the URL and waits for its load event (every image decoded and laid out).</summary>
    public async Task NavigateAsync(string url)
    {
        int before = _events.Count;
        var result = await Send("Page.navigate", new JsonObject { ["url"] = url });
        if (result["errorText"] is { } error) throw new InvalidOperationException($"Chromium could not open {url}: {error}");
        var deadline = DateTime.UtcNow + Timeout;
        while (!_events.Skip(before).Any(e => (string?)e["method"] == "Page.loadEventFired"))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{url} did not finish loading in {Timeout.TotalSeconds} s");
            await Task.Delay(20);
        }
    }

    /// <summary>Runs a JavaScript expression in the page; its JSON value.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var result = await Send("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result["exceptionDetails"] is { } exception) throw new InvalidOperationException($"Script failed in the page: {exception.ToJsonString()}");
        return result["result"]!["value"];
    }

    /// <summary>A PNG of the whole page (beyond the viewport), or of a region in CSS pixels.</summary>
    public async Task<byte[]> ScreenshotAsync((double X, double Y, double Width, double Height)? region = null)
    {
        if (region is null)
        {
            var metrics = await Send("Page.getLayoutMetrics");
            var size = metrics["cssContentSize"]!;
            region = (0, 0, size["width"]!.GetValue<double>(), size["height"]!.GetValue<double>());
        }
        var (x, y, w, h) = region.Value;
        var shot = await Send("Page.captureScreenshot", new JsonObject
        {
            ["format"] = "png", ["captureBeyondViewport"] = true,
            ["clip"] = new JsonObject { ["x"] = x, ["y"] = y, ["width"] = w, ["height"] = h, ["scale"] = 1 },
        });
        return Convert.FromBase64String(shot["data"]!.GetValue<string>());
    }

    Task<JsonNode> Send(string method, JsonObject? parameters = null) => Send(method, parameters, _session);

    async Task<JsonNode> Send(string method, JsonObject? parameters, string? session)
    {
        int id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (!string.IsNullOrEmpty(session)) message["sessionId"] = session;
        await _sendLock.WaitAsync();
        try { await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, _stop.Token); }
        finally { _sendLock.Release(); }
        var response = await reply.Task.WaitAsync(Timeout);
        if (response["error"] is { } error) throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}");
        return response["result"]!;
    }

    async Task ReceiveLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var part = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (part.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, part.Count);
                if (!part.EndOfMessage) continue;
                var node = JsonNode.Parse(message.GetBuffer().AsSpan(0, (int)message.Length))!;
                message.SetLength(0);
                if (node["id"] is { } id && _pending.TryRemove(id.GetValue<int>(), out var reply)) reply.SetResult(node);
                else if (node["method"] is not null) _events.Enqueue(node);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
        foreach (var reply in _pending.Values) reply.TrySetException(new InvalidOperationException("Chromium closed its DevTools connection"));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
                await Send("Browser.close", null, session: null).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or WebSocketException or OperationCanceledException) { }
        _stop.Cancel();
        try { await _receiveLoop.WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
        if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
        _process.Dispose();
        _socket.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A fact that needs a headless Chromium; skipped with the install command where there is none.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Requirement =
        "install one with `apt-get install chromium-headless-shell` (.ci/install-chromium.sh does it) or point PF_CHROMIUM at a Chromium/Chrome binary";

    public ChromiumFactAttribute(bool needsSharedData = false)
    {
        var configured = Environment.GetEnvironmentVariable("PF_CHROMIUM");
        if (HeadlessChromium.Executable is null)
            Skip = string.IsNullOrEmpty(configured)
                ? "needs a headless Chromium and none is on PATH; " + Requirement
                : $"needs a headless Chromium, and PF_CHROMIUM={configured} does not exist; " + Requirement;
        else if (needsSharedData && !Directory.Exists(TestData.SharedDatasets)) Skip = SharedDataFactAttribute.Reason;
    }
}
