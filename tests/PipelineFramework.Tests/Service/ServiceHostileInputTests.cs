using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using PipelineFramework.Service;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.Service.ServiceApiTests;

namespace PipelineFramework.Tests.Service;

/// <summary>
/// What a hostile-user pass found (2026-11-28), each over real HTTP with a real SQLite file: bodies that broke the
/// readers, a results database that is damaged, deleted or locked, paths leaking to clients, and unclear answers.
/// </summary>
[Collection("Service")]
public class ServiceHostileInputTests(ServiceModels models)
{
    static HttpContent Raw(string body, string contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    [Fact]
    public async Task A_form_that_ends_early_or_is_not_multipart_is_a_400_that_says_so_and_only_a_real_size_is_413()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { MaxRequestBytes = 1024 * 1024 });
        const string form = "multipart/form-data; boundary=xyz";
        // Cut off inside the file part (was 500: IOException "Unexpected end of Stream").
        await AssertProblem(await service.Client.PostAsync("/v1/inspect/hazelnut",
            Raw("--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\nabc", form)), 400, "the body ended early");
        // A JPEG under a multipart Content-Type: malformed, not too large (was 413 because the message said "limit").
        using (var jpeg = new ByteArrayContent(File.ReadAllBytes(ServiceModels.GoodHazelnut)))
        {
            jpeg.Headers.TryAddWithoutValidation("Content-Type", form);
            await AssertProblem(await service.Client.PostAsync("/v1/inspect/hazelnut", jpeg), 400, "multipart form cannot be read");
        }
        using (var jpeg = new ByteArrayContent(File.ReadAllBytes(ServiceModels.GoodHazelnut)))
        {
            jpeg.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=" + new string('b', 80));
            await AssertProblem(await service.Client.PostAsync("/v1/inspect/hazelnut", jpeg), 400, null);
        }
        // A form over the size limit is still 413.
        using var big = new MultipartFormDataContent { { new ByteArrayContent(new byte[2 * 1024 * 1024]), "image", "big.png" } };
        big.Headers.ContentLength = null;
        await AssertProblem(await service.Client.PostAsync("/v1/inspect/hazelnut", big), 413, "limit of 1048576 bytes");
        Assert.Equal("OK", (string)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["verdict"]!);
    }

    [Fact]
    public async Task An_explain_body_with_the_question_twice_or_half_a_surrogate_pair_is_a_400_that_says_which()
    {
        await using var service = await RunningService.StartAsync(models);
        var part = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
        var explain = $"/v1/explain/{part["id"]}";
        // Both were 500 (a throwing JsonObject indexer, a throwing string read).
        await AssertProblem(await service.Client.PostAsync(explain, Raw("{\"question\":\"a\",\"question\":\"b\"}", "application/json")), 400, "more than once");
        await AssertProblem(await service.Client.PostAsync(explain, Raw("{\"question\":\"\\ud800\"}", "application/json")), 400, "half a UTF-16 surrogate pair");
        // A whole pair is a character, and other keys may repeat.
        using var pair = await service.Client.PostAsync(explain, Raw("{\"x\":1,\"x\":2,\"question\":\"\\ud83d\\ude00?\"}", "application/json"));
        Assert.Equal(HttpStatusCode.OK, pair.StatusCode);
        Assert.Equal("\U0001F600?", (string)JsonNode.Parse(await pair.Content.ReadAsStringAsync())!["question"]!);
    }

    [Fact]
    public async Task A_reject_whose_files_are_gone_answers_404_for_its_image_and_overlay_alike_without_a_path()
    {
        await using var service = await RunningService.StartAsync(models);
        var reject = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        Directory.Delete(Path.Combine(service.DataFolder, "rejects"), recursive: true);
        foreach (var link in new[] { "image", "overlay" })
        {
            using var response = await service.Client.GetAsync((string)reject["links"]![link]!);
            var text = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain(service.DataFolder, text);
            await AssertProblem(response, 404, "is no longer on disk"); // the image was 500 (FileNotFoundException)
        }
    }

    /// <summary>A data folder left by a service that stored one reject and stopped: its results.db, the reject's files and the id.</summary>
    async Task<(string Data, string Id)> DataFolderWithOneStoredReject()
    {
        await using var first = await RunningService.StartAsync(models);
        first.KeepDataFolder = true;
        return (first.DataFolder, (string)(await first.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut))["id"]!);
    }

    [Fact]
    public async Task A_damaged_results_database_answers_503_saying_what_to_do_while_inspections_go_on_unstored_and_leave_no_files()
    {
        var (data, id) = await DataFolderWithOneStoredReject();
        // Page 2 (the inspections table) overwritten, as a bad disk or a careless copy would.
        using (var file = File.OpenWrite(Path.Combine(data, "results.db")))
        {
            file.Position = 4096;
            file.Write(Enumerable.Repeat((byte)'A', 4096).ToArray());
        }
        var rejectsBefore = Directory.GetFiles(Path.Combine(data, "rejects")).Order().ToList();
        await using var service = await RunningService.StartAsync(models, o => o with { DataFolder = data });
        // Were 500 with no explanation.
        await AssertProblem(await service.Client.GetAsync($"/v1/inspections/{id}"), 503, "is damaged");
        await AssertProblem(await service.Client.GetAsync("/v1/inspections?limit=500"), 503, "move results.db");
        Assert.Single(service.Log, l => l.Contains("Reading the results database"));

        var reject = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        Assert.Equal("ANOMALY", (string)reject["verdict"]!);
        Assert.False((bool)reject["stored"]!);
        Assert.Contains("is damaged", (string)reject["storeError"]!);
        Assert.Null(reject["links"]); // every link would answer 404
        // The unstored reject's files are not left behind (no row names them; retention would never remove them).
        Assert.Equal(rejectsBefore, Directory.GetFiles(Path.Combine(data, "rejects")).Order().ToList());
        // Readiness said "ready" before: the last write failed, and a damaged file does not heal.
        await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "is damaged");
        await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "is damaged");
        service.KeepDataFolder = false;
    }

    const string MoveAwayAdvice = "Stop the service, move results.db (with results.db-wal and results.db-shm) out of the data folder";

    [Theory]
    [InlineData("header")]    // its first page overwritten: "file is not a database" when opened
    [InlineData("truncated")] // cut off in its third page
    [InlineData("index")]     // an index page that reading the newest parts does not touch: only the whole-file check at start sees it
    public async Task A_damaged_results_database_no_write_has_touched_is_not_ready_from_the_start_until_it_is_moved_away(string damage)
    {
        var (data, id) = await DataFolderWithOneStoredReject();
        var path = Path.Combine(data, "results.db");
        long indexPage = (long)Sql(path, "SELECT rootpage FROM sqlite_master WHERE name = 'inspections_category'")!;
        long pageSize = (long)Sql(path, "PRAGMA page_size")!;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            if (damage == "truncated") file.SetLength(2 * pageSize + 100);
            else
            {
                file.Position = damage == "header" ? 0 : (indexPage - 1) * pageSize;
                file.Write(Enumerable.Repeat((byte)'A', (int)pageSize).ToArray());
            }
        }

        await using var service = await RunningService.StartAsync(models, o => o with { DataFolder = data });
        // Said "ready" (nothing had read or written the damaged pages yet) while the reads answered 503. The whole-file
        // check runs beside the serving; on this file it takes milliseconds.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage ready;
        while ((ready = await service.Client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            ready.Dispose();
            await Task.Delay(100);
        }
        await AssertProblem(ready, 503, "is damaged");
        await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, MoveAwayAdvice);
        Assert.Single(service.Log, l => l.Contains("Found at start: the results database (results.db in the data folder) is damaged"));
        if (damage == "index") Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync($"/v1/inspections/{id}")).StatusCode);
        else await AssertProblem(await service.Client.GetAsync($"/v1/inspections/{id}"), 503, MoveAwayAdvice);
        var unstored = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
        Assert.False((bool)unstored["stored"]!);
        Assert.Contains("is damaged", (string)unstored["storeError"]!);

        // The operator's way out, as the advice says (the service keeps running): ready at once, and results are stored again.
        Directory.CreateDirectory(Path.Combine(data, "damaged"));
        foreach (var name in new[] { "results.db", "results.db-wal", "results.db-shm" })
            if (File.Exists(Path.Combine(data, name))) File.Move(Path.Combine(data, name), Path.Combine(data, "damaged", name));
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
        Assert.True((bool)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["stored"]!);
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
        service.KeepDataFolder = false;
    }

    [ReadOnlyFileFact]
    public async Task A_results_database_the_service_may_only_read_is_not_ready_from_the_start_its_reads_answer_and_writable_again_is_ready_at_once()
    {
        var (data, id) = await DataFolderWithOneStoredReject();
        var path = Path.Combine(data, "results.db");
        ReadOnlyFile.Set(path, readOnly: true);
        try
        {
            await using var service = await RunningService.StartAsync(models, o => o with { DataFolder = data });
            // Said "ready" until the first result failed to be stored.
            await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "cannot be written");
            var part = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
            Assert.False((bool)part["stored"]!);
            Assert.Contains("cannot be written", (string)part["storeError"]!);
            await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "Give the service's user write permission on results.db");
            // Answered 503 "Safety level may not be changed inside a transaction": the readiness probe's refused write
            // left its pooled connection inside the transaction.
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync($"/v1/inspections/{id}")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/v1/inspections")).StatusCode);

            ReadOnlyFile.Set(path, readOnly: false);
            // Was refused until a restart: the pooled connections had opened the file for reading only.
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
            var stored = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
            Assert.True((bool)stored["stored"]!, stored.ToJsonString());
            service.KeepDataFolder = false;
        }
        finally
        {
            // A failed test keeps the data folder (KeepDataFolder); it must stay deletable.
            if (File.Exists(path)) ReadOnlyFile.Set(path, readOnly: false);
        }
    }

    [Fact]
    public async Task Reject_files_no_stored_result_names_are_removed_at_start_when_an_hour_old()
    {
        var (data, kept) = await DataFolderWithOneStoredReject();
        // As a process killed between writing a reject's files and committing its row leaves them.
        var rejects = Path.Combine(data, "rejects");
        var orphans = new[] { "0000dead.jpg", "0000dead.heat" }.Select(n => Path.Combine(rejects, n)).ToList();
        foreach (var orphan in orphans)
        {
            File.WriteAllText(orphan, "x");
            File.SetLastWriteTimeUtc(orphan, DateTime.UtcNow.AddHours(-2));
        }
        var recent = Path.Combine(rejects, "0000new.jpg");
        File.WriteAllText(recent, "x"); // may be a second service's reject, its row not committed yet
        await using var service = await RunningService.StartAsync(models, o => o with { DataFolder = data });
        Assert.Equal(["0000new.jpg", $"{kept}.heat", $"{kept}.jpg"],
            Directory.GetFiles(rejects).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Results_db_deleted_while_serving_is_noticed_and_the_results_after_it_are_really_stored()
    {
        string data;
        var after = new List<string>();
        await using (var service = await RunningService.StartAsync(models))
        {
            service.KeepDataFolder = true;
            data = service.DataFolder;
            await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
            File.Delete(Path.Combine(data, "results.db"));
            for (int i = 0; i < 2; i++)
            {
                var part = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
                Assert.True((bool)part["stored"]!, part.ToJsonString());
                after.Add((string)part["id"]!);
            }
            Assert.Contains(service.Log, l => l.Contains("was deleted or moved away while the service ran"));
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
        }
        // Were answered stored: true while written to the deleted file (0 rows after a restart).
        Assert.Equal(after.Order(StringComparer.Ordinal), StoredIds(Path.Combine(data, "results.db")));
        Directory.Delete(data, recursive: true);
    }

    /// <summary>Runs one statement on its own connection (none pooled, so nothing stays open on the file) and returns its first value.</summary>
    static object? Sql(string database, string statement)
    {
        using var db = new SqliteConnection($"Data Source={database};Pooling=False");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = statement;
        return command.ExecuteScalar();
    }

    static List<string> StoredIds(string database)
    {
        using var db = new SqliteConnection($"Data Source={database};Pooling=False");
        db.Open();
        using var query = db.CreateCommand();
        query.CommandText = "SELECT id FROM inspections ORDER BY id";
        using var reader = query.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read()) ids.Add(reader.GetString(0));
        return ids;
    }

    static async Task<List<string>> ListedIds(RunningService service)
    {
        var list = JsonNode.Parse(await service.Client.GetStringAsync("/v1/inspections?limit=500"))!["inspections"]!.AsArray();
        return list.Select(p => (string)p!["id"]!).Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task A_file_renamed_over_results_db_while_serving_takes_its_place_damaged_or_not_and_keeps_its_own_contents()
    {
        string data;
        List<string> expected;
        await using (var service = await RunningService.StartAsync(models))
        {
            service.KeepDataFolder = true;
            data = service.DataFolder;
            var results = Path.Combine(data, "results.db");
            var first = (string)(await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut))["id"]!;
            // An operator's backup, marked so that its own contents can be told after the service is done with it.
            var backup = Path.Combine(data, "backup.db");
            Sql(results, $"VACUUM INTO '{backup}'");
            Sql(backup, "PRAGMA user_version = 42");
            var second = (string)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["id"]!;
            Assert.Equal([first, second], (await ListedIds(service)).Order(StringComparer.Ordinal));

            // A damaged file renamed over it: was not noticed (results went on into the replaced file, answered stored: true,
            // and readiness said ready).
            var damaged = Path.Combine(data, "damaged.db");
            File.WriteAllBytes(damaged, Enumerable.Repeat((byte)'A', 10_000).ToArray());
            File.Move(damaged, results, overwrite: true);
            var unstored = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
            Assert.False((bool)unstored["stored"]!, unstored.ToJsonString());
            Assert.Contains("is damaged", (string)unstored["storeError"]!);
            await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "is damaged");
            await AssertProblem(await service.Client.GetAsync("/v1/inspections"), 503, "is damaged");
            Assert.Contains(service.Log, l => l.Contains("Another file was renamed over the results database"));

            // The restore: the backup renamed over the damaged file. Ready at once; the list is the backup's, and results go into it.
            File.Move(backup, results, overwrite: true);
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
            var third = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
            Assert.True((bool)third["stored"]!, third.ToJsonString());
            expected = new[] { first, (string)third["id"]! }.Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, await ListedIds(service));
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
            // The replaced files' logs are set aside, not replayed into the file now at results.db.
            Assert.NotEmpty(Directory.GetFiles(data, "results.db-wal.orphaned-*"));
        }
        // What the next start sees. Was every row (the replaced file's log replayed over the backup's pages; its own
        // user_version gone with them), and a database renamed in that was not a copy of results.db lost its own tables.
        var path = Path.Combine(data, "results.db");
        Assert.Equal(expected, StoredIds(path));
        Assert.Equal(42L, (long)Sql(path, "PRAGMA user_version")!);
        Assert.Equal("ok", (string)Sql(path, "PRAGMA integrity_check")!);
        Directory.Delete(data, recursive: true);
    }

    [ReadOnlyFileFact]
    public async Task A_file_renamed_over_results_db_that_the_service_may_only_read_is_not_ready_before_a_result_fails()
    {
        await using var service = await RunningService.StartAsync(models);
        var results = Path.Combine(service.DataFolder, "results.db");
        // A copy with its tables and in WAL mode, as the service's own file is: taking it needs no write, only a result does.
        var other = Path.Combine(service.DataFolder, "other.db");
        Sql(results, $"VACUUM INTO '{other}'");
        Sql(other, "PRAGMA journal_mode=WAL");
        File.Move(other, results, overwrite: true);
        ReadOnlyFile.Set(results, readOnly: true);
        try
        {
            // Was "ready" until the first result failed to be stored, unlike the same file at start.
            await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "cannot be written");
            ReadOnlyFile.Set(results, readOnly: false);
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
            Assert.True((bool)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["stored"]!);
        }
        finally
        {
            if (File.Exists(results)) ReadOnlyFile.Set(results, readOnly: false);
        }
    }

    [Fact]
    public async Task Damage_in_a_page_no_read_or_write_touches_is_found_by_the_periodic_check_without_a_restart()
    {
        var (data, id) = await DataFolderWithOneStoredReject();
        await using var service = await RunningService.StartAsync(models, o => o with { DataFolder = data, StoreCheckInterval = TimeSpan.FromMilliseconds(300) });
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
        var path = Path.Combine(data, "results.db");
        long indexPage, pageSize;
        using (var db = new SqliteConnection($"Data Source={path};Pooling=False;Mode=ReadOnly"))
        {
            db.Open();
            using var query = db.CreateCommand();
            query.CommandText = "SELECT rootpage FROM sqlite_master WHERE name = 'inspections_category'";
            indexPage = (long)query.ExecuteScalar()!;
            query.CommandText = "PRAGMA page_size";
            pageSize = (long)query.ExecuteScalar()!;
        }
        // An index page that the reads of the page and of readiness do not touch, overwritten as a bad disk would.
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.Position = (indexPage - 1) * pageSize;
            file.Write(Enumerable.Repeat((byte)'A', (int)pageSize).ToArray());
        }
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync($"/v1/inspections/{id}")).StatusCode);
        // Was "ready" until the next restart: the whole file was checked at start only.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage ready;
        while ((ready = await service.Client.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            ready.Dispose();
            await Task.Delay(100);
        }
        await AssertProblem(ready, 503, MoveAwayAdvice);
        Assert.Single(service.Log, l => l.Contains("Found by the periodic check: the results database (results.db in the data folder) is damaged"));
    }

    [Fact]
    public async Task A_lock_held_by_another_program_costs_a_batch_the_busy_timeout_only_and_readiness_reports_it_until_it_is_gone()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { StoreBusyTimeout = TimeSpan.FromSeconds(1) });
        var holder = new SqliteConnection($"Data Source={service.Server.Store.DatabasePath};Pooling=False");
        holder.Open();
        using (var begin = holder.CreateCommand()) { begin.CommandText = "BEGIN EXCLUSIVE"; begin.ExecuteNonQuery(); }

        var clock = Stopwatch.StartNew();
        var part = await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut);
        // Was about 30 s (Microsoft.Data.Sqlite retries BUSY up to its 30 s command timeout, whatever busy_timeout says).
        // A batch costs the 1 s busy timeout and its scoring: 20 s leaves a loaded CI machine room, well short of the 30 s.
        Assert.InRange(clock.Elapsed.TotalSeconds, 0, 20);
        Assert.False((bool)part["stored"]!);
        Assert.Contains("locked by another program", (string)part["storeError"]!);
        await AssertProblem(await service.Client.GetAsync("/health/ready"), 503, "locked by another program");

        using (var rollback = holder.CreateCommand()) { rollback.CommandText = "ROLLBACK"; rollback.ExecuteNonQuery(); }
        holder.Dispose();
        // The lock is gone: ready again at once (not only after the next part), and results are stored.
        Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/health/ready")).StatusCode);
        Assert.True((bool)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut))["stored"]!);
    }

    [Fact]
    public async Task Query_parameters_that_are_wrong_are_named_with_what_is_allowed_and_verdict_is_read_in_any_case()
    {
        await using var service = await RunningService.StartAsync(models);
        var jpeg = File.ReadAllBytes(ServiceModels.GoodHazelnut);
        // All were 400 {"title":"Bad Request"} with nothing else.
        await AssertProblem(await service.PostImageAsync("hazelnut", jpeg, "?heatmap=abc"), 400, "heatmap=true");
        await AssertProblem(await service.PostImageAsync("hazelnut", jpeg, "?heatmap=true&heatmap=false"), 400, "?heatmap is given 2 times");
        await AssertProblem(await service.Client.GetAsync("/v1/inspections?limit=abc"), 400, "limit=abc is not accepted; use a whole number from 1 to 500");
        await AssertProblem(await service.Client.GetAsync("/v1/inspections?limit=99999999999999"), 400, "1 to 500");
        // ALL was refused while ANOMALY and Ok were accepted.
        foreach (var verdict in new[] { "ALL", "All", "ANOMALY", "Ok" })
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync($"/v1/inspections?verdict={verdict}")).StatusCode);
        Assert.Equal("OK", (string)(await service.InspectAsync("hazelnut", ServiceModels.GoodHazelnut, "?heatmap=False"))["verdict"]!);
    }

    [Fact]
    public async Task HEAD_is_answered_wherever_GET_is_and_the_page_sends_its_security_headers()
    {
        await using var service = await RunningService.StartAsync(models);
        foreach (var path in new[] { "/", "/health/live", "/health/ready", "/v1/inspections", "/app.js" })
        {
            using var head = await service.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
            Assert.True(head.StatusCode == HttpStatusCode.OK, $"HEAD {path}: {(int)head.StatusCode}"); // was 405
        }
        using var page = await service.Client.GetAsync("/");
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        var policy = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("frame-ancestors 'none'", policy);
        Assert.Contains("script-src 'self'", policy);
    }

    [Fact]
    public async Task Clients_get_names_not_the_servers_paths_and_a_refused_file_is_logged_once_until_it_changes()
    {
        await using var service = await RunningService.StartAsync(models);
        // Written beside and moved in, as a deploy does: the folder watcher must not see a file half written (a change).
        foreach (var (name, text) in new[] { ("<img src=x>.pfmodel", "junk"), ("broken.pfmodel", "not a model") })
        {
            var staged = Path.Combine(service.DataFolder, name);
            File.WriteAllText(staged, text);
            File.Move(staged, Path.Combine(service.ModelsFolder, name));
        }
        for (int i = 0; i < 3; i++) service.Server.CheckModelsNow();
        // Was logged again on every scan (every 2 s).
        Assert.Single(service.Log, l => l.Contains("Refused model file") && l.Contains("<img src=x>"));
        Assert.Single(service.Log, l => l.Contains("Refused model file") && l.Contains("broken.pfmodel"));

        var texts = new List<string>
        {
            await service.Client.GetStringAsync("/v1/models"),
            await (await service.Client.GetAsync("/v1/models/nope")).Content.ReadAsStringAsync(),
            await (await service.PostImageAsync("nope", File.ReadAllBytes(ServiceModels.GoodHazelnut))).Content.ReadAsStringAsync(),
        };
        var models_ = JsonNode.Parse(texts[0])!;
        Assert.Equal("hazelnut.pfmodel", (string)models_["models"]![0]!["file"]!);
        Assert.Contains(models_["refused"]!.AsArray(), r => (string)r!["file"]! == "broken.pfmodel");
        File.Delete(Path.Combine(service.ModelsFolder, "hazelnut.pfmodel"));
        service.Server.CheckModelsNow();
        texts.Add(await (await service.Client.GetAsync("/health/ready")).Content.ReadAsStringAsync());
        foreach (var text in texts)
        {
            Assert.DoesNotContain(service.ModelsFolder, text);
            Assert.DoesNotContain(service.DataFolder, text);
        }
    }

    [Fact]
    public async Task A_key_with_characters_beyond_ASCII_gets_the_403_problem_not_an_empty_400()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { ApiKey = "key-0123456789", KeyRequiredOnLoopback = true });
        // HttpClient refuses to send such a header; a client that does is written by hand.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(service.Server.BaseAddress.Host, service.Server.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes(
            $"POST /v1/inspect/hazelnut HTTP/1.1\r\nHost: localhost\r\n{ServiceOptions.ApiKeyHeader}: clé-é\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        var answer = await new StreamReader(stream, Encoding.UTF8).ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 403", answer);
        Assert.Contains("application/problem+json", answer);
        Assert.Contains("does not match", answer);
    }

    [Fact]
    public async Task Decoding_failures_say_what_to_do_and_every_size_refusal_is_413()
    {
        await using var service = await RunningService.StartAsync(models);
        var jpeg = File.ReadAllBytes(ServiceModels.GoodHazelnut);
        using var cut = await service.PostImageAsync("hazelnut", jpeg[..20000]);
        var text = await cut.Content.ReadAsStringAsync();
        await AssertProblem(cut, 422, "Send the complete file"); // was "Cannot decode image <internal id>: InvalidInput."
        Assert.Contains("truncated or damaged", text);
        // Wider than the engine reads: was 422 from the engine, while every other size refusal is 413.
        using var wide = new SkiaSharp.SKBitmap(20000, 1);
        await AssertProblem(await service.PostImageAsync("hazelnut", wide.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100).ToArray()), 413, "longer than 16384 pixels");
    }

    [Fact]
    public async Task A_question_the_explainer_did_not_answer_carries_the_note_that_says_so_in_the_answer_and_the_store()
    {
        await using var service = await RunningService.StartAsync(models);
        var part = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        using var asked = await service.Client.PostAsync($"/v1/explain/{part["id"]}", JsonBody("what is your api key?"));
        var answer = JsonNode.Parse(await asked.Content.ReadAsStringAsync())!;
        // The offline explainer cannot answer questions: it says so instead of passing its explanation off as the answer.
        Assert.Contains(answer["notes"]!.AsArray(), n => ((string)n!).Contains("answers every question with the explanation"));
        var stored = (await Json(service.Client, $"/v1/inspections/{part["id"]}"))["explanations"]![0]!;
        Assert.Equal(answer["notes"]!.ToJsonString(), stored["notes"]!.ToJsonString());
    }

    [Fact]
    public async Task A_batch_decodes_at_most_its_pixel_budget_at_once()
    {
        // One 512 x 512 image per batch: four waiting requests are four batches, not one.
        await using var service = await RunningService.StartAsync(models, o => o with { MaxBatchPixels = 512 * 512 });
        var jpeg = File.ReadAllBytes(ServiceModels.GoodHazelnut);
        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => service.PostImageAsync("hazelnut", jpeg)));
        foreach (var response in responses)
        {
            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal(1, (int)json["timings"]!["batchSize"]!);
        }
    }

    [Fact]
    public async Task With_no_reject_images_kept_an_answer_links_no_image()
    {
        await using var service = await RunningService.StartAsync(models, o => o with { RejectImagesKept = 0 });
        var reject = await service.InspectAsync("hazelnut", ServiceModels.DefectiveHazelnut);
        Assert.True((bool)reject["stored"]!);
        Assert.Null(reject["links"]!["image"]); // linked an image the retention had already deleted
        Assert.Empty(Directory.GetFiles(Path.Combine(service.DataFolder, "rejects")));
    }
}
