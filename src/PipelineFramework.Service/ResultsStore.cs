using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
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

public sealed record StoredExplanation(string InspectionId, DateTime AskedUtc, string? Question, string Verdict, string Summary,
    IReadOnlyList<string> Reasons, string Source);

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
    readonly Lock _writeLock = new();

    public ResultsStore(string dataFolder, int rejectImagesKept)
    {
        Directory.CreateDirectory(dataFolder);
        RejectsFolder = Path.Combine(dataFolder, "rejects");
        Directory.CreateDirectory(RejectsFolder);
        DatabasePath = Path.Combine(dataFolder, "results.db");
        _connection = new SqliteConnectionStringBuilder { DataSource = DatabasePath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true }.ToString();
        _rejectImagesKept = rejectImagesKept;
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
    }

    public string DatabasePath { get; }
    public string RejectsFolder { get; }

    SqliteConnection Open()
    {
        var db = new SqliteConnection(_connection);
        db.Open();
        // Per connection: durable commits (WAL + FULL syncs the log on every commit) and waits instead of SQLITE_BUSY.
        Execute(db, "PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;");
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

    /// <summary>Stores a batch in one durable transaction, then applies the reject image retention.</summary>
    public void Save(IReadOnlyList<StoredInspection> batch)
    {
        if (batch.Count == 0) return;
        lock (_writeLock)
        {
            using var db = Open();
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
            if (batch.Any(r => r.ImageFile is not null)) ApplyRetention(db);
        }
    }

    void ApplyRetention(SqliteConnection db)
    {
        var expired = new List<(string Id, string? Image, string? Heat)>();
        using (var query = db.CreateCommand())
        {
            query.CommandText = "SELECT id, image_file, heat_file FROM inspections WHERE image_file IS NOT NULL ORDER BY received_utc DESC, id DESC LIMIT -1 OFFSET $keep";
            query.Parameters.AddWithValue("$keep", _rejectImagesKept);
            using var reader = query.ExecuteReader();
            while (reader.Read()) expired.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
        }
        if (expired.Count == 0) return;
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
        foreach (var e in expired)
            foreach (var name in new[] { e.Image, e.Heat, OverlayName(e.Id) })
                if (name is not null) File.Delete(Path.Combine(RejectsFolder, name));
    }

    public void SaveExplanation(StoredExplanation explanation)
    {
        lock (_writeLock)
        {
            using var db = Open();
            using var insert = db.CreateCommand();
            insert.CommandText = """
                INSERT INTO explanations (inspection_id, asked_utc, question, verdict, summary, reasons, source)
                VALUES ($id, $asked, $question, $verdict, $summary, $reasons, $source)
                """;
            insert.Parameters.AddWithValue("$id", explanation.InspectionId);
            insert.Parameters.AddWithValue("$asked", Time(explanation.AskedUtc));
            insert.Parameters.AddWithValue("$question", (object?)explanation.Question ?? DBNull.Value);
            insert.Parameters.AddWithValue("$verdict", explanation.Verdict);
            insert.Parameters.AddWithValue("$summary", explanation.Summary);
            insert.Parameters.AddWithValue("$reasons", JsonSerializer.Serialize(explanation.Reasons, Json));
            insert.Parameters.AddWithValue("$source", explanation.Source);
            insert.ExecuteNonQuery();
        }
    }

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
        query.CommandText = "SELECT inspection_id, asked_utc, question, verdict, summary, reasons, source FROM explanations WHERE inspection_id = $id ORDER BY seq";
        query.Parameters.AddWithValue("$id", inspectionId);
        using var reader = query.ExecuteReader();
        var results = new List<StoredExplanation>();
        while (reader.Read())
            results.Add(new StoredExplanation(reader.GetString(0), ParseTime(reader.GetString(1)), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3), reader.GetString(4), JsonSerializer.Deserialize<List<string>>(reader.GetString(5), Json) ?? [], reader.GetString(6)));
        return results;
    }

    /// <summary>Whether the database answers a query (readiness).</summary>
    public bool IsHealthy()
    {
        try
        {
            using var db = Open();
            Execute(db, "SELECT 1 FROM inspections LIMIT 1");
            return true;
        }
        catch (SqliteException) { return false; }
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
