using PipelineFramework.Abstractions;

namespace PipelineFramework.Core;

/// <summary>
/// The checks on a path a user gave, before anything opens it, in one wording: what it is to the user, and what to do.
/// </summary>
public static class UserPaths
{
    /// <summary>
    /// Throws unless <paramref name="path"/> is a regular file. A FIFO given as a model or a pipeline once blocked pf in
    /// open(2), where neither Ctrl+C nor SIGTERM reaches it.
    /// </summary>
    /// <param name="what">What the file is to the user, e.g. "Model file".</param>
    /// <param name="missingHint">What to do when it does not exist, e.g. "Create one with `pf fit`."</param>
    public static void RequireFile(string path, string what, string missingHint)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new PipelineException($"{what}: the path is empty; give the path of the file.");
        switch (RegularFile.Problem(path))
        {
            case null: return;
            case RegularFile.Missing: throw new PipelineException($"{what} '{path}' does not exist. {missingHint}");
            case var problem: throw new PipelineException($"{what} '{path}' is {problem}, not a regular file; point at the file itself.");
        }
    }

    static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The text of a JSON file a user wrote (pipeline, search, rules). Bytes that are not UTF-8 are refused: read leniently
    /// they became U+FFFD, and a name or description changed without a word.
    /// </summary>
    public static string ReadUtf8Text(string path, string what)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PipelineException($"Cannot read {what.ToLowerInvariant()} '{path}': {e.Message}", e);
        }
        int start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        try { return StrictUtf8.GetString(bytes, start, bytes.Length - start); }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new PipelineException($"{what} '{path}' is not UTF-8 text (byte {start + Math.Max(0, e.Index)} is not valid); save it as UTF-8.");
        }
    }

    /// <summary>Throws unless <paramref name="path"/> is a folder; a file there is named as a file, not as missing.</summary>
    /// <param name="hint">What the folder should be, e.g. "Point --data at a category folder (train/good inside)."</param>
    public static void RequireFolder(string path, string what, string hint)
    {
        if (Directory.Exists(path)) return;
        throw new PipelineException(RegularFile.Problem(path) is RegularFile.Missing
            ? $"{what} '{path}' does not exist. {hint}"
            : $"{what} '{path}' is a file, not a folder. {hint}");
    }

    /// <summary>
    /// Creates an output folder (and those above it); a file standing where one of them goes is named, where
    /// <see cref="Directory.CreateDirectory(string)"/> said only "The file '...' already exists" (an unexpected
    /// IOException: exit 2 and "please report this bug" in pf).
    /// </summary>
    public static void CreateOutputFolder(string folder)
    {
        try { Directory.CreateDirectory(folder); }
        catch (IOException) when (FileInTheWay(folder) is { } file)
        {
            throw new PipelineException($"Cannot create the folder {Path.GetFullPath(folder)}: {file} is a file, in the way. Move it away or choose another output folder.");
        }
    }

    /// <summary>
    /// Whether an output folder holds nothing, or nothing but <paramref name="lockFile"/> (an empty lock file): no
    /// result, of this run or an earlier one, is in it.
    /// </summary>
    public static bool IsUnused(string folder, string? lockFile = null)
    {
        try { return Directory.EnumerateFileSystemEntries(folder).All(e => Path.GetFileName(e) == lockFile); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// Removes an output folder that <see cref="IsUnused"/>: one made for a category that failed, or was never reached,
    /// before it wrote a result. Left behind, an empty <c>out/bottle/</c> reads as bottle's results; the reason it has
    /// none is in summary.json and on the terminal. Call it only for a folder this run created: anything in it (an
    /// earlier run's results, a file that appeared meanwhile) keeps it as it is. The lock file is deleted while its
    /// holder still holds it, so no other run can take that lock and then lose its file.
    /// </summary>
    public static void RemoveIfUnused(string folder, string? lockFile = null)
    {
        if (!IsUnused(folder, lockFile)) return;
        try
        {
            if (lockFile is not null) File.Delete(Path.Combine(folder, lockFile));
            Directory.Delete(folder, recursive: false);
        }
        // Something appeared in it meanwhile, or it cannot be removed: then it stays, which loses nothing.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    static string? FileInTheWay(string folder)
    {
        for (var path = Path.GetFullPath(folder); path is not null; path = Path.GetDirectoryName(path))
            if (File.Exists(path)) return path;
        return null;
    }
}
