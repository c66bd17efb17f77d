using System.IO.Compression;
using System.Text.Json;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.ModelFiles;

/// <summary>
/// Where a model file enters the process: the zip is opened and its manifest read and checked here, once, so every
/// damaged or foreign file gives a <see cref="PipelineException"/> that names it and says what to do.
/// </summary>
public static class ModelFileReader
{
    public const string ManifestEntry = "manifest.json";

    internal static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // A missing or null field must be an error here, not a NullReferenceException in whatever reads it later.
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Opens a model file held in memory; <paramref name="name"/> labels errors.</summary>
    public static ZipArchive OpenArchive(Stream stream, string name)
    {
        if (stream.CanSeek && stream.Length == 0)
            throw new PipelineException($"'{name}' is empty (0 bytes): the model file was not written or was cut to nothing. Copy it again, or fit the model again with `pf fit`.");
        try
        {
            return new ZipArchive(stream, ZipArchiveMode.Read);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new PipelineException($"'{name}' is not a PipelineFramework model file (not a zip archive, or one cut short: {e.Message}). Model files are written by `pf fit`.", e);
        }
    }

    public static ModelManifest ReadManifest(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(ManifestEntry)
            ?? throw new PipelineException($"'{name}' has no {ManifestEntry}: it is not a PipelineFramework model file, or it is damaged. Fit the model again.");
        byte[] json;
        using (var reader = ModelEntryReader.Open(entry, name, ModelFileLimits.MaxManifestBytes))
            json = reader.ReadToEnd();
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw ModelFileDamage.Error(name, ManifestEntry, $"is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw ModelFileDamage.Error(name, ManifestEntry, $"is a JSON {root.ValueKind}, not an object");
            string? format = root.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            if (format != ModelManifest.FormatName)
                throw new PipelineException($"'{name}': {ManifestEntry} declares format '{format}', expected '{ModelManifest.FormatName}'.");
            int version = root.TryGetProperty("formatVersion", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : -1;
            if (version > ModelManifest.CurrentFormatVersion)
                throw new PipelineException(
                    $"'{name}' was written by a newer PipelineFramework (model format {version}); this build reads format {ModelManifest.CurrentFormatVersion} and older. Upgrade PipelineFramework to load it.");
            if (version < 1)
                throw new PipelineException($"'{name}': {ManifestEntry} has no valid formatVersion.");
            ModelManifest? manifest;
            try
            {
                manifest = root.Deserialize<ModelManifest>(ManifestJson);
            }
            catch (JsonException e)
            {
                throw ModelFileDamage.Error(name, ManifestEntry, $"is malformed at {e.Path}: {JsonReaderError.Reason(e)}", e);
            }
            var problem = (manifest ?? throw ModelFileDamage.Error(name, ManifestEntry, "is empty")).FirstProblem();
            if (problem is not null) throw ModelFileDamage.Error(name, ManifestEntry, problem);
            return manifest;
        }
    }
}

/// <summary>The one wording for a model file whose content cannot be trusted: which file, which entry, what, what to do.</summary>
static class ModelFileDamage
{
    public static PipelineException Error(string file, string entry, string problem, Exception? inner = null) =>
        new($"Model file '{file}', entry '{entry}': {problem}. The file is damaged: copy it again from where it was written, or fit the model again.", inner);
}
