using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Explain;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Service;

/// <summary>
/// The inspection service: Kestrel on one address, the HTTP API (<c>/v1</c>), health, the OpenAPI document and the
/// web page, over a model registry, a batching queue and a results store. <c>pf serve</c>, the tests and the load test
/// all host it through this class, on a real loopback socket.
/// </summary>
public sealed class InspectionServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly CancellationTokenSource _stop = new();
    Task _watcher = Task.CompletedTask;
    FileSystemWatcher? _fileWatcher;
    readonly SemaphoreSlim _wake = new(0);

    public ServiceOptions Options { get; }
    public ModelRegistry Registry { get; }
    public ResultsStore Store { get; }
    internal InspectionQueue Queue { get; }
    public ILogger Log { get; }

    InspectionServer(WebApplication app, ServiceOptions options, ModelRegistry registry, ResultsStore store, InspectionQueue queue, ILogger log)
    {
        _app = app; Options = options; Registry = registry; Store = store; Queue = queue; Log = log;
    }

    /// <summary>The address clients use (the real port when <see cref="ServiceOptions.Port"/> is 0); set by <see cref="StartAsync"/>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>Checks the options, opens the store and loads the models folder; throws <see cref="PipelineException"/> on unusable options.</summary>
    public static InspectionServer Create(ServiceOptions options, IComponentCatalog catalog, HostServices services, Action<ILoggingBuilder>? logging = null)
    {
        if (options.Problems() is { Count: > 0 } problems) throw new PipelineException(string.Join(" ", problems));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(options.Address, options.Port);
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.AddServerHeader = false;
            // Kestrel refuses a header value with a non-ASCII character with an empty 400 before any endpoint runs; the
            // key header is read as UTF-8 instead, so a wrong key (whatever its characters) gets the 403 that says so.
            k.RequestHeaderEncodingSelector = name => string.Equals(name, ServiceOptions.ApiKeyHeader, StringComparison.OrdinalIgnoreCase) ? Encoding.UTF8 : null;
        });
        // The body's size is limited by Kestrel (MaxRequestBodySize, 413); the form reader's own body limit is off so that its
        // errors are all about a malformed form (400), never a size.
        builder.Services.Configure<FormOptions>(f => { f.MultipartBodyLengthLimit = long.MaxValue; f.ValueCountLimit = 16; });
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        // Request-by-request framework logs would drown the model swaps and refusals an operator needs to see.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information)
            // The host logs a failed start or stop with its stack trace, then throws the same exception to StartAsync or
            // DisposeAsync, which say it in one line (a port in use, an address this machine does not have).
            .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        logging?.Invoke(builder.Logging);
        var app = builder.Build();

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PipelineFramework.Service");
        ResultsStore store;
        try { store = new ResultsStore(options.DataFolder, options.RejectImagesKept, options.StoreBusyTimeout, options.StoreCheckInterval, log); }
        catch (Exception e)
        {
            ((IDisposable)app).Dispose();
            if (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
                throw new PipelineException($"Cannot open the results database in '{options.DataFolder}': {e.Message.TrimEnd('.')}. Give a writable folder (--data).", e);
            throw; // another service uses the folder: its own message
        }
        var registry = new ModelRegistry(options.ModelsFolder, catalog, services, log);
        registry.Scan();
        var queue = new InspectionQueue(registry, store, options, log);
        var server = new InspectionServer(app, options, registry, store, queue, log);
        server.Map();
        return server;
    }

    public async Task StartAsync()
    {
        try { await _app.StartAsync(); }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            // An operator's situation, not a bug: another program (or another pf serve) holds the port.
            throw new PipelineException($"Port {Options.Port} on {Options.Address} is already in use by another program; stop it, or choose another port with --port.", e);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // An address this machine does not have, or a port below 1024 without the right to bind it.
            throw new PipelineException($"Cannot listen on {Options.Address} port {Options.Port}: {e.Message}. Give --host an address of this machine " +
                "(127.0.0.1, or 0.0.0.0 for every interface) and a --port above 1023 unless pf runs with the right to bind low ports.", e);
        }
        var address = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "[::1]", StringComparison.Ordinal) + "/");
        _fileWatcher = new FileSystemWatcher(Registry.Folder, "*" + ModelRegistry.Extension)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size, EnableRaisingEvents = true,
        };
        FileSystemEventHandler wake = (_, _) => _wake.Release();
        _fileWatcher.Created += wake; _fileWatcher.Changed += wake; _fileWatcher.Deleted += wake;
        _fileWatcher.Renamed += (_, _) => _wake.Release();
        _watcher = Task.Run(WatchModels);
        Log.LogInformation("Inspection service on {Address}: models from {Models}, results in {Store}", BaseAddress, Registry.Folder, Store.DatabasePath);
    }

    /// <summary>Runs until the token is cancelled (Ctrl+C in <c>pf serve</c>), then stops cleanly.</summary>
    public async Task RunAsync(CancellationToken cancellation)
    {
        await StartAsync();
        try { await Task.Delay(Timeout.Infinite, cancellation); }
        catch (OperationCanceledException) { }
    }

    /// <summary>Checks the folder now (a watcher event or the periodic check does it otherwise).</summary>
    public void CheckModelsNow() => Registry.Scan();

    async Task WatchModels()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { await _wake.WaitAsync(Options.ModelCheckInterval, _stop.Token); }
            catch (OperationCanceledException) { return; }
            // A burst of events (a copy writes many times) is one check; a half-written file fails now and loads when it changes again.
            while (_wake.CurrentCount > 0) _wake.Wait(0);
            try { Registry.Scan(); }
            catch (Exception e) { Log.LogError(e, "Checking the models folder failed; the loaded models keep serving"); }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _fileWatcher?.Dispose();
        await _watcher;
        // Stop taking requests, then finish (score and store) those already accepted.
        await _app.StopAsync();
        await Queue.DisposeAsync();
        await _app.DisposeAsync();
        Registry.Dispose();
        Store.Dispose();
        _stop.Dispose();
    }

    // ------------------------------------------------------------------------------------------ endpoints

    void Map()
    {
        var app = _app;
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapOpenApi("/openapi/v1.json");

        app.Use(SecurityHeaders);
        app.Use(StoreUnreadable);

        MapRead("/health/live", () => Results.Json(new { status = "alive" })).WithSummary("Liveness: the process answers.");
        MapRead("/health/ready", Ready).WithSummary("Readiness: the results store answers, its last write succeeded, and at least one model is served.");
        MapRead("/v1/access", Access).WithSummary("Whether this client may use the write endpoints (inspect, explain).");
        MapRead("/v1/models", Models).WithSummary("Served models per category, and model files that were refused.");
        MapRead("/v1/models/{category}", Model).WithSummary("One category's model: its manifest (pipeline, threshold, training).");
        MapRead("/v1/models/{category}/report", Report).WithSummary("The evaluation report kept beside the model file (<category>.report.html).");
        MapRead("/v1/inspections", Recent).WithSummary("Recent inspections, newest first; filter by category and verdict (anomaly|ok).")
            .AddOpenApiOperationTransformer(QueryParameters(("category", "only this category"), ("verdict", "anomaly, ok or all (any case)"), ("limit", "1 to 500, default 50")));
        MapRead("/v1/inspections/{id}", Inspection).WithSummary("One inspection with its explanations.");
        MapRead("/v1/inspections/{id}/image", (string id) => RejectFile(id, overlay: false)).WithSummary("A reject's image as sent.");
        MapRead("/v1/inspections/{id}/overlay.png", (string id) => RejectFile(id, overlay: true)).WithSummary("A reject's heat-map overlay.");
        app.MapPost("/v1/inspect/{category}", Inspect)
            .AddOpenApiOperationTransformer(QueryParameters(("heatmap", "true adds the heat map as PNG; false (default)")))
            // No Accepts metadata: it would make routing refuse bodies by their Content-Type (415 before our own checks),
            // and a line camera's client rarely sets one; the bytes themselves are checked instead.
            .WithSummary("Scores one image (PNG/JPEG/BMP as the raw body, or a file part of a multipart form): verdict, score, threshold, regions, rules, model, timings. ?heatmap=true adds the heat map as PNG.")
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // The body is read by hand (see above), so the document is told what it takes.
                var binary = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String, Format = "binary" };
                var content = new[] { "image/png", "image/jpeg", "image/bmp", "application/octet-stream" }
                    .ToDictionary(t => t, _ => new Microsoft.OpenApi.OpenApiMediaType { Schema = binary });
                content["multipart/form-data"] = new Microsoft.OpenApi.OpenApiMediaType
                {
                    Schema = new Microsoft.OpenApi.OpenApiSchema
                    {
                        Type = Microsoft.OpenApi.JsonSchemaType.Object,
                        Properties = new Dictionary<string, Microsoft.OpenApi.IOpenApiSchema> { ["image"] = binary },
                    },
                };
                operation.RequestBody = new Microsoft.OpenApi.OpenApiRequestBody { Required = true, Content = content, Description = "The encoded image." };
                return Task.CompletedTask;
            });
        app.MapPost("/v1/explain/{inspectionId}", Explain).WithSummary("Explains an inspection's verdict; optional JSON body {\"question\": \"...\"}.");

        foreach (var (path, type) in new[] { ("/", "text/html; charset=utf-8"), ("/app.js", "text/javascript; charset=utf-8"), ("/app.css", "text/css; charset=utf-8") })
        {
            var bytes = PageFile(path == "/" ? "index.html" : path[1..]);
            MapRead(path, () => Results.Bytes(bytes, type)).ExcludeFromDescription();
        }

        // HEAD wherever GET is allowed (probes and load balancers use it); Kestrel sends the headers without the body.
        // The HEAD route stays out of the OpenAPI document, which would otherwise list every operation twice.
        RouteHandlerBuilder MapRead(string pattern, Delegate handler)
        {
            app.MapMethods(pattern, [HttpMethods.Head], handler).ExcludeFromDescription();
            return app.MapGet(pattern, handler);
        }
    }

    /// <summary>Documents query parameters that an endpoint reads itself (see <see cref="QueryValue"/>).</summary>
    static Func<Microsoft.OpenApi.OpenApiOperation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext, CancellationToken, Task> QueryParameters(
        params (string Name, string Description)[] parameters) => (operation, _, _) =>
    {
        operation.Parameters ??= [];
        foreach (var (name, description) in parameters)
            operation.Parameters.Add(new Microsoft.OpenApi.OpenApiParameter
            {
                Name = name, In = Microsoft.OpenApi.ParameterLocation.Query, Description = description,
                Schema = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String },
            });
        return Task.CompletedTask;
    };

    /// <summary>
    /// Every answer: no content sniffing. The page: a policy that allows only this service's own scripts, styles and
    /// images (the page needs nothing else; the evaluation report is framed from here only), and no framing by others.
    /// </summary>
    static Task SecurityHeaders(HttpContext http, Func<Task> next)
    {
        var headers = http.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = http.Request.Path.StartsWithSegments("/v1/models") && http.Request.Path.Value!.EndsWith("/report", StringComparison.Ordinal)
            // The report is a file someone put beside the model, served from this origin: sandboxed (an origin of its
            // own, no script), a script in it could otherwise call this API as the operator's browser and read the
            // page's API key. pf evaluate's report needs nothing more than its own policy allows; the page may frame it.
            ? "sandbox; " + ReportHtml.ContentSecurityPolicy + "; frame-ancestors 'self'"
            : "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; " +
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        return next();
    }

    static byte[] PageFile(string name)
    {
        using var stream = typeof(InspectionServer).Assembly.GetManifestResourceStream("wwwroot/" + name)
            ?? throw new InvalidOperationException($"The page file {name} is not embedded in the service assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    static IResult Problem(int status, string title, string detail, params (string Key, object? Value)[] extensions) =>
        Results.Problem(detail: detail, statusCode: status, title: title, type: ProblemType(status),
            extensions: extensions.Length == 0 ? null : extensions.ToDictionary(e => e.Key, e => e.Value));

    /// <summary>ASP.NET Core fills in RFC 9110 links for most statuses but not for 429 (RFC 6585); every problem gets one.</summary>
    static string? ProblemType(int status) => status == StatusCodes.Status429TooManyRequests ? "https://www.rfc-editor.org/rfc/rfc6585#section-4" : null;

    /// <summary>
    /// A read of the results database that fails (a damaged file, a lock held too long, a file that cannot be opened)
    /// answers 503 with what to do, not a bare 500; the SQLite message is logged once until it changes, not per request.
    /// Inspections go on being scored meanwhile (their answers say stored: false).
    /// </summary>
    async Task StoreUnreadable(HttpContext http, Func<Task> next)
    {
        try { await next(); }
        catch (Microsoft.Data.Sqlite.SqliteException e) when (!http.Response.HasStarted)
        {
            if (Interlocked.Exchange(ref _lastReadError, e.Message) != e.Message)
                Log.LogError("Reading the results database {Path} failed: {Message}", Store.DatabasePath, e.Message);
            http.Response.Headers.RetryAfter = "10";
            await Problem(503, "Results database unavailable", Capitalised(Store.Advice(e)) + ". New inspections are still scored; their answers say stored: false while it lasts.")
                .ExecuteAsync(http);
        }
    }

    string? _lastReadError;

    static string Capitalised(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    // ---------------------------------------------------------------- access

    /// <summary>Null when the request may write; otherwise the 401/403 problem to answer.</summary>
    IResult? Refusal(HttpContext http)
    {
        if (!KeyRequired(http)) return null;
        if (Options.ApiKey is null)
            return Problem(403, "Writing is switched off", $"This service has no API key configured ({ServiceOptions.ApiKeyVariable}), so only loopback clients may inspect or explain.");
        var sent = http.Request.Headers[ServiceOptions.ApiKeyHeader].ToString();
        if (sent.Length == 0)
            return Problem(401, "API key missing", $"Send the API key in the {ServiceOptions.ApiKeyHeader} header; the operator sets it in {ServiceOptions.ApiKeyVariable}. Reading (GET) needs no key.");
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(Options.ApiKey)))
            return Problem(403, "API key wrong", $"The {ServiceOptions.ApiKeyHeader} header does not match this service's key. Ask the operator for the current key.");
        return null;
    }

    bool KeyRequired(HttpContext http)
    {
        var remote = http.Connection.RemoteIpAddress;
        bool loopback = remote is not null && IPAddress.IsLoopback(remote);
        return !loopback || Options.KeyRequiredOnLoopback;
    }

    IResult Access(HttpContext http) => Results.Json(new
    {
        keyRequired = KeyRequired(http),
        canWrite = Refusal(http) is null,
        header = ServiceOptions.ApiKeyHeader,
    });

    // ---------------------------------------------------------------- health

    IResult Ready()
    {
        var problems = new List<string>();
        if (Store.Problem() is { } store) problems.Add(store);
        if (Registry.Categories.Count == 0) problems.Add($"no model is served: put <category>{ModelRegistry.Extension} files into the models folder");
        return problems.Count == 0
            ? Results.Json(new { status = "ready", categories = Registry.Categories, queued = Queue.Waiting })
            : Problem(503, "Not ready", string.Join("; ", problems) + ".");
    }

    // ---------------------------------------------------------------- models

    IResult Models() => Results.Json(new
    {
        models = Registry.Categories.Select(c => Registry.Current(c)).OfType<ServedModel>().Select(ModelSummary).ToList(),
        refused = Registry.Problems.Select(p => new { category = p.Key, file = p.Value.File, message = p.Value.Message, utc = p.Value.Utc }).ToList(),
    });

    object ModelSummary(ServedModel s) => new
    {
        category = s.Category,
        modelId = s.Model.ModelId,
        version = s.Version,
        file = Path.GetFileName(s.File.Path),
        loadedUtc = s.LoadedUtc,
        createdUtc = s.Model.Manifest.CreatedUtc,
        pipeline = s.Model.Spec.Name,
        threshold = s.Model.Threshold,
        thresholdPolicy = s.Model.Manifest.Threshold.Policy,
        trainImages = s.Model.Manifest.Training.FitImages + s.Model.Manifest.Training.HoldoutImages,
        report = File.Exists(ReportPath(s.Category)) ? $"/v1/models/{s.Category}/report" : null,
        problem = Registry.Problems.GetValueOrDefault(s.Category)?.Message,
    };

    IResult Model(string category)
    {
        if (Registry.Acquire(category) is not { } lease) return UnknownCategory(category);
        using (lease)
        {
            var m = lease.Served.Model;
            return Results.Json(new
            {
                summary = ModelSummary(lease.Served),
                manifest = JsonSerializer.SerializeToNode(m.Manifest, ModelJson),
            });
        }
    }

    static readonly JsonSerializerOptions ModelJson = new(JsonSerializerDefaults.Web);

    string ReportPath(string category) => Path.Combine(Registry.Folder, category + ".report.html");

    IResult Report(string category)
    {
        if (Registry.Current(category) is null) return UnknownCategory(category);
        var path = ReportPath(category);
        return File.Exists(path)
            ? Results.File(path, "text/html; charset=utf-8")
            : Problem(404, "No evaluation report", $"No report is kept for '{category}'. Put the report.html of `pf evaluate` beside the model as {Path.GetFileName(path)}.");
    }

    IResult UnknownCategory(string category)
    {
        var known = Registry.Categories;
        var hint = Spelling.Nearest(category, known) is { } near && near.Distance <= Math.Max(2, category.Length / 3) ? $" Did you mean '{near.Name}'?" : "";
        return Problem(404, "Unknown category",
            $"No model is served for category '{category}'.{hint} Served: {(known.Count == 0 ? "none" : string.Join(", ", known))}. " +
            $"A category is served when the models folder holds a valid <category>{ModelRegistry.Extension} file.",
            ("categories", known));
    }


    // ---------------------------------------------------------------- inspections

    IResult Recent(HttpRequest request)
    {
        if (QueryValue(request, "category", "a category name", out var category) is { } badCategory) return badCategory;
        if (QueryValue(request, "verdict", "anomaly, ok or all", out var verdict) is { } badVerdict) return badVerdict;
        if (QueryValue(request, "limit", "a whole number from 1 to 500", out var limitText) is { } badLimit) return badLimit;
        // One comparison, case-insensitive for every spelling: ALL, Anomaly and ok alike.
        bool? anomalous;
        switch (verdict?.ToLowerInvariant())
        {
            case null or "" or "all": anomalous = null; break;
            case "anomaly" or "reject" or "ng": anomalous = true; break;
            case "ok" or "good" or "accept": anomalous = false; break;
            default: return Problem(400, "Unknown verdict filter", $"verdict='{verdict}' is not a filter; use anomaly, ok or all (any case).");
        }
        int limit = 50;
        if (limitText is not null && (!int.TryParse(limitText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 500))
            return Problem(400, "Limit out of range", $"limit={limitText} is not accepted; use a whole number from 1 to 500 (default 50).");
        return Results.Json(new { inspections = Store.Recent(string.IsNullOrEmpty(category) ? null : category, anomalous, limit).Select(InspectionJson).ToList() });
    }

    /// <summary>
    /// A query parameter given at most once (null when absent); a 400 naming it otherwise. Query values are read here,
    /// not bound by the framework, whose binding failures answer 400 without saying which parameter was wrong.
    /// </summary>
    static IResult? QueryValue(HttpRequest request, string name, string allowed, out string? value)
    {
        var values = request.Query[name];
        value = values.Count == 0 ? null : values[0];
        return values.Count > 1
            ? Problem(400, "Query parameter repeated", $"?{name} is given {values.Count} times; give it once: {allowed}.")
            : null;
    }

    static JsonObject InspectionJson(StoredInspection r)
    {
        var json = (JsonObject)JsonSerializer.SerializeToNode(r, ModelJson)!;
        json["verdict"] = r.IsAnomaly ? "ANOMALY" : "OK";
        json.Remove("imageFile"); json.Remove("heatFile");
        json["links"] = Links(r.Id, r.ImageFile is not null);
        return json;
    }

    static JsonObject Links(string id, bool hasImages)
    {
        var links = new JsonObject { ["self"] = $"/v1/inspections/{id}", ["explain"] = $"/v1/explain/{id}" };
        if (hasImages)
        {
            links["image"] = $"/v1/inspections/{id}/image";
            links["overlay"] = $"/v1/inspections/{id}/overlay.png";
        }
        return links;
    }

    IResult Inspection(string id)
    {
        if (Store.Find(id) is not { } record) return UnknownInspection(id);
        var json = InspectionJson(record);
        json["explanations"] = JsonSerializer.SerializeToNode(Store.Explanations(id), ModelJson);
        return Results.Json(json);
    }

    static IResult UnknownInspection(string id) =>
        Problem(404, "Unknown inspection", $"No inspection '{id}' is stored. Ids come from POST /v1/inspect/{{category}} (field 'id') or GET /v1/inspections.");

    IResult RejectFile(string id, bool overlay)
    {
        if (Store.Find(id) is not { } record) return UnknownInspection(id);
        if (record.ImageFile is null || record.HeatFile is null)
            return Problem(404, "No image kept",
                record.IsAnomaly ? $"The images of inspection '{id}' were removed by the retention limit ({Options.RejectImagesKept} rejects kept)." : $"Inspection '{id}' passed; images are kept for rejects only.");
        try
        {
            if (overlay) return Results.Bytes(Store.Overlay(record, () => Registry.Current(record.Category)?.Model.Preprocessing), "image/png");
            var type = Path.GetExtension(record.ImageFile).ToLowerInvariant() switch { ".png" => "image/png", ".jpg" => "image/jpeg", ".bmp" => "image/bmp", _ => "application/octet-stream" };
            // Opened here, not by the result: a file that retention (or a person) removes after the lookup is a 404
            // now, and once open, its removal no longer matters.
            return Results.Stream(File.OpenRead(Path.Combine(Store.RejectsFolder, record.ImageFile)), type);
        }
        catch (PipelineException e)
        {
            return Problem(404, "Overlay unavailable", $"The overlay of inspection '{id}' cannot be drawn: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The path stays in the log; the client learns what happened, not where the files are.
            Log.LogWarning("The files of reject {Id} cannot be read: {Message}", id, e.Message);
            return Problem(404, "Image no longer on disk",
                $"The {(overlay ? "overlay" : "image")} of inspection '{id}' is no longer on disk: the retention limit ({Options.RejectImagesKept} rejects kept) " +
                $"or a person removed it from the rejects folder. Its result is kept (GET /v1/inspections/{id}).");
        }
    }

    async Task<IResult> Inspect(HttpContext http, string category)
    {
        if (Refusal(http) is { } refused) return refused;
        if (QueryValue(http.Request, "heatmap", "heatmap=true or heatmap=false", out var heatmapText) is { } badHeatmap) return badHeatmap;
        bool heatmap = false;
        if (heatmapText is not null && !bool.TryParse(heatmapText, out heatmap))
            return Problem(400, "Bad heatmap parameter", $"heatmap={heatmapText} is not accepted; use heatmap=true (adds the heat map as PNG) or heatmap=false (the default).");
        if (Registry.Current(category) is null) return UnknownCategory(category);
        byte[] body;
        try
        {
            if (http.Request.ContentLength > Options.MaxRequestBytes) return TooLarge(http.Request.ContentLength.Value);
            body = await ReadImage(http.Request);
        }
        // The size limit is Kestrel's alone (the form reader's own body limit is off), so 413 means the body was too large
        // and every other failure of the form reader is a malformed form: 400.
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge) { return TooLarge(null); }
        catch (BadHttpRequestException e) { return Problem(400, "Unreadable request", e.Message); }
        catch (InvalidDataException e) { return UnreadableForm(e.Message.TrimEnd('.')); }
        catch (IOException) { return UnreadableForm("the body ended early, before the form's closing boundary"); }

        if (ImageHeader.Check(body, Options.MaxPixels, out var extension, out long pixels) is { } bad) return Problem(bad.Status, bad.Title, bad.Detail);
        var job = new InspectionJob(category, body, extension, pixels, heatmap);
        if (!Queue.TryEnqueue(job))
        {
            http.Response.Headers.RetryAfter = Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problem(429, "Busy", $"{Options.QueueCapacity} images are already waiting to be scored. Retry after {Options.RetryAfterSeconds} s.");
        }
        var outcome = await job.Done.Task;
        if (outcome.Failure is { } f) return Problem(f.Status, f.Title, f.Detail);
        var r = outcome.Record!;
        var stages = new JsonObject(r.Timings.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)Math.Round(t.Value, 3))));
        var json = new JsonObject
        {
            ["id"] = r.Id,
            ["category"] = r.Category,
            ["verdict"] = r.IsAnomaly ? "ANOMALY" : "OK",
            ["isAnomaly"] = r.IsAnomaly,
            ["score"] = r.Score,
            ["rawScore"] = r.RawScore,
            ["threshold"] = r.Threshold,
            ["inputWarning"] = r.InputWarning,
            ["regions"] = JsonSerializer.SerializeToNode(r.Regions, ModelJson),
            ["rules"] = JsonSerializer.SerializeToNode(r.Rules, ModelJson),
            ["model"] = new JsonObject { ["id"] = r.ModelId, ["version"] = r.ModelVersion },
            ["timings"] = new JsonObject
            {
                ["stagesMs"] = stages, ["queueMs"] = Math.Round(outcome.QueueMs, 3), ["batchMs"] = Math.Round(outcome.BatchMs, 3), ["storeMs"] = Math.Round(outcome.StoreMs, 3), ["batchSize"] = outcome.BatchSize,
            },
            ["stored"] = outcome.Stored,
            // A result that was not stored has nothing to link to: every link would answer 404.
            ["links"] = outcome.Stored ? Links(r.Id, r.ImageFile is not null) : null,
        };
        if (outcome.StoreError is not null) json["storeError"] = outcome.StoreError;
        if (heatmap && outcome.HeatMapPng is not null)
            json["heatMap"] = new JsonObject
            {
                ["png"] = Convert.ToBase64String(outcome.HeatMapPng), ["width"] = r.MapWidth, ["height"] = r.MapHeight,
                ["scale"] = "normalised score: 0 black, 0.5 (the threshold) mid grey, 1 white",
            };
        return Results.Json(json);
    }

    static IResult UnreadableForm(string reason) => Problem(400, "Unreadable form",
        $"The multipart form cannot be read: {reason}. Send a complete multipart/form-data body whose parts are separated by the boundary " +
        "named in Content-Type, or send the image itself as the body (with any other Content-Type).");

    IResult TooLarge(long? length) => Problem(413, "Request too large",
        $"The request body{(length is { } l ? $" ({l} bytes)" : "")} is over this service's limit of {Options.MaxRequestBytes} bytes. Send a smaller (downscaled or compressed) image.");

    /// <summary>The image bytes: the body itself, or the first file of a multipart form.</summary>
    async Task<byte[]> ReadImage(HttpRequest request)
    {
        // Only multipart is a form here: curl's --data-binary labels raw bytes application/x-www-form-urlencoded.
        if (request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
        {
            var form = await request.ReadFormAsync();
            var file = form.Files.GetFile("image") ?? form.Files.FirstOrDefault();
            if (file is null) return [];
            using var stream = file.OpenReadStream();
            using var copy = new MemoryStream((int)Math.Min(file.Length, Options.MaxRequestBytes));
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body);
        return body.ToArray();
    }

    // ---------------------------------------------------------------- explanations

    /// <summary>
    /// The question of an explain body (none for an empty body); a 400 problem for anything else. Read with
    /// <see cref="JsonDocument"/> and checked step by step: a client's body must never reach a throwing indexer
    /// (a repeated key) or a throwing string read (an escaped lone surrogate) and become a 500.
    /// </summary>
    static IResult? ReadQuestion(string text, out string? question)
    {
        question = null;
        if (string.IsNullOrWhiteSpace(text)) return null;
        const string expected = "Send {\"question\": \"...\"} or no body at all.";
        JsonDocument document;
        try { document = JsonDocument.Parse(text); }
        catch (JsonException e) { return Problem(400, "Body is not valid JSON", $"The body is not valid JSON{JsonReaderError.Where(e)} ({JsonReaderError.Reason(e)}). {expected}"); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                return Problem(400, "Body is not a JSON object", $"The body is not a JSON object. {expected}");
            bool seen = false;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!property.NameEquals("question")) continue;
                if (seen) return Problem(400, "Question given twice", $"The body has the key \"question\" more than once; which one is meant is unclear. {expected}");
                seen = true;
                if (property.Value.ValueKind == JsonValueKind.Null) continue;
                if (property.Value.ValueKind != JsonValueKind.String) return Problem(400, "Question is not text", "$.question must be a string (or left out).");
                try { question = property.Value.GetString(); }
                catch (InvalidOperationException)
                {
                    return Problem(400, "Question is not valid text",
                        "$.question contains an escape of half a UTF-16 surrogate pair (\\uD800-\\uDFFF without its partner), which is no character. Send the text as UTF-8, or escape both halves of the pair.");
                }
            }
        }
        return null;
    }

    async Task<IResult> Explain(HttpContext http, string inspectionId, CancellationToken cancellation)
    {
        if (Refusal(http) is { } refused) return refused;
        string text;
        using (var reader = new StreamReader(http.Request.Body, Encoding.UTF8)) text = await reader.ReadToEndAsync(cancellation);
        if (ReadQuestion(text, out var question) is { } malformed) return malformed;
        if (question is { Length: > ExplanationConversation.MaxQuestionLength }) return Problem(400, "Question too long", $"The question has {question.Length} characters; at most {ExplanationConversation.MaxQuestionLength}.");
        if (Store.Find(inspectionId) is not { } record) return UnknownInspection(inspectionId);
        if (Registry.Acquire(record.Category) is not { } lease)
            return Problem(409, "No model to explain with", $"Category '{record.Category}' has no model served now; its explainer comes from the model file. Put {record.Category}{ModelRegistry.Extension} back.");
        Explanation explanation;
        using (lease)
        {
            var facts = new InspectionFacts
            {
                Id = record.Id, Score = record.Score, RawScore = record.RawScore, Threshold = record.Threshold, IsAnomaly = record.IsAnomaly,
                Regions = record.Regions, Rules = record.Rules, MapWidth = record.MapWidth, MapHeight = record.MapHeight,
            };
            // A question is answered after the part's explanation, in one conversation with the same tools and guard rails.
            var conversation = lease.Served.Model.Converse(facts);
            try { explanation = question is null ? await conversation.ExplainAsync(cancellation) : await conversation.AskAsync(question, cancellation); }
            catch (Exception e) when (e is PipelineException or HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
            {
                return Problem(502, "Explainer failed", $"The explainer could not answer: {e.Message}");
            }
        }
        var stored = new StoredExplanation(record.Id, DateTime.UtcNow, question, explanation.Verdict, explanation.Summary, explanation.Reasons,
            explanation.Source, explanation.Notes);
        string? storeError = null;
        try { Store.SaveExplanation(stored); }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
        {
            storeError = $"The explanation was not stored: {Store.Advice(e)}.";
            Log.LogError("Storing an explanation of {Id} failed: {Message}", record.Id, e.Message);
        }
        var json = (JsonObject)JsonSerializer.SerializeToNode(stored, ModelJson)!;
        json["stored"] = storeError is null;
        if (storeError is not null) json["storeError"] = storeError;
        return Results.Json(json);
    }
}
