using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Service;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Service;

/// <summary>
/// The service's HTTP API on a real loopback socket (Kestrel, as <c>pf serve</c> runs it) with a real HttpClient, real
/// model files and a real SQLite file. Every bad request gets a 4xx with an RFC 9457 problem document, never a 500.
/// </summary>
[Collection("Service")]
public class ServiceApiTests(ServiceModels models)
{
    [Fact]
    public async Task Defective_part_is_rejected_with_regions_stored_durably_and_scored_as_the_model_scores_it()
    {
        string dataFolder;
        string rejectId, goodId;
        await using (var service = await RunningService.StartAsync(models))
        {
            dataFolder = service.DataFolder;
            service.KeepDataFolder = true;
            var reject = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut, "?heatmap=true");
            var good = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
            rejectId = (string)reject["id"]!;
            goodId = (string)good["id"]!;

            // The same numbers the model gives in process on the same bytes.
            using var model = AnomalyModel.Load(models.ModelA, TestData.Catalog);
            var expected = model.Inspect(File.ReadAllBytes(ServiceModels.DefectiveHazelnut), "x");
            Assert.Equal(expected.RawScore, (double)reject["rawScore"]!, 6);
            Assert.Equal(expected.Score, (double)reject["score"]!, 9);
            Assert.Equal(model.Threshold, (double)reject["threshold"]!);
            Assert.True((bool)reject["isAnomaly"]!);
            Assert.Equal("ANOMALY", (string)reject["verdict"]!);
            Assert.Equal(expected.Regions.Count, reject["regions"]!.AsArray().Count);
            Assert.Equal(expected.Regions[0].ImageBox.X, (int)reject["regions"]![0]!["imageBox"]!["x"]!);
            Assert.Equal(models.IdA, (string)reject["model"]!["id"]!);
            Assert.Equal(1, (int)reject["model"]!["version"]!);
            Assert.True((bool)reject["stored"]!);
            Assert.True((double)reject["timings"]!["stagesMs"]!["backbone"]! > 0);
            Assert.Equal("OK", (string)good["verdict"]!);

            // Heat map on request: a PNG at the map's size whose grey level is the normalised score (0.5 = threshold).
            using (var map = SKBitmap.Decode(Convert.FromBase64String((string)reject["heatMap"]!["png"]!)))
            {
                Assert.Equal(expected.RawMap.Width, map.Width);
                var peak = expected.Regions[0];
                double normalisedPeak = model.Normalization.Apply(expected.RawMap.Values[peak.PeakY * expected.RawMap.Width + peak.PeakX]);
                Assert.InRange(map.GetPixel(peak.PeakX, peak.PeakY).Red / 255.0, normalisedPeak - 0.01, normalisedPeak + 0.01);
            }
            Assert.Null(good["heatMap"]);

            // The reject's image is kept as sent, with its overlay; the good part's is not.
            var image = await service.Client.GetByteArrayAsync((string)reject["links"]!["image"]!);
            Assert.Equal(File.ReadAllBytes(ServiceModels.DefectiveHazelnut), image);
            using (var overlay = SKBitmap.Decode(await service.Client.GetByteArrayAsync((string)reject["links"]!["overlay"]!)))
                Assert.Equal((model.Spec.Input.Crop, model.Spec.Input.Crop), (overlay.Width, overlay.Height));
            Assert.Null(good["links"]!["image"]);
            await AssertProblem(await service.Client.GetAsync($"/v1/inspections/{goodId}/image"), 404, "rejects only");

            // Listing and filtering.
            var rejects = await Json(service.Client, "/v1/inspections?verdict=anomaly&category=hazelnut");
            Assert.Equal([rejectId], rejects["inspections"]!.AsArray().Select(i => (string)i!["id"]!));
            var all = await Json(service.Client, "/v1/inspections");
            Assert.Equal([goodId, rejectId], all["inspections"]!.AsArray().Select(i => (string)i!["id"]!));
            await AssertProblem(await service.Client.GetAsync("/v1/inspections?verdict=maybe"), 400, "anomaly, ok or all");
        }
        // After the service stopped: the SQLite file holds both verdicts (read with a plain connection, not our store).
        using var db = new SqliteConnection($"Data Source={Path.Combine(dataFolder, "results.db")}");
        db.Open();
        using var query = db.CreateCommand();
        query.CommandText = "SELECT id, is_anomaly, regions FROM inspections ORDER BY is_anomaly";
        using var reader = query.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal((goodId, 0L), (reader.GetString(0), reader.GetInt64(1)));
        Assert.True(reader.Read());
        Assert.Equal((rejectId, 1L), (reader.GetString(0), reader.GetInt64(1)));
        Assert.Contains("imageBox", reader.GetString(2));
        Assert.False(reader.Read());
        reader.Close();
        db.Close();
        SqliteConnection.ClearPool(db);
        Directory.Delete(dataFolder, recursive: true);
    }

    [Fact]
    public async Task An_image_unlike_the_fitted_ones_is_flagged_in_the_answer_and_the_store_and_an_older_results_file_gains_the_column()
    {
        // results.db as the service wrote it before input_warning existed, with one part in it.
        var data = TestData.TempFolder("service-older-db");
        using (var db = new SqliteConnection($"Data Source={Path.Combine(data, "results.db")}"))
        {
            db.Open();
            using var create = db.CreateCommand();
            create.CommandText = """
                CREATE TABLE inspections (
                  id TEXT PRIMARY KEY, category TEXT NOT NULL, received_utc TEXT NOT NULL, is_anomaly INTEGER NOT NULL,
                  score REAL NOT NULL, raw_score REAL NOT NULL, threshold REAL NOT NULL, model_id TEXT NOT NULL, model_version INTEGER NOT NULL,
                  map_width INTEGER NOT NULL, map_height INTEGER NOT NULL, regions TEXT NOT NULL, rules TEXT NOT NULL, timings TEXT NOT NULL,
                  image_file TEXT, heat_file TEXT);
                INSERT INTO inspections VALUES ('older', 'hazelnut', '2026-11-27T10:00:00.0000000Z', 0, 0.1, 1.0, 2.0, 'm', 1, 224, 224, '[]', '[]', '{}', NULL, NULL);
                """;
            create.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
        var thumbnailFolder = TestData.TempFolder("service-thumbnail");
        var thumbnail = TestData.WriteThumbnail(ServiceModels.GoodHazelnut, Path.Combine(thumbnailFolder, "thumbnail.png"));

        await using (var service = await RunningService.StartAsync(models, o => o with { DataFolder = data }))
        {
            service.KeepDataFolder = true;
            var odd = await service.InspectAsync("hazelnut", thumbnail);
            Assert.Contains("shorter side", (string)odd["inputWarning"]!);
            var good = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
            Assert.Null(good["inputWarning"]);

            var listed = (await Json(service.Client, "/v1/inspections"))["inspections"]!.AsArray();
            Assert.Equal(3, listed.Count);
            Assert.Equal((string)odd["inputWarning"]!, (string)listed.Single(i => (string)i!["id"]! == (string)odd["id"]!)!["inputWarning"]!);
            Assert.Null(listed.Single(i => (string)i!["id"]! == "older")!["inputWarning"]);
        }
        SqliteConnection.ClearAllPools();
        Directory.Delete(data, recursive: true);
        Directory.Delete(thumbnailFolder, recursive: true);
    }

    [Fact]
    public async Task Multipart_upload_scores_like_raw_bytes()
    {
        await using var service = await RunningService.StartAsync(models);
        var raw = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(File.ReadAllBytes(ServiceModels.DefectiveHazelnut));
        file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
        form.Add(file, "image", "part.jpg");
        using var response = await service.Client.PostAsync("/v1/inspect/hazelnut", form);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((double)raw["rawScore"]!, (double)json["rawScore"]!);
    }

    [Fact]
    public async Task Bad_requests_get_a_problem_document_and_never_a_500()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { MaxRequestBytes = 4 * 1024 * 1024 });
        var jpeg = File.ReadAllBytes(ServiceModels.GoodHazelnut);

        await AssertProblem(await service.PostImageAsync("hazelnut", []), 400, "no image");
        await AssertProblem(await service.PostImageAsync("hazelnut", Encoding.UTF8.GetBytes("this is not an image, just text")), 415, "not a PNG, JPEG or BMP");
        await AssertProblem(await service.PostImageAsync("hazelnut", FiftyMegapixelPng()), 413, "50 megapixels");
        await AssertProblem(await service.PostImageAsync("hazelnat", jpeg), 404, "Did you mean 'hazelnut'?");
        // A client sending a large body asks first (Expect: 100-continue), as HTTP clients do, and is refused before sending it.
        await AssertProblem(await service.PostImageAsync("hazelnut", new byte[5 * 1024 * 1024], expectContinue: true), 413, "limit of 4194304 bytes");
        // A JPEG cut in half: its header is fine, the decoder fails; only this request fails.
        await AssertProblem(await service.PostImageAsync("hazelnut", jpeg[..(jpeg.Length / 2)]), 422, "truncated or damaged");
        // Its second half zeroed, end marker kept: the decoder passes it, the loader refuses it as damaged.
        var zeroed = (byte[])jpeg.Clone();
        Array.Clear(zeroed, jpeg.Length / 2, jpeg.Length - jpeg.Length / 2 - 2);
        await AssertProblem(await service.PostImageAsync("hazelnut", zeroed), 422, "zero bytes in a row");
        // A GIF is an image, but not one the engine reads.
        await AssertProblem(await service.PostImageAsync("hazelnut", Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")), 415, "GIF");
        await AssertProblem(await service.Client.PostAsync("/v1/explain/nope", null), 404, "No inspection 'nope'");
        await AssertProblem(await service.Client.GetAsync("/v1/models/nope"), 404, "No model is served for category 'nope'");
        await AssertProblem(await service.Client.GetAsync("/v1/nothing-here"), 404, null);
        await AssertProblem(await service.Client.DeleteAsync("/v1/models"), 405, null);

        var part = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
        var explain = $"/v1/explain/{part["id"]}";
        await AssertProblem(await service.Client.PostAsync(explain, new StringContent("{\"question\": ", Encoding.UTF8, "application/json")), 400, "not valid JSON");
        await AssertProblem(await service.Client.PostAsync(explain, new StringContent("[1]", Encoding.UTF8, "application/json")), 400, "not a JSON object");
        await AssertProblem(await service.Client.PostAsync(explain, new StringContent("{\"question\": 3}", Encoding.UTF8, "application/json")), 400, "$.question must be a string");
        await AssertProblem(await service.Client.PostAsync(explain, JsonBody(new string('?', 2001))), 400, "at most 2000");
        await AssertProblem(await service.Client.GetAsync("/v1/inspections?limit=0"), 400, "1 to 500");
        await AssertProblem(await service.Client.GetAsync("/v1/models/hazelnut/report"), 404, "hazelnut.report.html");

        // After all that the service still scores.
        Assert.Equal("OK", (string)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["verdict"]!);
    }

    [Fact]
    public async Task Api_key_is_required_for_inspect_and_explain_and_the_rest_stays_readable()
    {
        const string key = "test-key-7f3a";
        await using var service = await RunningService.StartAsync(models, o => o with { ApiKey = key, KeyRequiredOnLoopback = true });
        var jpeg = File.ReadAllBytes(ServiceModels.DefectiveHazelnut);

        await AssertProblem(await service.PostImageAsync("hazelnut", jpeg), 401, ServiceOptions.ApiKeyHeader);
        await AssertProblem(await service.PostImageAsync("hazelnut", jpeg, apiKey: "wrong"), 403, "does not match");
        using var accepted = await service.PostImageAsync("hazelnut", jpeg, apiKey: key);
        var part = JsonNode.Parse(await accepted.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        await AssertProblem(await service.Client.PostAsync($"/v1/explain/{part["id"]}", null), 401, ServiceOptions.ApiKeyHeader);
        // The key is never echoed back.
        Assert.DoesNotContain(key, service.Log.Aggregate("", (a, b) => a + b));

        // Reading needs no key: the page, the list, the models, the images.
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/")).StatusCode);
        Assert.Single((await Json(service.Client, "/v1/inspections"))["inspections"]!.AsArray());
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync((string)part["links"]!["overlay"]!)).StatusCode);
        var access = await Json(service.Client, "/v1/access");
        Assert.True((bool)access["keyRequired"]!);
        Assert.False((bool)access["canWrite"]!);

        using var explained = new HttpRequestMessage(HttpMethod.Post, $"/v1/explain/{part["id"]}") { Content = JsonBody("where is the defect?") };
        explained.Headers.Add(ServiceOptions.ApiKeyHeader, key);
        Assert.Equal(HttpStatusCode.OK, (await service.Client.SendAsync(explained)).StatusCode);
    }

    [Fact]
    public void A_service_beyond_loopback_without_a_key_refuses_to_start()
    {
        var folder = TestData.TempFolder("service-open");
        var options = new ServiceOptions { ModelsFolder = folder, DataFolder = folder, Address = IPAddress.Any, Port = 0 };
        var e = Assert.Throws<PipelineFramework.Abstractions.PipelineException>(() =>
            InspectionServer.Create(options, TestData.Catalog, PipelineFramework.Abstractions.HostServices.None));
        Assert.Contains(ServiceOptions.ApiKeyVariable, e.Message);
    }

    [Fact]
    public async Task Explanation_with_a_follow_up_question_is_stored_with_the_part()
    {
        await using var service = await RunningService.StartAsync(models);
        var part = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        using var first = await service.Client.PostAsync($"/v1/explain/{part["id"]}", null);
        var answer = JsonNode.Parse(await first.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("ANOMALY", (string)answer["verdict"]!);
        Assert.StartsWith("Rejected", (string)answer["summary"]!);
        // The offline explainer states the facts: the stored score and threshold appear in its reasons.
        Assert.Contains($"{(double)part["rawScore"]!:0.###}", (string)answer["reasons"]![0]!);
        Assert.True((bool)answer["stored"]!);
        using var second = await service.Client.PostAsync($"/v1/explain/{part["id"]}", JsonBody("Is the crack near the edge?"));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        var stored = await Json(service.Client, $"/v1/inspections/{part["id"]}");
        var explanations = stored["explanations"]!.AsArray();
        Assert.Equal(2, explanations.Count);
        Assert.Null(explanations[0]!["question"]);
        Assert.Equal("Is the crack near the edge?", (string)explanations[1]!["question"]!);
        Assert.Equal("offline", (string)explanations[1]!["source"]!);
    }

    [Fact]
    public async Task Models_health_readiness_and_openapi_describe_the_service()
    {
        await using (var empty = await RunningService.StartAsync(models, withModel: false))
        {
            await AssertProblem(await empty.Client.GetAsync("/health/ready"), 503, "no model is served");
            Assert.Equal(HttpStatusCode.OK, (await empty.Client.GetAsync("/health/live")).StatusCode);
        }
        await using var service = await RunningService.StartAsync(models);
        File.WriteAllText(Path.Combine(service.ModelsFolder, "hazelnut.report.html"), "<html><body>report of hazelnut</body></html>");
        var ready = await Json(service.Client, "/health/ready");
        Assert.Equal(["hazelnut"], ready["categories"]!.AsArray().Select(c => (string)c!));

        var list = await Json(service.Client, "/v1/models");
        var hazelnut = list["models"]![0]!;
        Assert.Equal(models.IdA, (string)hazelnut["modelId"]!);
        Assert.Equal(models.ThresholdA, (double)hazelnut["threshold"]!);
        Assert.Equal("patchcore-mobilenet", (string)hazelnut["pipeline"]!);
        Assert.Equal("/v1/models/hazelnut/report", (string)hazelnut["report"]!);
        using (var report = await service.Client.GetAsync("/v1/models/hazelnut/report"))
        {
            Assert.Contains("report of hazelnut", await report.Content.ReadAsStringAsync());
            // A file put beside the model, served from this origin: sandboxed and script-free (was "frame-ancestors 'self'" alone).
            Assert.Equal("sandbox; " + ReportHtml.ContentSecurityPolicy + "; frame-ancestors 'self'", string.Join(";", report.Headers.GetValues("Content-Security-Policy")));
            Assert.Equal("nosniff", string.Join(",", report.Headers.GetValues("X-Content-Type-Options")));
        }
        var detail = await Json(service.Client, "/v1/models/hazelnut");
        Assert.Equal(models.IdA, (string)detail["manifest"]!["modelId"]!);

        var openApi = await Json(service.Client, "/openapi/v1.json");
        var paths = openApi["paths"]!.AsObject().Select(p => p.Key).ToList();
        foreach (var path in new[] { "/v1/inspect/{category}", "/v1/explain/{inspectionId}", "/v1/models", "/v1/inspections", "/health/live", "/health/ready" })
            Assert.Contains(path, paths);
        var inspectBody = openApi["paths"]!["/v1/inspect/{category}"]!["post"]!["requestBody"]!["content"]!.AsObject().Select(c => c.Key).ToList();
        Assert.Contains("image/jpeg", inspectBody);
        Assert.Contains("multipart/form-data", inspectBody);

        var page = await service.Client.GetStringAsync("/");
        Assert.Contains("<script src=\"/app.js\">", page);
        Assert.DoesNotContain("http://", page + await service.Client.GetStringAsync("/app.js") + await service.Client.GetStringAsync("/app.css"));
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_Retry_After_and_loses_nothing_it_accepted()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { QueueCapacity = 2, MaxBatch = 1, RetryAfterSeconds = 3 });
        var jpeg = File.ReadAllBytes(ServiceModels.GoodHazelnut);
        var responses = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => service.PostImageAsync("hazelnut", jpeg)));
        var busy = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        var ok = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        Assert.Equal(responses.Length, busy.Count + ok.Count);
        Assert.NotEmpty(busy);
        Assert.NotEmpty(ok);
        Assert.Equal(TimeSpan.FromSeconds(3), busy[0].Headers.RetryAfter!.Delta);
        await AssertProblem(busy[0], 429, "Retry after 3 s");
        // Every accepted request is in the store; every refused one is not.
        Assert.Equal(ok.Count, (await Json(service.Client, "/v1/inspections?limit=500"))["inspections"]!.AsArray().Count);
    }

    [Fact]
    public async Task Reject_images_beyond_the_retention_limit_are_deleted_and_their_results_kept()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { RejectImagesKept = 1 });
        var first = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        var second = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        await AssertProblem(await service.Client.GetAsync($"/v1/inspections/{first["id"]}/overlay.png"), 404, "retention limit (1 rejects kept)");
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync($"/v1/inspections/{second["id"]}/overlay.png")).StatusCode);
        // Left on disk: the second reject's image, heat map and (drawn when first asked for) overlay.
        Assert.Equal([$"{second["id"]}.heat", $"{second["id"]}.jpg", $"{second["id"]}.overlay.png"],
            Directory.GetFiles(Path.Combine(service.DataFolder, "rejects")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("ANOMALY", (string)(await Json(service.Client, $"/v1/inspections/{first["id"]}"))["verdict"]!);
    }

    [Fact]
    public async Task An_overlay_that_cannot_be_kept_is_still_served_and_its_path_stays_in_the_log()
    {
        await using var service = await RunningService.StartAsync(models);
        var reject = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        // Something in the way of the overlay's file (the overlay is kept only to save drawing it again).
        Directory.CreateDirectory(Path.Combine(service.DataFolder, "rejects", $"{reject["id"]}.overlay.png"));
        // Before: 404 "Overlay unavailable" whose detail named the server's path of the folder in the way.
        using var answer = await service.Client.GetAsync($"/v1/inspections/{reject["id"]}/overlay.png");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("image/png", answer.Content.Headers.ContentType?.MediaType);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], (await answer.Content.ReadAsByteArrayAsync())[..4]);
        Assert.Contains(service.Log, l => l.Contains($"The overlay of reject {reject["id"]} was drawn but not kept"));
    }

    [Fact]
    public async Task When_the_disk_fails_the_answer_keeps_its_verdict_and_says_what_was_not_stored()
    {
        await using var service = await RunningService.StartAsync(models);
        // The rejects folder becomes a file: the reject's image cannot be kept, its row still is.
        var rejects = Path.Combine(service.DataFolder, "rejects");
        Directory.Delete(rejects, recursive: true);
        File.WriteAllText(rejects, "in the way");
        var reject = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        Assert.Equal("ANOMALY", (string)reject["verdict"]!);
        Assert.True((bool)reject["stored"]!);
        Assert.Contains("image was not kept", (string)reject["storeError"]!);
        Assert.Null(reject["links"]!["overlay"]);
        Assert.Equal("ANOMALY", (string)(await Json(service.Client, $"/v1/inspections/{reject["id"]}"))["verdict"]!);

        // The database becomes unopenable: the verdict still comes back, marked as not stored.
        service.Server.Store.Dispose();
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(service.Server.Store.DatabasePath + suffix);
        Directory.CreateDirectory(service.Server.Store.DatabasePath);
        var good = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
        Assert.Equal("OK", (string)good["verdict"]!);
        Assert.False((bool)good["stored"]!);
        Assert.Contains("was not stored", (string)good["storeError"]!);
        await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "does not answer");
    }

    // ------------------------------------------------------------------ helpers

    internal static StringContent JsonBody(string question) =>
        new(new JsonObject { ["question"] = question }.ToJsonString(), Encoding.UTF8, "application/json");

    internal static async Task<JsonObject> Json(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>The status, and an RFC 9457 body: problem+json with type, title, the same status, and a detail naming the problem.</summary>
    internal static async Task AssertProblem(HttpResponseMessage response, int status, string? detailContains)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonNode.Parse(text)!;
            Assert.Equal(status, (int)problem["status"]!);
            Assert.False(string.IsNullOrEmpty((string?)problem["title"]), text);
            Assert.False(string.IsNullOrEmpty((string?)problem["type"]), text);
            if (detailContains is not null) Assert.Contains(detailContains, (string?)problem["detail"] ?? "");
        }
    }

    /// <summary>
    /// A valid 8000 x 6250 (50 megapixel) black PNG, built row by row: about 150 kB on the wire, 800 MB if decoded.
    /// </summary>
    internal static byte[] FiftyMegapixelPng()
    {
        const int width = 8000, height = 6250;
        using var png = new MemoryStream();
        png.Write(PngChunks.Signature);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; header[9] = 2; // 8-bit RGB
        PngChunks.Write(png, "IHDR", header);
        using var pixels = new MemoryStream();
        using (var zlib = new ZLibStream(pixels, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[1 + 3 * width]; // filter byte 0, black pixels
            for (int y = 0; y < height; y++) zlib.Write(row);
        }
        PngChunks.Write(png, "IDAT", pixels.ToArray());
        PngChunks.Write(png, "IEND", []);
        return png.ToArray();
    }
}
