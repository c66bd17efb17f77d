using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;

namespace PipelineFramework.Service;

/// <summary>One inspected part as stored and as the API and the page show it.</summary>
public sealed record StoredInspection
{
    public required string Id { get; init; }
    public required string Category { get; init; }
    public required DateTime ReceivedUtc { get; init; }
    public required bool IsAnomaly { get; init; }
    public required double Score { get; init; }
    public required double RawScore { get; init; }
    public required double Threshold { get; init; }
    public required string ModelId { get; init; }
    public required int ModelVersion { get; init; }
    public required int MapWidth { get; init; }
    public required int MapHeight { get; init; }
    public IReadOnlyList<DefectRegion> Regions { get; init; } = [];
    public IReadOnlyList<RuleResult> Rules { get; init; } = [];
    public IReadOnlyDictionary<string, double> Timings { get; init; } = new Dictionary<string, double>();
    /// <summary>File names under the rejects folder; null for good parts and after retention removed them.</summary>
    public string? ImageFile { get; init; }
    /// <summary>The reject's raw heat map (see <see cref="RejectOverlay"/>); the overlay PNG is drawn from it on first view.</summary>
    public string? HeatFile { get; init; }
    /// <summary>Why the image is unlike the model's fitted images (<see cref="Core.Engine.InspectionResult.InputWarning"/>); null when it is like them.</summary>
    public string? InputWarning { get; init; }
}

/// <param name="Notes">What the reader must know about the answer, e.g. that the question was not answered and the
/// offline explanation stands in for it (<see cref="PipelineFramework.Abstractions.Explanation.Notes"/>).</param>
public sealed record StoredExplanation(string InspectionId, DateTime AskedUtc, string? Question, string Verdict, string Summary,
    IReadOnlyList<string> Reasons, string Source, IReadOnlyList<string> Notes);

/// <summary>
/// Results in one SQLite file (WAL, synchronous=FULL: a committed write survives a crash or power cut) and the images
/// of rejects beside it. A batch's results are written in one transaction before any of its responses is sent; the
/// image files are written (atomically) before the row that names them. Reject images beyond the retention count are
/// deleted oldest first; their rows stay, with the file names cleared.
/// </summary>
public sealed class ResultsStore : IDisposable
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    readonly string _connection;
    readonly int _rejectImagesKept;
    readonly int _busyMilliseconds;
    readonly Lock _writeLock = new();
    readonly ILogger _log;
    // The last write's failure (null once a write succeeds), for readiness; a damaged file is lasting: it does not heal.
    WriteFailure? _writeFailure;
    sealed record WriteFailure(string Advice, bool Lasting);

    /// <param name="busyTimeout">How long a write waits for another process's lock on the file before it fails.</param>
    public ResultsStore(string dataFolder, int rejectImagesKept, TimeSpan busyTimeout, ILogger log)
    {
        _log = log;
        Directory.CreateDirectory(dataFolder);
        RejectsFolder = Path.Combine(dataFolder, "rejects");
        Directory.CreateDirectory(RejectsFolder);
        DatabasePath = Path.Combine(dataFolder, "results.db");
        _busyMilliseconds = (int)Math.Clamp(busyTimeout.TotalMilliseconds, 1, int.MaxValue);
        _connection = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true,
            // Microsoft.Data.Sqlite retries SQLITE_BUSY itself until the command timeout (30 s by default), whatever
            // busy_timeout says: both are set to the same bound, or a lock held elsewhere stalls the line for 30 s a batch.
            DefaultTimeout = (int)Math.Ceiling(_busyMilliseconds / 1000.0),
        }.ToString();
        _rejectImagesKept = rejectImagesKept;
        CreateSchema();
        // A database that cannot be read (damaged) must not keep the service from starting: its reads answer 503.
        try { RemoveOrphanRejectFiles(); }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("Reject files that no stored result names were not looked for: {Message}", e.Message);
        }
    }

    /// <summary>
    /// Reject files that no row names: written before a commit that never came (the process killed between the two).
    /// Retention only deletes files that rows name, so these would stay forever. Only files older than an hour go: a
    /// second service on the same data folder may be between writing a reject's files and committing its row.
    /// </summary>
    void RemoveOrphanRejectFiles()
    {
        var named = new HashSet<string>(StringComparer.Ordinal);
        using (var db = Open())
        using (var query = db.CreateCommand())
        {
            query.CommandText = "SELECT id, image_file, heat_file FROM inspections WHERE image_file IS NOT NULL";
            using var reader = query.ExecuteReader();
            while (reader.Read())
            {
                named.Add(OverlayName(reader.GetString(0)));
                named.Add(reader.GetString(1));
                if (!reader.IsDBNull(2)) named.Add(reader.GetString(2));
            }
        }
        var before = DateTime.UtcNow - TimeSpan.FromHours(1);
        foreach (var file in new DirectoryInfo(RejectsFolder).EnumerateFiles())
            if (!named.Contains(file.Name) && file.LastWriteTimeUtc < before)
            {
                file.Delete();
                _log.LogWarning("Removed {File}: a reject file no stored result names (its result was never stored)", file.FullName);
            }
    }

    void CreateSchema()
    {
        using var db = Open();
        Execute(db, "PRAGMA journal_mode=WAL;");
        Execute(db, """
            CREATE TABLE IF NOT EXISTS inspections (
              id TEXT PRIMARY KEY, category TEXT NOT NULL, received_utc TEXT NOT NULL, is_anomaly INTEGER NOT NULL,
              score REAL NOT NULL, raw_score REAL NOT NULL, threshold REAL NOT NULL, model_id TEXT NOT NULL, model_version INTEGER NOT NULL,
              map_width INTEGER NOT NULL, map_height INTEGER NOT NULL, regions TEXT NOT NULL, rules TEXT NOT NULL, timings TEXT NOT NULL,
              image_file TEXT, heat_file TEXT);
            CREATE INDEX IF NOT EXISTS inspections_recent ON inspections (received_utc DESC);
            CREATE INDEX IF NOT EXISTS inspections_category ON inspections (category, received_utc DESC);
            CREATE TABLE IF NOT EXISTS explanations (
              seq INTEGER PRIMARY KEY AUTOINCREMENT, inspection_id TEXT NOT NULL REFERENCES inspections(id), asked_utc TEXT NOT NULL,
              question TEXT, verdict TEXT NOT NULL, summary TEXT NOT NULL, reasons TEXT NOT NULL, source TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS explanations_inspection ON explanations (inspection_id, seq);
            """);
        // Added 2026-11-28: a results.db written before gets the column, its rows null (nothing was flagged then).
        if (!HasColumn(db, "inspections", "input_warning")) Execute(db, "ALTER TABLE inspections ADD COLUMN input_warning TEXT;");
        // Added 2026-11-29: an explanation's notes (a question not answered, ...); earlier rows have none.
        if (!HasColumn(db, "explanations", "notes")) Execute(db, "ALTER TABLE explanations ADD COLUMN notes TEXT;");
    }

    public string DatabasePath { get; }
    public string RejectsFolder { get; }

    SqliteConnection Open()
    {
        var db = new SqliteConnection(_connection);
        db.Open();
        // Per connection: durable commits (WAL + FULL syncs the log on every commit) and waits instead of SQLITE_BUSY.
        Execute(db, $"PRAGMA synchronous=FULL; PRAGMA busy_timeout={_busyMilliseconds}; PRAGMA foreign_keys=ON;");
        return db;
    }

    static void Execute(SqliteConnection db, string sql)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Writes a reject's image and heat map atomically; returns their file names for the row.</summary>
    public (string Image, string Heat) SaveRejectFiles(string id, byte[] image, string extension, byte[] heatFile)
    {
        string imageName = id + extension, heatName = id + ".heat";
        AtomicFile.Write(Path.Combine(RejectsFolder, imageName), s => s.Write(image));
        AtomicFile.Write(Path.Combine(RejectsFolder, heatName), s => s.Write(heatFile));
        return (imageName, heatName);
    }

    static string OverlayName(string id) => id + ".overlay.png";

    /// <summary>A reject's overlay PNG: drawn from its image and heat map on first request, then kept with them.</summary>
    public byte[] Overlay(StoredInspection r, Func<Core.Images.Preprocessing?> preprocessing)
    {
        var path = Path.Combine(RejectsFolder, OverlayName(r.Id));
        if (File.Exists(path)) return File.ReadAllBytes(path);
        var geometry = preprocessing() ?? throw new PipelineFramework.Abstractions.PipelineException(
            $"no model is served for '{r.Category}' now, and the overlay is drawn through its preprocessing");
        var png = RejectOverlay.Render(File.ReadAllBytes(Path.Combine(RejectsFolder, r.ImageFile!)), File.ReadAllBytes(Path.Combine(RejectsFolder, r.HeatFile!)), r.Id, geometry);
        AtomicFile.Write(path, s => s.Write(png));
        return png;
    }

    /// <summary>
    /// Every write goes through here: it runs under the write lock, into the file that is at <see cref="DatabasePath"/>
    /// now, and its outcome is what readiness reports until the next write.
    /// </summary>
    T Write<T>(Func<SqliteConnection, T> write)
    {
        lock (_writeLock)
        {
            try
            {
                RecreateIfDeleted();
                T result;
                using (var db = Open()) result = write(db);
                // Deleted during this write: the rows went to the deleted file and are lost with it; say so.
                if (!File.Exists(DatabasePath))
                    throw new IOException("results.db was deleted from the data folder while this result was written; it went with the deleted file.");
                _writeFailure = null;
                return result;
            }
            catch (Exception e)
            {
                _writeFailure = new(Advice(e), e is SqliteException { SqliteErrorCode: 11 or 26 });
                throw;
            }
        }
    }

    /// <summary>
    /// results.db deleted (or moved away) while serving: the pooled connections would go on writing to the deleted file,
    /// answering stored: true for rows that vanish with it. They are closed and a new file is created instead. The
    /// deleted database's results.db-wal and -shm are set aside first: SQLite leaves them when a moved database's
    /// connections close, and a new results.db would replay that log as its own.
    /// </summary>
    void RecreateIfDeleted()
    {
        if (File.Exists(DatabasePath)) return;
        SqliteConnection.ClearPool(new SqliteConnection(_connection));
        var suffix = $".orphaned-{DateTime.UtcNow:yyyyMMddTHHmmss}";
        foreach (var log in new[] { DatabasePath + "-wal", DatabasePath + "-shm" })
            if (File.Exists(log)) File.Move(log, log + suffix, overwrite: true);
        _log.LogError("The results database {Path} was deleted or moved away while the service ran; the results it held are not in the data folder " +
            "any more (restore them from a backup; its last writes are in results.db-wal{Suffix}). A new results.db keeps the results from now on.", DatabasePath, suffix);
        CreateSchema();
    }

    /// <summary>What a failed store means for an operator and what to do, without the file's path (clients read it too).</summary>
    public string Advice(Exception e) => e switch
    {
        SqliteException { SqliteErrorCode: 11 or 26 } =>
            $"the results database (results.db in the data folder) is damaged ({e.Message}). Stop the service, move results.db (with results.db-wal and " +
            "results.db-shm) out of the data folder, then restore it from a backup or let the service start a new one (`sqlite3 results.db .recover` may save its rows)",
        SqliteException { SqliteErrorCode: 5 or 6 } =>
            $"the results database is locked by another program for longer than {_busyMilliseconds / 1000.0:0.#} s ({e.Message}). Stop the program that holds it (an open sqlite3 shell, a backup)",
        SqliteException { SqliteErrorCode: 8 } =>
            $"the results database cannot be written ({e.Message}). Give the service's user write permission on results.db and the data folder",
        SqliteException { SqliteErrorCode: 13 } =>
            $"the disk of the data folder is full ({e.Message}). Free space there",
        SqliteException => $"the results database cannot be used ({e.Message}). Check results.db and the data folder",
        _ => e.Message.TrimEnd('.'),
    };

    /// <summary>
    /// Null when results can be stored; otherwise why not (readiness). After a failed write a cheap write probe
    /// (<see cref="ProbeWrite"/>) decides, so a lock that is gone or a file made writable again turns ready
    /// without waiting for a result to be stored; a damaged file stays not ready until an operator acts.
    /// </summary>
    public string? Problem()
    {
        try
        {
            if (Volatile.Read(ref _writeFailure) is { } failure)
            {
                // A damaged file does not heal; one moved away is replaced by the probe below.
                if (failure.Lasting && File.Exists(DatabasePath)) return $"the last write failed and none has succeeded since: {failure.Advice}";
                Write(db => { ProbeWrite(db); return true; });
            }
            else if (!File.Exists(DatabasePath)) Write(_ => true); // deleted: the new file is created now, not at the next result
            using var reader = Open();
            Execute(reader, "SELECT 1 FROM inspections LIMIT 1");
            return null;
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException) { return $"the results database does not answer: {Advice(e)}"; }
    }

    /// <summary>
    /// Writes a page and takes it back. Taking the write lock alone (BEGIN IMMEDIATE) succeeds on a file the service may
    /// only read, which kept readiness at "ready" while every result failed to be stored; setting the header's
    /// user_version to its own value makes SQLite write, and refuse there.
    /// </summary>
    static void ProbeWrite(SqliteConnection db)
    {
        using var read = db.CreateCommand();
        read.CommandText = "PRAGMA user_version";
        long version = Convert.ToInt64(read.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        Execute(db, $"BEGIN IMMEDIATE; PRAGMA user_version = {version}; ROLLBACK;");
    }

    /// <summary>Stores a batch in one durable transaction, then applies the reject image retention; returns the ids whose images it deleted.</summary>
    public IReadOnlySet<string> Save(IReadOnlyList<StoredInspection> batch)
    {
        if (batch.Count == 0) return new HashSet<string>();
        return Write(db =>
        {
            using (var tx = db.BeginTransaction())
            {
                using var insert = db.CreateCommand();
                insert.Transaction = tx;
                insert.CommandText = """
                    INSERT INTO inspections (id, category, received_utc, is_anomaly, score, raw_score, threshold, model_id, model_version,
                      map_width, map_height, regions, rules, timings, image_file, heat_file, input_warning)
                    VALUES ($id, $category, $received, $anomaly, $score, $raw, $threshold, $model, $version, $mw, $mh, $regions, $rules, $timings, $image, $heat, $unlike)
                    """;
                foreach (var r in batch)
                {
                    insert.Parameters.Clear();
                    insert.Parameters.AddWithValue("$id", r.Id);
                    insert.Parameters.AddWithValue("$category", r.Category);
                    insert.Parameters.AddWithValue("$received", Time(r.ReceivedUtc));
                    insert.Parameters.AddWithValue("$anomaly", r.IsAnomaly ? 1 : 0);
                    insert.Parameters.AddWithValue("$score", r.Score);
                    insert.Parameters.AddWithValue("$raw", r.RawScore);
                    insert.Parameters.AddWithValue("$threshold", r.Threshold);
                    insert.Parameters.AddWithValue("$model", r.ModelId);
                    insert.Parameters.AddWithValue("$version", r.ModelVersion);
                    insert.Parameters.AddWithValue("$mw", r.MapWidth);
                    insert.Parameters.AddWithValue("$mh", r.MapHeight);
                    insert.Parameters.AddWithValue("$regions", JsonSerializer.Serialize(r.Regions, Json));
                    insert.Parameters.AddWithValue("$rules", JsonSerializer.Serialize(r.Rules, Json));
                    insert.Parameters.AddWithValue("$timings", JsonSerializer.Serialize(r.Timings, Json));
                    insert.Parameters.AddWithValue("$image", (object?)r.ImageFile ?? DBNull.Value);
                    insert.Parameters.AddWithValue("$heat", (object?)r.HeatFile ?? DBNull.Value);
                    insert.Parameters.AddWithValue("$unlike", (object?)r.InputWarning ?? DBNull.Value);
                    insert.ExecuteNonQuery();
                }
                tx.Commit();
            }
            return batch.Any(r => r.ImageFile is not null) ? ApplyRetention(db) : new HashSet<string>();
        });
    }

    /// <summary>Removes the files of a reject whose result was not stored: no row names them, so retention never would.</summary>
    public void DeleteRejectFiles(StoredInspection r) => DeleteRejectFiles(r.Id, r.ImageFile, r.HeatFile);

    /// <summary>A reject's image, heat map and overlay (made when first asked for); a file that is not there is no error.</summary>
    void DeleteRejectFiles(string id, string? image, string? heat)
    {
        foreach (var name in new[] { image, heat, OverlayName(id) })
            if (name is not null) File.Delete(Path.Combine(RejectsFolder, name));
    }

    IReadOnlySet<string> ApplyRetention(SqliteConnection db)
    {
        var expired = new List<(string Id, string? Image, string? Heat)>();
        using (var query = db.CreateCommand())
        {
            query.CommandText = "SELECT id, image_file, heat_file FROM inspections WHERE image_file IS NOT NULL ORDER BY received_utc DESC, id DESC LIMIT -1 OFFSET $keep";
            query.Parameters.AddWithValue("$keep", _rejectImagesKept);
            using var reader = query.ExecuteReader();
            while (reader.Read()) expired.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
        }
        if (expired.Count == 0) return new HashSet<string>();
        // Rows first: a row never names a file that is gone; a file whose row was cleared is only disk space.
        using (var tx = db.BeginTransaction())
        {
            using var clear = db.CreateCommand();
            clear.Transaction = tx;
            clear.CommandText = "UPDATE inspections SET image_file = NULL, heat_file = NULL WHERE id = $id";
            var id = clear.Parameters.Add("$id", SqliteType.Text);
            foreach (var e in expired) { id.Value = e.Id; clear.ExecuteNonQuery(); }
            tx.Commit();
        }
        foreach (var e in expired) DeleteRejectFiles(e.Id, e.Image, e.Heat);
        return expired.Select(e => e.Id).ToHashSet();
    }

    public void SaveExplanation(StoredExplanation explanation) => Write(db =>
    {
            using var insert = db.CreateCommand();
            insert.CommandText = """
                INSERT INTO explanations (inspection_id, asked_utc, question, verdict, summary, reasons, source, notes)
                VALUES ($id, $asked, $question, $verdict, $summary, $reasons, $source, $notes)
                """;
            insert.Parameters.AddWithValue("$id", explanation.InspectionId);
            insert.Parameters.AddWithValue("$asked", Time(explanation.AskedUtc));
            insert.Parameters.AddWithValue("$question", (object?)explanation.Question ?? DBNull.Value);
            insert.Parameters.AddWithValue("$verdict", explanation.Verdict);
            insert.Parameters.AddWithValue("$summary", explanation.Summary);
            insert.Parameters.AddWithValue("$reasons", JsonSerializer.Serialize(explanation.Reasons, Json));
            insert.Parameters.AddWithValue("$source", explanation.Source);
            insert.Parameters.AddWithValue("$notes", JsonSerializer.Serialize(explanation.Notes, Json));
            return insert.ExecuteNonQuery();
    });

    /// <summary>Closes the pooled connections, so the WAL is checkpointed and the file stands alone.</summary>
    public void Dispose()
    {
        using var db = new SqliteConnection(_connection);
        SqliteConnection.ClearPool(db);
    }

    public StoredInspection? Find(string id)
    {
        using var db = Open();
        using var query = db.CreateCommand();
        query.CommandText = $"SELECT {Columns} FROM inspections WHERE id = $id";
        query.Parameters.AddWithValue("$id", id);
        using var reader = query.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>Most recent first; <paramref name="anomalous"/> null = both verdicts.</summary>
    public IReadOnlyList<StoredInspection> Recent(string? category, bool? anomalous, int limit)
    {
        using var db = Open();
        using var query = db.CreateCommand();
        var where = new List<string>();
        if (category is not null) { where.Add("category = $category"); query.Parameters.AddWithValue("$category", category); }
        if (anomalous is { } a) { where.Add("is_anomaly = $anomaly"); query.Parameters.AddWithValue("$anomaly", a ? 1 : 0); }
        query.CommandText = $"SELECT {Columns} FROM inspections {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")} ORDER BY received_utc DESC, id DESC LIMIT $limit";
        query.Parameters.AddWithValue("$limit", limit);
        using var reader = query.ExecuteReader();
        var results = new List<StoredInspection>();
        while (reader.Read()) results.Add(Read(reader));
        return results;
    }

    public IReadOnlyList<StoredExplanation> Explanations(string inspectionId)
    {
        using var db = Open();
        using var query = db.CreateCommand();
        query.CommandText = "SELECT inspection_id, asked_utc, question, verdict, summary, reasons, source, notes FROM explanations WHERE inspection_id = $id ORDER BY seq";
        query.Parameters.AddWithValue("$id", inspectionId);
        using var reader = query.ExecuteReader();
        var results = new List<StoredExplanation>();
        while (reader.Read())
            results.Add(new StoredExplanation(reader.GetString(0), ParseTime(reader.GetString(1)), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3), reader.GetString(4), JsonSerializer.Deserialize<List<string>>(reader.GetString(5), Json) ?? [], reader.GetString(6),
                reader.IsDBNull(7) ? [] : JsonSerializer.Deserialize<List<string>>(reader.GetString(7), Json) ?? []));
        return results;
    }

    const string Columns = "id, category, received_utc, is_anomaly, score, raw_score, threshold, model_id, model_version, map_width, map_height, regions, rules, timings, image_file, heat_file, input_warning";

    static StoredInspection Read(SqliteDataReader r) => new()
    {
        Id = r.GetString(0), Category = r.GetString(1), ReceivedUtc = ParseTime(r.GetString(2)), IsAnomaly = r.GetInt64(3) != 0,
        Score = r.GetDouble(4), RawScore = r.GetDouble(5), Threshold = r.GetDouble(6), ModelId = r.GetString(7), ModelVersion = r.GetInt32(8),
        MapWidth = r.GetInt32(9), MapHeight = r.GetInt32(10),
        Regions = JsonSerializer.Deserialize<List<DefectRegion>>(r.GetString(11), Json) ?? [],
        Rules = JsonSerializer.Deserialize<List<RuleResult>>(r.GetString(12), Json) ?? [],
        Timings = JsonSerializer.Deserialize<Dictionary<string, double>>(r.GetString(13), Json) ?? [],
        ImageFile = r.IsDBNull(14) ? null : r.GetString(14), HeatFile = r.IsDBNull(15) ? null : r.GetString(15),
        InputWarning = r.IsDBNull(16) ? null : r.GetString(16),
    };

    static bool HasColumn(SqliteConnection db, string table, string column)
    {
        using var command = db.CreateCommand();
        command.CommandText = $"SELECT 1 FROM pragma_table_info('{table}') WHERE name = $column";
        command.Parameters.AddWithValue("$column", column);
        return command.ExecuteScalar() is not null;
    }

    // Fixed-width UTC text sorts in time order.
    static string Time(DateTime utc) => utc.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture);
    static DateTime ParseTime(string text) => DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
}
