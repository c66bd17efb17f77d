using System.Runtime.InteropServices;

namespace PipelineFramework.Core;

/// <summary>
/// Tells a regular file from anything else before it is opened. .NET reports a FIFO or a device as an ordinary file
/// (File.Exists true, Attributes Normal), yet opening a FIFO for reading blocks until a writer appears and reading
/// /dev/zero never ends. On Linux the file type comes from statx(2), whose struct layout is the same on every
/// architecture; elsewhere, or without statx, only missing files and folders are told apart.
/// </summary>
public static partial class RegularFile
{
    public const string Missing = "missing";

    /// <summary>Null for a regular file (symbolic links followed); otherwise <see cref="Missing"/> or what the path is, e.g. "a FIFO (named pipe)".</summary>
    public static string? Problem(string path)
    {
        if (Directory.Exists(path)) return "a folder";
        if (OperatingSystem.IsLinux() && LinuxFileType(path) is { } type)
        {
            return type switch
            {
                RegularType => null,
                0 => Missing,
                0x1000 => "a FIFO (named pipe)",
                0x2000 => "a character device",
                0x6000 => "a block device",
                0xC000 => "a socket",
                _ => "not a regular file",
            };
        }
        return File.Exists(path) ? null : Missing;
    }

    /// <summary>
    /// Which file the path names now (device and inode on Linux), to tell a file renamed over the path from the one
    /// opened earlier, which existence alone does not; null when nothing is there. Where statx cannot say (another OS),
    /// every existing file has the same identity, so only a missing file differs.
    /// </summary>
    public static unsafe FileIdentity? Identity(string path)
    {
        if (OperatingSystem.IsLinux() && !statxUnavailable)
        {
            byte* buffer = stackalloc byte[StatxSize];
            try
            {
                if (statx(AtCurrentDirectory, path, 0, StatxTypeField | StatxInodeField, buffer) == 0)
                    return new FileIdentity(*(uint*)(buffer + StatxDeviceMajorOffset), *(uint*)(buffer + StatxDeviceMinorOffset), *(ulong*)(buffer + StatxInodeOffset));
                int errno = Marshal.GetLastPInvokeError();
                if (errno is NoEntry or NotAFolder) return null;
                if (errno == NoSystemCall) statxUnavailable = true;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { statxUnavailable = true; }
        }
        return File.Exists(path) ? Unknown : null;
    }

    static readonly FileIdentity Unknown = new(0, 0, 0);
    const int TypeMask = 0xF000, RegularType = 0x8000;
    const int AtCurrentDirectory = -100;
    const uint StatxTypeField = 0x1, StatxInodeField = 0x100;
    const int StatxSize = 256, StatxModeOffset = 28, StatxInodeOffset = 32, StatxDeviceMajorOffset = 136, StatxDeviceMinorOffset = 140;
    const int NoEntry = 2, NotAFolder = 20, NoSystemCall = 38;
    static volatile bool statxUnavailable;

    /// <summary>S_IFMT bits of what the path names; 0 when nothing is there; null when statx cannot say.</summary>
    static unsafe int? LinuxFileType(string path)
    {
        if (statxUnavailable) return null;
        byte* buffer = stackalloc byte[StatxSize];
        try
        {
            if (statx(AtCurrentDirectory, path, 0, StatxTypeField, buffer) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is NoEntry or NotAFolder) return 0;
                if (errno == NoSystemCall) statxUnavailable = true;
                return null;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            statxUnavailable = true;
            return null;
        }
        return *(ushort*)(buffer + StatxModeOffset) & TypeMask;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string pathname, int flags, uint mask, byte* statxbuf);
}

/// <summary>A file's identity on its file system (<see cref="RegularFile.Identity"/>): the same while it is renamed, another for another file.</summary>
public sealed record FileIdentity(uint DeviceMajor, uint DeviceMinor, ulong Inode);
