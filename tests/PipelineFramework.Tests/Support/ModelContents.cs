using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Core.Engine;

namespace PipelineFramework.Tests.Support;

/// <summary>
/// A model file's entries as bytes, its manifest without what differs between any two fits of one pipeline on the same
/// images (modelId, createdUtc, training.fitSeconds): two such files that compare equal here are the same model.
/// </summary>
static class ModelContents
{
    public static IReadOnlyDictionary<string, string> Of(AnomalyModel model)
    {
        using var stream = new MemoryStream();
        model.Save(stream);
        stream.Position = 0;
        return Of(stream);
    }

    public static IReadOnlyDictionary<string, string> Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Of(stream);
    }

    static IReadOnlyDictionary<string, string> Of(Stream stream)
    {
        using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            using var content = new MemoryStream();
            using (var read = entry.Open()) read.CopyTo(content);
            var bytes = content.ToArray();
            if (entry.FullName == "manifest.json")
            {
                var manifest = JsonNode.Parse(bytes)!.AsObject();
                Assert.True(manifest.Remove("modelId") && manifest.Remove("createdUtc") && manifest["training"]!.AsObject().Remove("fitSeconds"));
                bytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
            }
            entries[entry.FullName] = Convert.ToBase64String(bytes);
        }
        return entries;
    }
}
