using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.ModelFiles;

/// <summary>
/// Damages real model files the ways disks, copies and hand edits do: entries replaced with valid zip checksums
/// (what a buggy writer or an editing tool produces) or raw bytes flipped and cut (what a bad copy produces).
/// </summary>
static class ModelFileSurgery
{
    /// <summary>A PatchCore model written before the hardening (model format 1, no change since).</summary>
    public static string Format1Path => Path.Combine(TestData.RepoRoot, "tests", "PipelineFramework.Tests", "TestFiles", "model-format1", "format1.pfmodel");
    public static byte[] Format1 => Format1Bytes.Value;
    static readonly Lazy<byte[]> Format1Bytes = new(() => File.ReadAllBytes(Format1Path));

    public const string Bank = "scoring/memory_bank.npy";
    public const string Backbone = "features/backbone.onnx";

    public static byte[] Entry(byte[] model, string name)
    {
        using var zip = new ZipArchive(new MemoryStream(model), ZipArchiveMode.Read);
        using var stream = zip.GetEntry(name)!.Open();
        var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>The model with one entry's content replaced (or added), entry order kept, checksums valid.</summary>
    public static byte[] WithEntry(byte[] model, string name, byte[] content)
    {
        var output = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(model), ZipArchiveMode.Read))
        using (var target = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            bool replaced = false;
            foreach (var entry in source.Entries)
            {
                using var to = target.CreateEntry(entry.FullName, CompressionLevel.Fastest).Open();
                if (entry.FullName == name) { to.Write(content); replaced = true; }
                else { using var from = entry.Open(); from.CopyTo(to); }
            }
            if (!replaced) { using var to = target.CreateEntry(name, CompressionLevel.Fastest).Open(); to.Write(content); }
        }
        return output.ToArray();
    }

    public static byte[] WithText(byte[] model, string name, string text) => WithEntry(model, name, Encoding.UTF8.GetBytes(text));

    /// <summary>A .npy file with the given header dictionary text and raw data bytes.</summary>
    public static byte[] Npy(string header, ReadOnlySpan<byte> data)
    {
        var padded = header.PadRight((header.Length + 10 + 1 + 63) / 64 * 64 - 10 - 1) + "\n";
        var output = new MemoryStream();
        output.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        output.Write(BitConverter.GetBytes((ushort)padded.Length));
        output.Write(Encoding.ASCII.GetBytes(padded));
        output.Write(data);
        return output.ToArray();
    }

    public static byte[] Npy(string shape, ReadOnlySpan<float> values) =>
        Npy($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", MemoryMarshal.AsBytes(values));

    /// <summary>Where an entry's stored (compressed) bytes lie in the raw file, from its local header.</summary>
    public static (int Start, int Length) StoredData(byte[] model, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        int nameAt = model.AsSpan().IndexOf(nameBytes);
        int header = nameAt - 30;
        if (BinaryPrimitives.ReadUInt32LittleEndian(model.AsSpan(header)) != 0x04034b50) throw new InvalidOperationException("no local header for " + name);
        int compressed = BinaryPrimitives.ReadInt32LittleEndian(model.AsSpan(header + 18));
        int extra = BinaryPrimitives.ReadUInt16LittleEndian(model.AsSpan(header + 28));
        return (nameAt + nameBytes.Length + extra, compressed);
    }

    /// <summary>Sets the uncompressed length an entry declares, in its local header and the central directory.</summary>
    public static byte[] WithDeclaredLength(byte[] model, string name, uint length)
    {
        var copy = (byte[])model.Clone();
        var nameBytes = Encoding.UTF8.GetBytes(name);
        int local = copy.AsSpan().IndexOf(nameBytes) - 30;
        int central = copy.AsSpan().LastIndexOf(nameBytes) - 46;
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(local + 22), length);
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(central + 24), length);
        return copy;
    }

    public static string Save(byte[] model, string fileName = "damaged.pfmodel")
    {
        var path = Path.Combine(TestData.TempFolder("modelfile"), fileName);
        File.WriteAllBytes(path, model);
        return path;
    }

    /// <summary>
    /// Everything the model file reader does before any component sees the state: opens the archive, reads the manifest and
    /// every stage entry (tensors as tensors), smallest first so that damage in a small entry costs no backbone
    /// decompression. Returns the number of tensor values read.
    /// </summary>
    public static long ReadEverything(byte[] model, string name)
    {
        using var zip = ModelFileReader.OpenArchive(new MemoryStream(model), name);
        ModelFileReader.ReadManifest(zip, name);
        long values = 0;
        foreach (var entry in zip.Entries.Where(e => e.FullName != ModelFileReader.ManifestEntry).OrderBy(e => e.Length).ToList())
        {
            int slash = entry.FullName.IndexOf('/');
            var reader = new ZipModelReader(zip, entry.FullName[..(slash + 1)], name);
            var relative = entry.FullName[(slash + 1)..];
            if (relative.EndsWith(".npy", StringComparison.Ordinal)) values += reader.ReadTensor(relative[..^4], out _).Length;
            else reader.ReadBytes(relative);
        }
        return values;
    }
}
