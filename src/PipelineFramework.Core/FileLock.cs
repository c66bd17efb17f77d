namespace PipelineFramework.Core;

/// <summary>
/// The operating system's lock on a file (an exclusive share), held until disposed and released by the OS when the
/// process ends, a killed one included. The lock file is empty and stays behind: deleting it would let two waiters lock
/// two different files.
/// </summary>
public sealed class FileLock : IDisposable
{
    readonly FileStream _held;

    FileLock(FileStream held) => _held = held;

    /// <summary>The lock, or null when another process (or another holder in this one) keeps it for longer than <paramref name="wait"/>.</summary>
    /// <exception cref="UnauthorizedAccessException">The lock file cannot be created there.</exception>
    public static FileLock? TryAcquire(string path, TimeSpan wait, CancellationToken cancellation = default)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try { return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                cancellation.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(100));
                cancellation.ThrowIfCancellationRequested();
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    public void Dispose() => _held.Dispose();
}
