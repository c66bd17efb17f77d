using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Transforms;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// Makes <c>mlContext.Model.Load</c> of one of our model files fail with a message that says what to call instead.
/// ML.NET's loader registry is internal, but its custom-mapping extension point is public: every model file carries a
/// small ML.NET transformer chain (a custom mapping whose contract is <see cref="ContractName"/>). ML.NET loads that
/// chain, loads this assembly by the name the chain stores, finds <see cref="Factory"/> by its contract and asks it for
/// the mapping, and the factory throws the pointer to <c>VisualAnomaly().LoadModel</c>. ML.NET invokes the factory by
/// reflection, so the caller sees a <see cref="System.Reflection.TargetInvocationException"/> whose inner exception
/// carries the message. Our own reader ignores these entries.
/// </summary>
public static class MLNetLoadRedirect
{
    public const string ContractName = "PipelineFramework.ModelFile";

    /// <summary>The entries' folder inside the model zip: where ML.NET's <c>Model.Load</c> looks for a transformer chain.</summary>
    public const string Folder = "TransformerChain/";

    public const string Message =
        "This is a PipelineFramework model file. ML.NET's mlContext.Model.Load cannot restore third-party transformers: " +
        "load it with mlContext.VisualAnomaly().LoadModel(path) (package PipelineFramework), or with `pf` on the command line.";

    /// <summary>The chain's entries, made once per process by ML.NET itself (so they follow its format exactly).</summary>
    static readonly Lazy<IReadOnlyList<(string Name, byte[] Bytes)>> Entries = new(MakeEntries);

    /// <summary>Adds the chain's entries to a model zip being written.</summary>
    public static void AddTo(ZipArchive zip)
    {
        foreach (var (name, bytes) in Entries.Value)
        {
            var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
            entry.LastWriteTime = ModelFileTime;
            using var stream = entry.Open();
            stream.Write(bytes);
        }
    }

    /// <summary>A fixed entry time, so two saves of one model give the same bytes for these entries.</summary>
    static readonly DateTimeOffset ModelFileTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    static List<(string, byte[])> MakeEntries()
    {
        var ml = new MLContext(seed: 0);
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<Row>());
        var chain = ml.Transforms.CustomMapping<Row, Row>(Map, ContractName).Fit(empty);
        using var saved = new MemoryStream();
        ml.Model.Save(chain, null, saved);
        saved.Position = 0;
        using var zip = new ZipArchive(saved, ZipArchiveMode.Read);
        var entries = new List<(string, byte[])>();
        foreach (var entry in zip.Entries.OrderBy(e => e.FullName, StringComparer.Ordinal))
        {
            // ML.NET also writes TrainingInfo/Version.txt, which its Load does not need.
            if (!entry.FullName.StartsWith(Folder, StringComparison.Ordinal)) continue;
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            entries.Add((entry.FullName, copy.ToArray()));
        }
        return entries;
    }

    /// <summary>The mapping the saved chain names; never run (the factory throws before ML.NET could).</summary>
    static void Map(Row input, Row output) => output.Unused = input.Unused;

    /// <summary>The chain's row: one column, because ML.NET needs a schema to save a mapping.</summary>
    public sealed class Row
    {
        public float Unused { get; set; }
    }

    /// <summary>What ML.NET finds by <see cref="ContractName"/> when it loads the chain.</summary>
    [CustomMappingFactoryAttribute(ContractName)]
    public sealed class Factory : CustomMappingFactory<Row, Row>
    {
        public override Action<Row, Row> GetMapping() => throw new InvalidOperationException(Message);
    }
}
