using PipelineFramework.Abstractions;
using PipelineFramework.Core;

namespace PipelineFramework.Cli;

/// <summary>
/// One change at a time to a model file: a <see cref="FileLock"/> that `pf rules --add` / `--propose` hold across
/// reading the model, changing it and writing it back, and `pf fit` while it writes the model. The lock file is beside the model, not the model itself, which is
/// replaced by a rename on every write, so a lock on it would not outlive the first write.
/// </summary>
static class ModelChangeLock
{
    /// <summary>How long a change waits for another one to finish before it is refused.</summary>
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public static string LockPath(string modelPath)
    {
        var full = Path.GetFullPath(modelPath);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.lock");
    }

    public static FileLock Acquire(string modelPath, CancellationToken cancellation)
    {
        var path = LockPath(modelPath);
        try
        {
            return FileLock.TryAcquire(path, Wait, cancellation)
                ?? throw new PipelineException($"Another pf command (`pf rules` or `pf fit`) is changing '{modelPath}' (it holds '{path}') and did not finish within {Wait.TotalSeconds:0} s; wait for it to end and run this again.");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PipelineException($"Cannot create the lock file '{path}' that keeps two changes of '{modelPath}' apart ({e.Message}); its folder must be writable to change the model.");
        }
    }
}
