using PipelineFramework.Abstractions;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace PipelineFramework.Core;

/// <summary>
/// Writes a file through a temporary sibling and a rename, so a crash never leaves a half-written result. The temporary
/// is named <c>&lt;file&gt;.tmp-&lt;pid&gt;-&lt;random&gt;</c>: a process killed mid-write leaves it behind, and the next write
/// of the same file removes the temporaries of processes that no longer run.
/// </summary>
public static class AtomicFile
{
    const string TempMarker = ".tmp-";

    /// <summary>
    /// The longest file name (UTF-8 bytes) this class can write: the temporary's suffix (<c>.tmp-</c>, a process id of
    /// up to 10 digits, <c>-</c>, 8 hex digits) must fit in the 255 bytes a name may have on Linux, macOS and Windows.
    /// </summary>
    public const int MaxFileNameBytes = 255 - (5 + 10 + 1 + 8);

    static readonly ConcurrentDictionary<string, byte> InFlight = new(StringComparer.Ordinal);

    public static void Write(string path, Action<Stream> write) => WriteAll([(path, write)]);

    public static void WriteText(string path, string text) => Write(path, Text(text));

    /// <summary>Writes <paramref name="text"/> (UTF-8); for <see cref="WriteAll"/>.</summary>
    public static Action<Stream> Text(string text) => s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); };

    /// <summary>
    /// Writes files that belong together (an evaluation's metrics, scores and report): every temporary is written and
    /// flushed first, and only then are they renamed over their targets. A process stopped while writing leaves the
    /// previous set whole, never new metrics beside an old report; only the renames, microseconds apart, could be split.
    /// </summary>
    public static void WriteAll(IReadOnlyList<(string Path, Action<Stream> Write)> files)
    {
        var staged = new List<(string Temp, string Target)>();
        try
        {
            foreach (var (path, write) in files)
            {
                var full = Path.GetFullPath(path);
                // Checked before writing: the rename at the end would find the folder only after all the work.
                if (Directory.Exists(full))
                    throw new PipelineException($"Cannot write {full}: a folder of that name is in the way. Move it away or choose another output folder.");
                UserPaths.CreateOutputFolder(Path.GetDirectoryName(full)!);
                RemoveStaleTemps(full);
                var temp = $"{full}{TempMarker}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
                InFlight[temp] = 0;
                staged.Add((temp, full));
                using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write);
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            foreach (var (temp, target) in staged) File.Move(temp, target, overwrite: true);
        }
        finally
        {
            foreach (var (temp, _) in staged)
            {
                if (File.Exists(temp)) File.Delete(temp);
                InFlight.TryRemove(temp, out _);
            }
        }
    }

    /// <summary>
    /// Deletes the temporaries this process is writing now. For a process about to end without unwinding (a second
    /// Ctrl+C, SIGTERM), where the <c>finally</c> that normally removes them will not run.
    /// </summary>
    public static void DeleteTempsInFlight()
    {
        foreach (var temp in InFlight.Keys)
        {
            try { File.Delete(temp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>Temporaries of <paramref name="full"/> left by processes that no longer run (killed mid-write).</summary>
    static void RemoveStaleTemps(string full)
    {
        var folder = Path.GetDirectoryName(full)!;
        var prefix = Path.GetFileName(full) + TempMarker;
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(folder, prefix + "*").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var temp in candidates)
        {
            var rest = Path.GetFileName(temp)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (IsRunning(pid)) continue;
            try { File.Delete(temp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}
