using PipelineFramework.Abstractions;
using PipelineFramework.Core;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>
/// One search at a time per output folder: a <see cref="FileLock"/> on <see cref="FileName"/> in every folder a run
/// writes into, that is --out and, for a root of categories, each category's folder too. Two runs into one folder would
/// each run the same trials, append them twice to trials.jsonl and overwrite each other's best.json and model; a run
/// into root/bottle and a run into root both write root/bottle, and meet on its lock.
/// </summary>
public sealed class OutputFolderLock : IDisposable
{
    public const string FileName = ".automl.lock";

    readonly IReadOnlyList<(string Folder, bool Created, FileLock Lock)> _held;

    OutputFolderLock(IReadOnlyList<(string, bool, FileLock)> held) => _held = held;

    /// <summary>All of the folders' locks, or none: the first folder another run holds is named.</summary>
    public static OutputFolderLock Acquire(params IReadOnlyList<string> folders)
    {
        var held = new List<(string, bool, FileLock)>();
        var result = new OutputFolderLock(held);
        try
        {
            foreach (var folder in folders.Distinct())
            {
                bool created = !Directory.Exists(folder);
                UserPaths.CreateOutputFolder(folder);
                var fileLock = FileLock.TryAcquire(Path.Combine(folder, FileName), TimeSpan.Zero)
                    ?? throw new PipelineException($"Another AutoML run is writing to '{folder}' (it holds {FileName} there; a run into a root of " +
                        "categories holds each category's folder too); wait for it to finish, or give this run another --out.");
                held.Add((folder, created, fileLock));
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Releases the locks; a folder the lock created that holds nothing but its lock file is removed (a category that
    /// failed before its first trial, or one a cancelled run never reached), inner folders before --out.
    /// </summary>
    public void Dispose()
    {
        foreach (var (folder, created, fileLock) in _held.Reverse())
        {
            if (created) UserPaths.RemoveIfUnused(folder, FileName);
            fileLock.Dispose();
        }
    }
}
