using PipelineFramework.Abstractions;

namespace PipelineFramework.Cli;

/// <summary>
/// One change at a time to a model file (`pf rules --add`, `--propose`): held across reading the model, changing it and
/// writing it back. The lock is the operating system's (an exclusive share of a lock file beside the model), so it ends
/// with the process that holds it, a killed one included. The lock file is not the model (which is replaced by a
/// rename on every write, so a lock on it would not outlive the first write); the empty file stays behind, as deleting
/// it would let two waiters lock two different files.
/// </summary>
sealed class ModelChangeLock : IDisposable
{
    /// <summary>How long a change waits for another one to finish before it is refused.</summary>
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    readonly FileStream _held;

    ModelChangeLock(FileStream held) => _held = held;

    public static string LockPath(string modelPath)
    {
        var full = Path.GetFullPath(modelPath);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.lock");
    }

    public static ModelChangeLock Acquire(string modelPath, CancellationToken cancellation)
    {
        var path = LockPath(modelPath);
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            try { return new ModelChangeLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
            catch (UnauthorizedAccessException e)
            {
                throw new PipelineException($"Cannot create the lock file '{path}' that keeps two changes of '{modelPath}' apart ({e.Message}); its folder must be writable to change the model.");
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                cancellation.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(100));
                cancellation.ThrowIfCancellationRequested();
            }
            catch (IOException)
            {
                throw new PipelineException($"Another `pf rules` is changing '{modelPath}' (it holds '{path}') and did not finish within {Wait.TotalSeconds:0} s; wait for it to end and run this again.");
            }
        }
    }

    public void Dispose() => _held.Dispose();
}
