using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Hosting;
using PipelineFramework.Service;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Service;

/// <summary>
/// Two hazelnut models fitted once per test run from one prepared set (the backbone runs once): A and B differ only in
/// the threshold margin, so they give the same raw scores but different thresholds, normalisations and model ids;
/// a response that mixed them would show a threshold or score of the other.
/// </summary>
public sealed class ServiceModels : IDisposable
{
    public ServiceModels()
    {
        Folder = TestData.TempFolder("service-models");
        var images = Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order().ToList();
        var json = File.ReadAllText(TestData.Pipeline("patchcore-mobilenet"));
        var pipelineA = AnomalyPipeline.FromJson(json, TestData.Catalog);
        var pipelineB = AnomalyPipeline.FromJson(json.Replace("\"margin\": 1.0", "\"margin\": 1.25", StringComparison.Ordinal), TestData.Catalog);
        using var prepared = pipelineA.Prepare(images);
        using (var a = pipelineA.Fit(prepared)) { a.Save(ModelA); IdA = a.ModelId; ThresholdA = a.Threshold; }
        using (var b = pipelineB.Fit(prepared)) { b.Save(ModelB); IdB = b.ModelId; ThresholdB = b.Threshold; }
        if (ThresholdA == ThresholdB) throw new InvalidOperationException("the two test models should differ in threshold");
    }

    public string Folder { get; }
    public string ModelA => Path.Combine(Folder, "a.pfmodel");
    public string ModelB => Path.Combine(Folder, "b.pfmodel");
    public string IdA { get; } = "";
    public string IdB { get; } = "";
    public double ThresholdA { get; }
    public double ThresholdB { get; }

    public static string DefectiveHazelnut => Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "colour")).Order().First();
    public static string GoodHazelnut => Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "good")).Order().First();

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition("Service")]
public sealed class ServiceCollection : ICollectionFixture<ServiceModels>;

/// <summary>A service on a loopback port over its own models and data folders, with a client and the log lines it wrote.</summary>
public sealed class RunningService : IAsyncDisposable
{
    public required InspectionServer Server { get; init; }
    public required HttpClient Client { get; init; }
    public required string ModelsFolder { get; init; }
    public required string DataFolder { get; init; }
    public required ConcurrentQueue<string> Log { get; init; }
    /// <summary>Leaves the data folder after disposal, for a test that reads the store once the service stopped.</summary>
    public bool KeepDataFolder { get; set; }

    /// <summary>Starts the service with model A as <c>hazelnut.pfmodel</c> (unless <paramref name="withModel"/> is false).</summary>
    public static async Task<RunningService> StartAsync(ServiceModels models, Func<ServiceOptions, ServiceOptions>? tweak = null, bool withModel = true,
        string category = "hazelnut", string? modelFile = null)
    {
        var modelsFolder = TestData.TempFolder("service-models-served");
        var dataFolder = TestData.TempFolder("service-data");
        if (withModel) File.Copy(modelFile ?? models.ModelA, Path.Combine(modelsFolder, category + ModelRegistry.Extension));
        var options = new ServiceOptions { ModelsFolder = modelsFolder, DataFolder = dataFolder, Port = 0, ModelCheckInterval = TimeSpan.FromMinutes(10) };
        options = tweak?.Invoke(options) ?? options;
        var log = new ConcurrentQueue<string>();
        var server = InspectionServer.Create(options, TestData.Catalog, HostEnvironment.CreateServices(), l => l.ClearProviders().AddProvider(new CollectingLoggerProvider(log)));
        await server.StartAsync();
        return new RunningService
        {
            Server = server, Client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) },
            ModelsFolder = modelsFolder, DataFolder = dataFolder, Log = log,
        };
    }

    public async Task<HttpResponseMessage> PostImageAsync(string category, byte[] bytes, string query = "", string? apiKey = null, bool expectContinue = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/inspect/{category}{query}") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (apiKey is not null) request.Headers.Add(ServiceOptions.ApiKeyHeader, apiKey);
        if (expectContinue) request.Headers.ExpectContinue = true;
        return await Client.SendAsync(request);
    }

    public async Task<JsonObject> InspectAsync(string category, string imagePath, string query = "")
    {
        using var response = await PostImageAsync(category, File.ReadAllBytes(imagePath), query);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        foreach (var folder in KeepDataFolder ? [ModelsFolder] : new[] { ModelsFolder, DataFolder })
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Keeps the service's log lines so a test can check what an operator would read.</summary>
sealed class CollectingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(lines);
    public void Dispose() { }

    sealed class Logger(ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }
}
