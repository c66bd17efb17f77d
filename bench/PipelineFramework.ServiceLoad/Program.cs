using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using PipelineFramework.Core;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Hosting;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Service;

// Load test of the inspection service on loopback, bounded in requests and seconds. Two runs in one process, same
// images, same model: one client at a time (no batching possible), then --concurrency clients (requests batch up).
// In the second run the model file is replaced by another model (same raw scores, different threshold) half way,
// through the folder watcher as in production; every answer is checked against the model it names.
// dotnet run --project bench/PipelineFramework.ServiceLoad -c Release -- [--requests 300] [--concurrency 8] [--seconds 120] [--out service-load.json]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
int requests = 300, concurrency = 8, seconds = 120;
string outPath = "service-load.json";
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--requests": requests = int.Parse(args[++i]); break;
        case "--concurrency": concurrency = int.Parse(args[++i]); break;
        case "--seconds": seconds = int.Parse(args[++i]); break;
        case "--out": outPath = args[++i]; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}; use --requests N --concurrency C --seconds S --out FILE"); return 1;
    }
}

var repo = new DirectoryInfo(AppContext.BaseDirectory);
while (repo is not null && !File.Exists(Path.Combine(repo.FullName, "PipelineFramework.sln"))) repo = repo.Parent;
var hazelnut = Path.Combine(repo!.FullName, "samples", "data", "hazelnut");
var work = Path.Combine(Path.GetTempPath(), "pf-service-load-" + Guid.NewGuid().ToString("N")[..8]);
var modelsFolder = Path.Combine(work, "models");
Directory.CreateDirectory(modelsFolder);

// Two models from one prepared set: A (the default pipeline) and B (threshold margin 1.25).
Console.Error.WriteLine("fitting the default pipeline on samples/data/hazelnut (twice, one backbone pass)");
var catalog = ComponentCatalog.CreateDefault();
var json = File.ReadAllText(Path.Combine(repo.FullName, "pipelines", "patchcore-mobilenet.json"));
var pipelineA = AnomalyPipeline.FromJson(json, catalog);
var pipelineB = AnomalyPipeline.FromJson(json.Replace("\"margin\": 1.0", "\"margin\": 1.25", StringComparison.Ordinal), catalog);
string fileA = Path.Combine(work, "a.pfmodel"), fileB = Path.Combine(work, "b.pfmodel");
var train = Directory.GetFiles(Path.Combine(hazelnut, "train", "good")).Order().ToList();
using (var prepared = pipelineA.Prepare(train))
{
    using (var a = pipelineA.Fit(prepared)) a.Save(fileA);
    using (var b = pipelineB.Fit(prepared)) b.Save(fileB);
}
using var modelA = AnomalyModel.Load(fileA, catalog);
using var modelB = AnomalyModel.Load(fileB, catalog);
var byId = new Dictionary<string, AnomalyModel> { [modelA.ModelId] = modelA, [modelB.ModelId] = modelB };
var images = Directory.GetFiles(Path.Combine(hazelnut, "test"), "*.*", SearchOption.AllDirectories).Order().Select(File.ReadAllBytes).ToArray();

var results = new JsonObject
{
    ["machine"] = new JsonObject
    {
        ["cores"] = Environment.ProcessorCount,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["dotnet"] = Environment.Version.ToString(),
        ["note"] = "shared build machine: other engineers' builds and tests ran at the same time",
    },
    ["utc"] = DateTime.UtcNow.ToString("O"),
    ["pipeline"] = "patchcore-mobilenet (samples/data/hazelnut, 28 train images)",
    ["images"] = $"{images.Length} hazelnut test images (good and defective), cycled",
};

results["sequential"] = await Run("sequential", Math.Max(20, requests / 3), clients: 1, swap: false);
results["concurrent"] = await Run("concurrent", requests, concurrency, swap: true);
AtomicFile.WriteText(outPath, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine(results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
Console.Error.WriteLine($"written to {Path.GetFullPath(outPath)}");
try { Directory.Delete(work, recursive: true); } catch (IOException) { }
return 0;

async Task<JsonObject> Run(string name, int count, int clients, bool swap)
{
    var target = Path.Combine(modelsFolder, "hazelnut" + ModelRegistry.Extension);
    File.Copy(fileA, target, overwrite: true);
    var options = new ServiceOptions { ModelsFolder = modelsFolder, DataFolder = Path.Combine(work, "data-" + name), Port = 0 };
    await using var server = InspectionServer.Create(options, catalog, HostEnvironment.CreateServices(), l => l.SetMinimumLevel(LogLevel.Warning));
    await server.StartAsync();
    using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    for (int i = 0; i < 4; i++) await Post(http, images[i % images.Length]); // warm-up: JIT, ONNX sessions

    Console.Error.WriteLine($"{name}: {count} requests, {clients} client(s){(swap ? ", model swap half way" : "")}");
    var latencies = new double[count];
    var status = new HttpStatusCode[count];
    var versions = new int[count];
    var batchSizes = new int[count];
    var stageMs = new Dictionary<string, double>[count];
    var storeMs = new double[count];
    int mixed = 0, next = -1, done = 0;
    double swappedAt = double.NaN;
    var deadline = Stopwatch.StartNew();
    var watch = Stopwatch.StartNew();
    var swapper = !swap ? Task.CompletedTask : Task.Run(async () =>
    {
        while (Volatile.Read(ref done) < count / 2) await Task.Delay(2);
        var temp = target + ".new";
        File.Copy(fileB, temp, overwrite: true);
        File.Move(temp, target, overwrite: true); // the folder watcher picks it up, as in production
        swappedAt = watch.Elapsed.TotalSeconds;
    });
    await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
    {
        for (int i = Interlocked.Increment(ref next); i < count && deadline.Elapsed.TotalSeconds < seconds; i = Interlocked.Increment(ref next))
        {
            var start = Stopwatch.GetTimestamp();
            var (code, body) = await Post(http, images[i % images.Length]);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            status[i] = code;
            if (code == HttpStatusCode.OK)
            {
                var answer = JsonNode.Parse(body)!;
                var model = byId[(string)answer["model"]!["id"]!];
                versions[i] = (int)answer["model"]!["version"]!;
                batchSizes[i] = (int)answer["timings"]!["batchSize"]!;
                storeMs[i] = (double)answer["timings"]!["storeMs"]!;
                stageMs[i] = answer["timings"]!["stagesMs"]!.AsObject().ToDictionary(kv => kv.Key, kv => (double)kv.Value!);
                double raw = (double)answer["rawScore"]!;
                bool consistent = (double)answer["threshold"]! == model.Threshold && Math.Abs(model.Normalization.Apply(raw) - (double)answer["score"]!) < 1e-12
                    && (versions[i] == 1) == (model == modelA);
                if (!consistent) Interlocked.Increment(ref mixed);
            }
            Interlocked.Increment(ref done);
        }
    })));
    double wall = watch.Elapsed.TotalSeconds;
    await swapper;
    int sent = Math.Min(count, next);
    var ok = Enumerable.Range(0, sent).Where(i => status[i] == HttpStatusCode.OK).ToList();
    var sorted = ok.Select(i => latencies[i]).Order().ToArray();
    double Percentile(double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    int stored = (await http.GetFromJsonAsyncNode("/v1/inspections?limit=500"))["inspections"]!.AsArray().Count - 4;
    return new JsonObject
    {
        ["clients"] = clients,
        ["requests_sent"] = sent,
        ["ok"] = ok.Count,
        ["busy_429"] = Enumerable.Range(0, sent).Count(i => status[i] == HttpStatusCode.TooManyRequests),
        ["errors"] = Enumerable.Range(0, sent).Count(i => status[i] is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests)),
        ["stored_rows"] = stored,
        ["wall_s"] = Math.Round(wall, 2),
        ["requests_per_s"] = Math.Round(ok.Count / wall, 2),
        ["latency_ms"] = new JsonObject
        {
            ["p50"] = Math.Round(Percentile(0.50), 1), ["p90"] = Math.Round(Percentile(0.90), 1),
            ["p99"] = Math.Round(Percentile(0.99), 1), ["max"] = Math.Round(sorted.LastOrDefault(), 1),
        },
        ["mean_engine_ms_per_image"] = ok.Count == 0 ? null : new JsonObject(stageMs[ok[0]].Keys.Select(k =>
            KeyValuePair.Create(k, (JsonNode?)Math.Round(ok.Average(i => stageMs[i].GetValueOrDefault(k)), 1)))),
        ["mean_store_ms_per_batch"] = ok.Count == 0 ? null : Math.Round(ok.Average(i => storeMs[i]), 1),
        ["mean_batch_size"] = ok.Count == 0 ? 0 : Math.Round(ok.Average(i => batchSizes[i]), 2),
        ["answers_by_model_version"] = new JsonObject(ok.GroupBy(i => versions[i]).OrderBy(g => g.Key).Select(g => KeyValuePair.Create($"v{g.Key}", (JsonNode?)g.Count()))),
        ["swap_file_replaced_at_s"] = double.IsNaN(swappedAt) ? null : Math.Round(swappedAt, 2),
        ["answers_mixing_models"] = mixed,
    };
}

static async Task<(HttpStatusCode, string)> Post(HttpClient http, byte[] image)
{
    using var content = new ByteArrayContent(image);
    content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
    using var response = await http.PostAsync("/v1/inspect/hazelnut", content);
    return (response.StatusCode, await response.Content.ReadAsStringAsync());
}

static class HttpJson
{
    public static async Task<JsonNode> GetFromJsonAsyncNode(this HttpClient http, string path) =>
        JsonNode.Parse(await http.GetStringAsync(path))!;
}
