using System.IO.Compression;
using System.Text;

namespace PipelineFramework.Core.ModelFiles;

/// <summary>
/// Reads and replaces single entries of a model file without loading its components (e.g. `pf rules`, which edits a
/// logic check's rules). Every entry is read through <see cref="ModelEntryReader"/> (limits, CRC-32); a rewrite copies
/// all entries into a new file written atomically, so a failure leaves the old model as it was.
/// </summary>
public static class ModelFileEntries
{
    public static IReadOnlyList<string> Names(string path)
    {
        using var stream = Open(path);
        using var zip = ModelFileReader.OpenArchive(stream, path);
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    public static string ReadText(string path, string entryName)
    {
        using var stream = Open(path);
        using var zip = ModelFileReader.OpenArchive(stream, path);
        var entry = zip.GetEntry(entryName) ?? throw new Abstractions.PipelineException($"Model file '{path}' has no entry '{entryName}'.");
        using var reader = ModelEntryReader.Open(entry, path, ModelFileLimits.MaxEntryBytes);
        return Encoding.UTF8.GetString(reader.ReadToEnd());
    }

    /// <summary>Writes the model again with the given entries' text replaced; every other entry is copied as it is.</summary>
    public static void ReplaceText(string path, IReadOnlyDictionary<string, string> replacements)
    {
        using var input = Open(path);
        using var source = ModelFileReader.OpenArchive(input, path);
        foreach (var name in replacements.Keys)
            if (source.GetEntry(name) is null) throw new Abstractions.PipelineException($"Model file '{path}' has no entry '{name}' to replace.");
        AtomicFile.Write(path, output =>
        {
            using var target = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var entry in source.Entries)
            {
                byte[] bytes;
                if (replacements.TryGetValue(entry.FullName, out var text)) bytes = Encoding.UTF8.GetBytes(text);
                else using (var reader = ModelEntryReader.Open(entry, path, ModelFileLimits.MaxEntryBytes)) bytes = reader.ReadToEnd();
                using var stream = target.CreateEntry(entry.FullName, CompressionLevel.Optimal).Open();
                stream.Write(bytes);
            }
        });
    }

    static FileStream Open(string path)
    {
        UserPaths.RequireFile(path, "Model file", "Create one with `pf fit`.");
        return File.OpenRead(path);
    }
}
