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

    internal static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Opens a model file held in memory; <paramref name="name"/> labels errors.</summary>
    public static ZipArchive OpenArchive(Stream stream, string name)
    {
        try
        {
            return new ZipArchive(stream, ZipArchiveMode.Read);
        }
        catch (InvalidDataException)
        {
            throw new PipelineException($"'{name}' is not a PipelineFramework model file (not a zip archive). Model files are written by `pf fit`.");
        }
    }

    public static ModelManifest ReadManifest(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(ManifestEntry)
            ?? throw new PipelineException($"'{name}' has no {ManifestEntry}: it is not a PipelineFramework model file, or it is damaged. Fit the model again.");
        using var document = JsonDocument.Parse(entry.Open());
        var root = document.RootElement;
        string? format = root.TryGetProperty("format", out var f) ? f.GetString() : null;
        if (format != ModelManifest.FormatName)
            throw new PipelineException($"'{name}': {ManifestEntry} declares format '{format}', expected '{ModelManifest.FormatName}'.");
        int version = root.TryGetProperty("formatVersion", out var v) && v.TryGetInt32(out var n) ? n : -1;
        if (version > ModelManifest.CurrentFormatVersion)
            throw new PipelineException(
                $"'{name}' was written by a newer PipelineFramework (model format {version}); this build reads format {ModelManifest.CurrentFormatVersion} and older. Upgrade PipelineFramework to load it.");
        if (version < 1)
            throw new PipelineException($"'{name}': {ManifestEntry} has no valid formatVersion.");
        try
        {
            return root.Deserialize<ModelManifest>(ManifestJson)
                ?? throw new PipelineException($"'{name}': {ManifestEntry} is empty.");
        }
        catch (JsonException e)
        {
            throw new PipelineException($"'{name}': {ManifestEntry} is malformed at {e.Path}: {e.Message}");
        }
    }
}
