using System.Diagnostics;

namespace PipelineFramework.Tests.Support;

/// <summary>
/// Makes a file one this process may only read. Tests run as root in CI, and root writes whatever the permissions say;
/// root's immutable flag (<c>chattr +i</c>) stops root too, and SQLite meets it as it meets a missing write permission
/// (it opens the file for reading only). Not root: the write permission is taken away.
/// </summary>
internal static class ReadOnlyFile
{
    public static void Set(string path, bool readOnly)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("ReadOnlyFile is for Unix (the service runs on Linux)");
        if (!Environment.IsPrivilegedProcess)
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead | (readOnly ? 0 : UnixFileMode.UserWrite));
            return;
        }
        var start = new ProcessStartInfo("chattr") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(readOnly ? "+i" : "-i");
        start.ArgumentList.Add(path);
        using var chattr = Process.Start(start)!;
        var error = chattr.StandardError.ReadToEnd();
        chattr.WaitForExit();
        if (chattr.ExitCode != 0) throw new IOException($"chattr {(readOnly ? "+i" : "-i")} {path}: {error.Trim()}");
    }

    /// <summary>Null when <see cref="Set"/> works here; otherwise why not.</summary>
    public static string? Unavailable => Probe.Value;

    static readonly Lazy<string?> Probe = new(() =>
    {
        var file = Path.Combine(TestData.TempFolder("read-only-probe"), "probe");
        File.WriteAllText(file, "");
        try
        {
            Set(file, readOnly: true);
            try
            {
                using (File.OpenWrite(file)) { }
                return $"a file made read-only in {Path.GetDirectoryName(file)} could still be written";
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return null; }
            finally { Set(file, readOnly: false); }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "runs as root, where only the immutable flag makes a file read-only, and chattr is not installed (apt-get install e2fsprogs)";
        }
        catch (IOException e)
        {
            return $"runs as root, where only the immutable flag makes a file read-only, and it cannot be set here " +
                $"(needs CAP_LINUX_IMMUTABLE and a file system with the flag: ext4, xfs, btrfs): {e.Message}";
        }
        finally
        {
            try { Directory.Delete(Path.GetDirectoryName(file)!, recursive: true); } catch (IOException) { }
        }
    });
}

/// <summary>A fact that needs a file this process may only read (<see cref="ReadOnlyFile"/>); skipped with the reason where none can be made.</summary>
public sealed class ReadOnlyFileFactAttribute : FactAttribute
{
    public ReadOnlyFileFactAttribute()
    {
        if (ReadOnlyFile.Unavailable is { } why) Skip = "needs a file this process may only read: " + why;
    }
}
