using System.Net;
using System.Text.Json.Nodes;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Service;

/// <summary>
/// The models folder while serving: a broken file is refused and logged while the old model keeps serving; a good
/// file replaces the model between batches, under load, without losing a request or mixing two models in one answer.
/// </summary>
[Collection("Service")]
public class ModelSwapTests(ServiceModels models)
{
    [Fact]
    public async Task Broken_model_file_is_refused_with_a_log_line_and_the_old_model_keeps_serving()
    {
        await using var service = await RunningService.StartAsync(models);
        var target = Path.Combine(service.ModelsFolder, "hazelnut.pfmodel");
        Replace(target, "this is not a zip archive"u8.ToArray());
        service.Server.CheckModelsNow();

        var list = await ServiceApiTests.Json(service.Client, "/v1/models");
        var served = list["models"]![0]!;
        Assert.Equal((models.IdA, 1), ((string)served["modelId"]!, (int)served["version"]!));
        var refused = list["refused"]![0]!;
        Assert.Equal("hazelnut", (string)refused["category"]!);
        Assert.Contains("hazelnut.pfmodel", (string)refused["message"]!);
        Assert.Contains((string)refused["message"]!, (string)served["problem"]!);
        Assert.Contains(service.Log, line => line.StartsWith("Error: Refused model file", StringComparison.Ordinal) && line.Contains(target)
            && line.Contains($"model {models.IdA} version 1 keeps serving"));
        Assert.Equal(models.IdA, (string)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["model"]!["id"]!);

        // The same broken file is not retried on every check; a good file is taken at once.
        int errors = service.Log.Count(l => l.StartsWith("Error:", StringComparison.Ordinal));
        service.Server.CheckModelsNow();
        Assert.Equal(errors, service.Log.Count(l => l.StartsWith("Error:", StringComparison.Ordinal)));
        Replace(target, File.ReadAllBytes(models.ModelB));
        service.Server.CheckModelsNow();
        var swapped = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
        Assert.Equal((models.IdB, 2, models.ThresholdB), ((string)swapped["model"]!["id"]!, (int)swapped["model"]!["version"]!, (double)swapped["threshold"]!));
        Assert.Empty((await ServiceApiTests.Json(service.Client, "/v1/models"))["refused"]!.AsArray());
    }

    [Fact]
    public async Task A_model_whose_input_is_not_square_is_served()
    {
        // AutoML chooses inputs that keep the aspect ratio (e.g. 224 x 560); the check a model passes before it serves
        // once fed it a square image and refused every such model.
        var pipeline = AnomalyPipeline.FromJson(File.ReadAllText(TestData.Pipeline("patchcore-mobilenet"))
            .Replace("\"input\": { \"size\": 256, \"crop\": 224 }", "\"input\": { \"resize\": \"fit\", \"width\": 224, \"height\": 448 }", StringComparison.Ordinal), TestData.Catalog);
        Assert.Equal((448, 224), (pipeline.Spec.Preprocessing.Height, pipeline.Spec.Preprocessing.Width));
        await using var service = await RunningService.StartAsync(models);
        using (var tall = pipeline.Fit(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order().Take(6).ToList()))
            tall.Save(Path.Combine(service.ModelsFolder, "tall.pfmodel"));
        service.Server.CheckModelsNow();

        Assert.Empty((await ServiceApiTests.Json(service.Client, "/v1/models"))["refused"]!.AsArray());
        var answer = await service.InspectAsync("tall", ServiceModels.DefectiveHazelnut, "?heatmap=true");
        Assert.Equal((224, 448), ((int)answer["heatMap"]!["width"]!, (int)answer["heatMap"]!["height"]!));
    }

    [Fact]
    public async Task Model_swap_under_load_loses_no_request_and_never_mixes_two_models_in_one_answer()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { MaxBatch = 4, QueueCapacity = 64 });
        using var a = AnomalyModel.Load(models.ModelA, TestData.Catalog);
        using var b = AnomalyModel.Load(models.ModelB, TestData.Catalog);
        var images = new[] { ServiceModels.GoodHazelnut, ServiceModels.DefectiveHazelnut }.Select(File.ReadAllBytes).ToArray();
        const int total = 32, swapAfter = 12;
        int completed = 0;
        using var clients = new SemaphoreSlim(6);

        var swap = Task.Run(async () =>
        {
            while (Volatile.Read(ref completed) < swapAfter) await Task.Delay(5);
            Replace(Path.Combine(service.ModelsFolder, "hazelnut.pfmodel"), File.ReadAllBytes(models.ModelB));
            service.Server.CheckModelsNow();
        });
        var requests = Enumerable.Range(0, total).Select(async i =>
        {
            // The last few are sent once the swap is done, so that some answers surely come from B: on a loaded machine
            // the swap could otherwise land after the last answer, and the test would see A alone.
            if (i >= total - 4) await swap;
            await clients.WaitAsync();
            try
            {
                using var response = await service.PostImageAsync("hazelnut", images[i % 2]);
                var text = await response.Content.ReadAsStringAsync();
                Interlocked.Increment(ref completed);
                return (Status: response.StatusCode, Body: text, Image: i % 2);
            }
            finally { clients.Release(); }
        }).ToList();
        var answers = await Task.WhenAll(requests);
        await swap;

        Assert.All(answers, r => Assert.True(r.Status == HttpStatusCode.OK, r.Body));
        var seen = new HashSet<int>();
        foreach (var (_, body, image) in answers)
        {
            var json = JsonNode.Parse(body)!;
            var id = (string)json["model"]!["id"]!;
            int version = (int)json["model"]!["version"]!;
            var model = id == models.IdA ? a : id == models.IdB ? b : throw new Xunit.Sdk.XunitException($"unknown model id {id}");
            seen.Add(version);
            // Version, threshold, score and verdict all from the model the answer names.
            Assert.Equal(model == a ? 1 : 2, version);
            Assert.Equal(model.Threshold, (double)json["threshold"]!);
            double raw = (double)json["rawScore"]!;
            Assert.Equal(model.Normalization.Apply(raw), (double)json["score"]!, 12);
            Assert.Equal(raw > model.Threshold, (bool)json["isAnomaly"]!);
            Assert.Equal(model.Inspect(images[image], "expected").RawScore, raw, 5);
        }
        Assert.Equal([1, 2], seen.Order());
        // Nothing lost: every answer is a stored row.
        Assert.Equal(total, (await ServiceApiTests.Json(service.Client, "/v1/inspections?limit=500"))["inspections"]!.AsArray().Count);
    }

    /// <summary>Writes a sibling and renames it over the target, as a deployment should.</summary>
    static void Replace(string target, byte[] bytes)
    {
        var temp = target + ".tmp-" + Guid.NewGuid().ToString("N")[..6];
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, target, overwrite: true);
    }
}
