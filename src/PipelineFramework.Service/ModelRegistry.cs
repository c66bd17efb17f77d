using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Service;

/// <summary>
/// A model being served. Leases keep it alive while a batch or an explanation uses it: the registry holds one lease
/// and gives it up on a swap, so the old model is disposed when the last request using it finishes, never under it.
/// </summary>
public sealed class ServedModel
{
    int _leases = 1;

    internal ServedModel(string category, AnomalyModel model, int version, FileStamp file)
    {
        Category = category; Model = model; Version = version; File = file;
        LoadedUtc = DateTime.UtcNow;
    }

    public string Category { get; }
    public AnomalyModel Model { get; }
    /// <summary>Counts the loads of this category in this service run (1, 2, ...): which file version answered.</summary>
    public int Version { get; }
    public FileStamp File { get; }
    public DateTime LoadedUtc { get; }

    internal bool TryAcquire()
    {
        for (int n = Volatile.Read(ref _leases); n > 0; n = Volatile.Read(ref _leases))
            if (Interlocked.CompareExchange(ref _leases, n + 1, n) == n) return true;
        return false;
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0) Model.Dispose();
    }
}

/// <summary>A use of a served model; dispose it when the work is done.</summary>
public readonly struct ModelLease(ServedModel served) : IDisposable
{
    public ServedModel Served { get; } = served;
    public void Dispose() => Served.Release();
}

/// <summary>A file's identity for change detection: size and last write time.</summary>
public readonly record struct FileStamp(string Path, long Length, DateTime WriteUtc)
{
    public static FileStamp Of(FileInfo file) => new(file.FullName, file.Length, file.LastWriteTimeUtc);
}

/// <summary>Why a model file is not being served (the previous model, if any, still is); the file's name only, as clients see it.</summary>
public sealed record ModelFileProblem(string File, string Message, DateTime Utc);

/// <summary>
/// The models folder: one <c>&lt;category&gt;.pfmodel</c> per category. A new or changed file is loaded, checked by
/// scoring a blank image, and swapped in with one reference write, so a request sees the old model or the new one,
/// never a mix. A file that fails is logged and recorded (<see cref="Problems"/>) and the old model keeps serving; it is
/// tried again when it changes. A deleted file takes its category out of service.
/// </summary>
public sealed class ModelRegistry : IDisposable
{
    public const string Extension = ".pfmodel";
    static readonly Regex CategoryName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", RegexOptions.CultureInvariant);

    readonly string _folder;
    readonly IComponentCatalog _catalog;
    readonly HostServices _services;
    readonly ILogger _log;
    readonly ConcurrentDictionary<string, ServedModel> _models = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, ModelFileProblem> _problems = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, FileStamp> _failed = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int> _versions = new(StringComparer.Ordinal);
    readonly Lock _scanLock = new();

    public ModelRegistry(string folder, IComponentCatalog catalog, HostServices services, ILogger log)
    {
        _folder = Path.GetFullPath(folder);
        _catalog = catalog; _services = services; _log = log;
    }

    public string Folder => _folder;
    public IReadOnlyCollection<string> Categories => _models.Keys.Order(StringComparer.Ordinal).ToList();
    public IReadOnlyDictionary<string, ModelFileProblem> Problems => _problems;
    public ServedModel? Current(string category) => _models.GetValueOrDefault(category);

    /// <summary>A lease on the category's current model, or null when none is served.</summary>
    public ModelLease? Acquire(string category)
    {
        // A model swapped out and released between the read and the lease is skipped: read the new one.
        while (_models.TryGetValue(category, out var served))
            if (served.TryAcquire()) return new ModelLease(served);
        return null;
    }

    /// <summary>Brings the served models in line with the folder; returns the categories whose model changed.</summary>
    public IReadOnlyList<string> Scan()
    {
        lock (_scanLock)
        {
            var changed = new List<string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            FileInfo[] files;
            try { files = new DirectoryInfo(_folder).GetFiles("*" + Extension); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogError("Cannot list the models folder {Folder}: {Message}; the loaded models keep serving", _folder, e.Message);
                return changed;
            }
            foreach (var file in files.OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                var category = Path.GetFileNameWithoutExtension(file.Name);
                var stamp = FileStamp.Of(file);
                bool usableName = CategoryName.IsMatch(category);
                if (usableName) seen.Add(category);
                // A file refused before is not tried (or logged) again until it changes, whatever the reason was.
                if (_failed.TryGetValue(category, out var failed) && failed == stamp) continue;
                if (!usableName)
                {
                    Refuse(category, stamp, $"'{category}' is not a usable category name (letters, digits, '_', '.', '-'; at most 64). Rename the file.");
                    continue;
                }
                if (_models.TryGetValue(category, out var current) && current.File == stamp) continue;
                if (Load(category, stamp)) changed.Add(category);
            }
            foreach (var category in _models.Keys.Where(c => !seen.Contains(c)).ToList())
            {
                if (_models.TryRemove(category, out var removed))
                {
                    _log.LogWarning("Model file for {Category} was removed; the category is out of service", category);
                    removed.Release();
                    changed.Add(category);
                }
            }
            return changed;
        }
    }

    bool Load(string category, FileStamp stamp)
    {
        AnomalyModel? model = null;
        try
        {
            model = AnomalyModel.Load(stamp.Path, _catalog, _services);
            Validate(model);
        }
        catch (Exception e) when (e is PipelineException or IOException or UnauthorizedAccessException or InvalidDataException or ComponentFaultException)
        {
            model?.Dispose();
            // A plugin's bug: its stack trace is for the report to the plugin's author.
            if (e is ComponentFaultException fault) _log.LogError(e, "{Advice}", fault.Advice(null));
            Refuse(category, stamp, e.Message);
            return false;
        }
        var served = new ServedModel(category, model, _versions.AddOrUpdate(category, 1, (_, v) => v + 1), stamp);
        _models.TryGetValue(category, out var old);
        _models[category] = served;
        _problems.TryRemove(category, out _);
        _failed.TryRemove(category, out _);
        old?.Release();
        _log.LogInformation("Serving {Category}: model {ModelId} version {Version} from {File}{Swap}", category, model.ModelId, served.Version,
            stamp.Path, old is null ? "" : $" (replaces {old.Model.ModelId} version {old.Version})");
        return true;
    }

    void Refuse(string category, FileStamp stamp, string message)
    {
        _failed[category] = stamp;
        // Clients see the file's name, never the server's folders; the log keeps the full path.
        var name = Path.GetFileName(stamp.Path);
        _problems[category] = new ModelFileProblem(name, message.Replace(stamp.Path, name, StringComparison.Ordinal).Replace(_folder, "the models folder", StringComparison.Ordinal), DateTime.UtcNow);
        var keeps = _models.TryGetValue(category, out var current) ? $"model {current.Model.ModelId} version {current.Version} keeps serving" : "nothing is served for it";
        _log.LogError("Refused model file {File}: {Message} ({Keeps})", stamp.Path, message.TrimEnd('.'), keeps);
    }

    /// <summary>A model that loads but cannot score (or scores NaN) is refused before it serves anyone.</summary>
    static void Validate(AnomalyModel model)
    {
        // The model's own input geometry: a fit-mode input (224 x 560, as AutoML chooses) is not square.
        var grey = new float[3 * model.MapHeight * model.MapWidth];
        Array.Fill(grey, 0.5f);
        var result = model.Inspect([new ImageTensor(3, model.MapHeight, model.MapWidth, grey)], ["validation"])[0];
        if (!double.IsFinite(result.RawScore))
            throw new PipelineException($"the model scores a blank grey image as {result.RawScore}; the file's state is damaged. Fit it again.");
    }

    public void Dispose()
    {
        foreach (var category in _models.Keys.ToList())
            if (_models.TryRemove(category, out var served)) served.Release();
    }
}
