using System.Diagnostics;
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
/// deleted oldest first; their rows stay, with the file names cleared. One store (one service) per data folder.
/// </summary>
public sealed class ResultsStore : IDisposable
{
    /// <summary>Held by the service that uses the data folder, for as long as it runs.</summary>
    public const string LockFileName = ".pf-serve.lock";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    readonly string _connection;
    readonly int _rejectImagesKept;
    readonly int _busyMilliseconds;
    readonly Lock _writeLock = new();
    readonly ILogger _log;
    readonly FileLock _folderLock;
    // Why results cannot be stored or read now, for readiness; null when they can. A write's failure lasts until a write
    // succeeds; damage (found by the start-up check, a read or a write) does not heal: it lasts until results.db is
    // moved away and a new one is created.
    StoreFailure? _failure;
    sealed record StoreFailure(string Reason, bool Damage);
    // The file the pooled connections have open: a file renamed over results.db has another identity, and the pool
    // would go on writing into the replaced one, which nobody sees any more.
    volatile FileIdentity? _openedFile;
    // The file now at results.db (one renamed over it, or a new one) has not been given its tables and write probe yet.
    volatile bool _newFileUnprepared;
    // The checks of the whole file (at start, when another file takes results.db's place, and every _checkInterval),
    // and the connection of the one running (Dispose interrupts it).
    readonly Task? _wholeFileChecks;
    readonly TimeSpan _checkInterval;
    readonly SemaphoreSlim _checkNewFile = new(0);
    readonly CancellationTokenSource _stopChecks = new();
    SqliteConnection? _checking;
    bool _stopping;
    readonly Lock _checkingLock = new();

    /// <param name="busyTimeout">How long a write waits for another process's lock on the file before it fails.</param>
    /// <param name="checkInterval">How often every page is checked for damage after the check at start.</param>
    /// <exception cref="PipelineException">Another service uses the data folder.</exception>
    public ResultsStore(string dataFolder, int rejectImagesKept, TimeSpan busyTimeout, TimeSpan checkInterval, ILogger log)
    {
        _checkInterval = checkInterval;
        _log = log;
        Directory.CreateDirectory(dataFolder);
        // Two services on one folder lost results: when one created a new results.db for a deleted one, the other went on
        // writing into the deleted file (its pooled connections keep it open), answering stored: true. The OS releases
        // the lock when the process ends, a killed one included.
        _folderLock = FileLock.TryAcquire(Path.Combine(dataFolder, LockFileName), TimeSpan.Zero)
            ?? throw new PipelineException($"Another pf serve is using the data folder '{dataFolder}' (it holds {LockFileName} there). " +
                "Stop that service, or give this one its own --data folder: two services on one results.db lose results.");
        try
        {
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
            // A damaged database must not keep the service from starting (parts are still scored, answered stored: false);
            // readiness says so from the start, with what to do.
            try { CreateSchema(); }
            catch (SqliteException e) when (IsDamage(e))
            {
                NoteDamageFound("at start", Advice(e));
                _openedFile = RegularFile.Identity(DatabasePath);
                _wholeFileChecks = Task.Run(CheckWholeFileNowAndThen);
                return;
            }
            _openedFile = RegularFile.Identity(DatabasePath);
            try { RemoveOrphanRejectFiles(); }
            catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
            {
                _log.LogWarning("Reject files that no stored result names were not looked for: {Message}", e.Message);
            }
            // A write probe now, not after the first result: a file the service may only read is not ready from the start.
            try { Write(db => { ProbeWrite(db); return true; }); }
            catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
            {
                _log.LogError("Not ready from the start ({Path}): {Advice}", DatabasePath, Advice(e));
            }
            _wholeFileChecks = Task.Run(CheckWholeFileNowAndThen);
        }
        catch
        {
            _folderLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reject files that no row names: written before a commit that never came (the process killed between the two).
    /// Retention only deletes files that rows name, so these would stay forever. Only files older than an hour go: a
    /// margin for a data folder shared across machines (a network file system), where the OS lock on the folder may not
    /// reach the other machine and its service may be between writing a reject's files and committing its row.
    /// </summary>
    void RemoveOrphanRejectFiles()
    {
        var named = Read(db =>
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            using var query = db.CreateCommand();
            query.CommandText = "SELECT id, image_file, heat_file FROM inspections WHERE image_file IS NOT NULL";
            using var reader = query.ExecuteReader();
            while (reader.Read())
            {
                names.Add(OverlayName(reader.GetString(0)));
                names.Add(reader.GetString(1));
                if (!reader.IsDBNull(2)) names.Add(reader.GetString(2));
            }
            return names;
        });
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
        // The file only saves drawing it again: a rejects folder that cannot take it (full, read-only, something in the
        // way) still gets the client its overlay, and the path stays in the log, never in an answer.
        try { AtomicFile.Write(path, s => s.Write(png)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PipelineFramework.Abstractions.PipelineException)
        {
            _log.LogWarning("The overlay of reject {Id} was drawn but not kept: {Message}", r.Id, e.Message);
        }
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
                // After a failure the file is opened anew: SQLite opens a file it may not write for reading only, and a
                // pooled connection stays so; a file made writable again was refused until the service restarted.
                if (_failure is { Damage: false }) SqliteConnection.ClearPool(new SqliteConnection(_connection));
                ReopenIfReplaced();
                T result;
                using (var db = Open()) result = write(db);
                // Deleted or replaced during this write: the rows went to a file that is not in the data folder; say so.
                if (IsReplaced())
                    throw new IOException("results.db was deleted from the data folder, or another file renamed over it, while this result was written; it went with the file that was there.");
                if (_failure is { Damage: false }) _failure = null;
                return result;
            }
            catch (Exception e)
            {
                NoteFailure(new($"the last write failed and none has succeeded since: {Advice(e)}", IsDamage(e)));
                throw;
            }
        }
    }

    /// <summary>Every read goes through here, so that damage a read meets is what readiness reports too.</summary>
    T Read<T>(Func<SqliteConnection, T> read)
    {
        // A new connection opened on a file renamed over results.db (or on the empty one it creates where results.db was
        // deleted) would take the replaced file's results.db-wal as its own log; the write path sets that log aside first.
        if (_newFileUnprepared || IsReplaced())
            try { Write(_ => true); }
            catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException) { } // noted; the read says it too
        try
        {
            using var db = Open();
            return read(db);
        }
        catch (SqliteException e) when (IsDamage(e))
        {
            NoteFailure(new($"found by a read: {Advice(e)}", Damage: true));
            throw;
        }
    }

    /// <summary>Damage outranks a passing failure: a lock that comes and goes must not hide a damaged file.</summary>
    void NoteFailure(StoreFailure failure)
    {
        lock (_writeLock)
            if (failure.Damage || _failure is not { Damage: true }) _failure = failure;
    }

    /// <param name="when">"at start", "by the periodic check", ...: when the operator learns of it, and so when it happened at the latest.</param>
    void NoteDamageFound(string when, string advice)
    {
        NoteFailure(new($"found {when}: {advice}", Damage: true));
        _log.LogError("Found {When}: {Advice}. Readiness reports 503 until {Path} is moved away; parts are still scored, their answers say stored: false.",
            when, advice, DatabasePath);
    }

    /// <summary>Whether results.db is now another file than the one the pooled connections have open, or gone.</summary>
    bool IsReplaced() => RegularFile.Identity(DatabasePath) != _openedFile;

    static bool IsDamage(Exception e) => e is SqliteException { SqliteErrorCode: 11 or 26 }; // SQLITE_CORRUPT, SQLITE_NOTADB

    /// <summary>
    /// <c>PRAGMA quick_check</c> over the whole file, beside the serving: at start, on a file that takes results.db's
    /// place while serving, and every <see cref="_checkInterval"/> (a day by default), so damage in a page that no read
    /// or write touches is found without a restart. It reads every page (measured on 417 MB, 667,000 rows: 1.2 s with
    /// the file in the page cache, 21 s from a busy disk; see the README): too slow for each readiness probe or for a
    /// start the line waits for, cheap once a day. Damage it finds is reported by readiness from then on.
    /// </summary>
    async Task CheckWholeFileNowAndThen()
    {
        var when = "at start";
        while (true)
        {
            CheckWholeFile(when);
            try { when = await _checkNewFile.WaitAsync(_checkInterval, _stopChecks.Token) ? "in the file now at results.db" : "by the periodic check"; }
            catch (OperationCanceledException) { return; }
        }
    }

    void CheckWholeFile(string when)
    {
        // Damage already known: nothing to learn until the file is replaced (a replacement wakes a check).
        if (Volatile.Read(ref _failure) is { Damage: true }) return;
        var checkedFile = _openedFile;
        var clock = Stopwatch.StartNew();
        try
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder(_connection) { Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            db.Open();
            lock (_checkingLock)
            {
                if (_stopping) return;
                _checking = db;
            }
            try
            {
                using var check = db.CreateCommand();
                check.CommandText = "PRAGMA quick_check(1)";
                var result = Convert.ToString(check.ExecuteScalar(), CultureInfo.InvariantCulture) ?? "";
                if (result == "ok")
                    _log.LogInformation("Checked every page of the results database {Path} ({Megabytes:0} MB) in {Seconds:0.0} s: no damage",
                        DatabasePath, new FileInfo(DatabasePath).Length / 1e6, clock.Elapsed.TotalSeconds);
                // A file replaced during the check is checked again (the replacement woke a check); its damage is not this one's.
                else if (checkedFile == _openedFile) NoteDamageFound(when, Damaged("quick_check: " + result.ReplaceLineEndings(" ")));
            }
            finally { lock (_checkingLock) _checking = null; }
        }
        catch (SqliteException e) when (IsDamage(e)) { if (checkedFile == _openedFile) NoteDamageFound(when, Advice(e)); }
        catch (SqliteException e) when (e.SqliteErrorCode == 9) { } // SQLITE_INTERRUPT: the service is stopping
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("The results database {Path} was not checked for damage: {Message}", DatabasePath, e.Message);
        }
    }

    /// <summary>
    /// results.db deleted, moved away, or another file renamed over it while serving: the pooled connections would go
    /// on writing into the file that was there, answering stored: true for rows nobody sees and that vanish with it.
    /// They are closed and the file now at results.db is taken as if the service had started with it (a new one is
    /// created where there is none). The replaced database's results.db-wal and -shm are set aside first: SQLite
    /// leaves them when a moved database's connections close, and the file now at results.db would replay that log as
    /// its own (measured: a renamed-in database lost its own tables to it).
    /// </summary>
    void ReopenIfReplaced()
    {
        var now = RegularFile.Identity(DatabasePath);
        if (now != _openedFile)
        {
            SqliteConnection.ClearPool(new SqliteConnection(_connection));
            _failure = null; // damage went with the file
            var suffix = $".orphaned-{DateTime.UtcNow:yyyyMMddTHHmmss}";
            foreach (var log in new[] { DatabasePath + "-wal", DatabasePath + "-shm" })
                if (File.Exists(log)) File.Move(log, log + suffix, overwrite: true);
            if (now is null)
                _log.LogError("The results database {Path} was deleted or moved away while the service ran; the results it held are not in the data folder " +
                    "any more (restore them from a backup; its last writes are in results.db-wal{Suffix}). A new results.db keeps the results from now on.", DatabasePath, suffix);
            else
                _log.LogError("Another file was renamed over the results database {Path} while the service ran; the results the replaced file held are " +
                    "not in the data folder any more (its last writes are in results.db-wal{Suffix}). The file now at results.db keeps the results from now on, " +
                    "and is checked for damage now.", DatabasePath, suffix);
            _newFileUnprepared = true;
        }
        if (!_newFileUnprepared) return;
        // As at start: the schema, and a write probe (a file the service may only read is refused now, not at the first
        // result). Until both succeed each write tries again: a file made writable again gets its tables then.
        try
        {
            CreateSchema();
            using (var db = Open()) ProbeWrite(db);
            _newFileUnprepared = false;
            _checkNewFile.Release();
        }
        finally { _openedFile = RegularFile.Identity(DatabasePath); }
    }

    /// <summary>What a failed store means for an operator and what to do, without the file's path (clients read it too).</summary>
    public string Advice(Exception e) => e switch
    {
        _ when IsDamage(e) => Damaged(e.Message),
        SqliteException { SqliteErrorCode: 5 or 6 } =>
            $"the results database is locked by another program for longer than {_busyMilliseconds / 1000.0:0.#} s ({e.Message}). Stop the program that holds it (an open sqlite3 shell, a backup)",
        SqliteException { SqliteErrorCode: 8 } =>
            $"the results database cannot be written ({e.Message}). Give the service's user write permission on results.db and the data folder",
        SqliteException { SqliteErrorCode: 13 } =>
            $"the disk of the data folder is full ({e.Message}). Free space there",
        SqliteException => $"the results database cannot be used ({e.Message}). Check results.db and the data folder",
        _ => e.Message.TrimEnd('.'),
    };

    static string Damaged(string reason) =>
        $"the results database (results.db in the data folder) is damaged ({reason}). Stop the service, move results.db (with results.db-wal and " +
        "results.db-shm) out of the data folder, then restore it from a backup or let the service start a new one (`sqlite3 results.db .recover` may save its rows)";

    /// <summary>
    /// Null when results can be stored and read; otherwise why not (readiness). After a failed write a cheap write probe
    /// (<see cref="ProbeWrite"/>) decides, so a lock that is gone or a file made writable again turns ready without
    /// waiting for a result to be stored; damage (found at start, by a read or by a write) stays until an operator moves
    /// the file away. Then the newest parts are read, as the page reads them first: an index walk and 50 rows, bounded
    /// whatever the file's size (the whole file is checked once, at start: <see cref="CheckWholeFile"/>).
    /// </summary>
    public string? Problem()
    {
        try
        {
            if (Volatile.Read(ref _failure) is { } failure)
            {
                // Damage does not heal; a file moved away is replaced by the probe below.
                if (failure.Damage && !IsReplaced()) return failure.Reason;
                Write(db => { ProbeWrite(db); return true; });
            }
            else if (IsReplaced()) Write(_ => true); // deleted or replaced: the file now at results.db is taken now, not at the next result
            Recent(null, null, 50);
            return null;
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException) { return $"the results database does not answer: {Advice(e)}"; }
    }

    /// <summary>
    /// Writes a page and takes it back. Taking the write lock alone (BEGIN IMMEDIATE) succeeds on a file the service may
    /// only read, which kept readiness at "ready" while every result failed to be stored; setting the header's
    /// user_version to its own value makes SQLite write, and refuse there. The transaction object rolls back when the
    /// write is refused too: a plain "BEGIN IMMEDIATE; ...; ROLLBACK" stopped at the refusal and returned the pooled
    /// connection inside its transaction, and every read on it then failed ("Safety level may not be changed inside a
    /// transaction").
    /// </summary>
    static void ProbeWrite(SqliteConnection db)
    {
        using var transaction = db.BeginTransaction(deferred: false);
        using var command = db.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version";
        long version = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        command.CommandText = $"PRAGMA user_version = {version}";
        command.ExecuteNonQuery();
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

    /// <summary>Stops the start-up check, closes the pooled connections (so the WAL is checkpointed and the file stands alone) and frees the data folder.</summary>
    public void Dispose()
    {
        lock (_checkingLock)
        {
            _stopping = true;
            if (_checking is { } checking) SQLitePCL.raw.sqlite3_interrupt(checking.Handle);
        }
        _stopChecks.Cancel();
        _wholeFileChecks?.Wait();
        using (var db = new SqliteConnection(_connection)) SqliteConnection.ClearPool(db);
        _folderLock.Dispose();
    }

    public StoredInspection? Find(string id) => Read(db =>
    {
        using var query = db.CreateCommand();
        query.CommandText = $"SELECT {Columns} FROM inspections WHERE id = $id";
        query.Parameters.AddWithValue("$id", id);
        using var reader = query.ExecuteReader();
        return reader.Read() ? Row(reader) : null;
    });

    /// <summary>Most recent first; <paramref name="anomalous"/> null = both verdicts.</summary>
    public IReadOnlyList<StoredInspection> Recent(string? category, bool? anomalous, int limit) => Read(db =>
    {
        using var query = db.CreateCommand();
        var where = new List<string>();
        if (category is not null) { where.Add("category = $category"); query.Parameters.AddWithValue("$category", category); }
        if (anomalous is { } a) { where.Add("is_anomaly = $anomaly"); query.Parameters.AddWithValue("$anomaly", a ? 1 : 0); }
        query.CommandText = $"SELECT {Columns} FROM inspections {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")} ORDER BY received_utc DESC, id DESC LIMIT $limit";
        query.Parameters.AddWithValue("$limit", limit);
        using var reader = query.ExecuteReader();
        var results = new List<StoredInspection>();
        while (reader.Read()) results.Add(Row(reader));
        return results;
    });

    public IReadOnlyList<StoredExplanation> Explanations(string inspectionId) => Read(db =>
    {
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
    });

    const string Columns = "id, category, received_utc, is_anomaly, score, raw_score, threshold, model_id, model_version, map_width, map_height, regions, rules, timings, image_file, heat_file, input_warning";

    static StoredInspection Row(SqliteDataReader r) => new()
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
