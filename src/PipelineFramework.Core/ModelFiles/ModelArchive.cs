using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.ModelFiles;

/// <summary>
/// Component state inside the model zip. Tensors are NumPy .npy files (little-endian float32), so a data scientist can
/// open a memory bank with <c>numpy.load</c>; bytes (ONNX graphs) and text are stored as they are.
/// </summary>
sealed class ZipModelWriter(ZipArchive archive, string prefix) : IModelWriter
{
    public void WriteTensor(string name, ReadOnlySpan<float> data, params int[] shape)
    {
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (expected != data.Length) throw new ArgumentException($"Tensor '{name}' has {data.Length} values but shape [{string.Join(",", shape)}].");
        using var stream = Open(name + ".npy");
        Npy.Write(stream, data, shape);
    }

    public void WriteBytes(string name, ReadOnlySpan<byte> data)
    {
        using var stream = Open(name);
        stream.Write(data);
    }

    public void WriteText(string name, string text) => WriteBytes(name, Encoding.UTF8.GetBytes(text));

    Stream Open(string name) => archive.CreateEntry(prefix + name, CompressionLevel.Fastest).Open();
}

sealed class ZipModelReader(ZipArchive archive, string prefix, string fileName) : IModelReader
{
    public bool Contains(string name) => archive.GetEntry(prefix + name) is not null || archive.GetEntry(prefix + name + ".npy") is not null;

    public float[] ReadTensor(string name, out int[] shape)
    {
        using var stream = Open(name + ".npy");
        return Npy.Read(stream, $"{fileName}:{prefix}{name}.npy", out shape);
    }

    public byte[] ReadBytes(string name)
    {
        using var stream = Open(name);
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    public string ReadText(string name) => Encoding.UTF8.GetString(ReadBytes(name));

    Stream Open(string name)
    {
        var entry = archive.GetEntry(prefix + name)
            ?? throw new PipelineException($"Model file {fileName} lacks '{prefix}{name}': the file is incomplete or was written by an incompatible plugin version.");
        return entry.Open();
    }
}

/// <summary>NumPy .npy format version 1.0, float32 only.</summary>
static class Npy
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static void Write(Stream stream, ReadOnlySpan<float> data, int[] shape)
    {
        var shapeText = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shapeText}, }}";
        int total = Magic.Length + 4 + header.Length + 1;
        int padding = (64 - total % 64) % 64;
        header = header + new string(' ', padding) + "\n";
        stream.Write(Magic);
        stream.Write([1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.ASCII.GetBytes(header));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Model files are written on little-endian machines only.");
        stream.Write(MemoryMarshal.AsBytes(data));
    }

    public static float[] Read(Stream stream, string name, out int[] shape)
    {
        Span<byte> prefix = stackalloc byte[10];
        stream.ReadExactly(prefix);
        if (!prefix[..6].SequenceEqual(Magic)) throw new PipelineException($"{name} is not a .npy tensor.");
        int headerLength = BitConverter.ToUInt16(prefix[8..10]);
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = Encoding.ASCII.GetString(headerBytes);
        if (!header.Contains("'descr': '<f4'") || header.Contains("'fortran_order': True"))
            throw new PipelineException($"{name}: only little-endian float32 C-order tensors are supported.");
        int open = header.IndexOf("'shape': (", StringComparison.Ordinal) + 10;
        int close = header.IndexOf(')', open);
        shape = header[open..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new float[count];
        stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        return data;
    }
}
