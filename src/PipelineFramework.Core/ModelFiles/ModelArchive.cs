using System.Buffers.Binary;
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

/// <summary>Reads component state; every entry goes through <see cref="ModelEntryReader"/> (limits, checksum).</summary>
sealed class ZipModelReader(ZipArchive archive, string prefix, string fileName) : IModelReader
{
    public bool Contains(string name) => archive.GetEntry(prefix + name) is not null || archive.GetEntry(prefix + name + ".npy") is not null;

    public float[] ReadTensor(string name, out int[] shape)
    {
        using var entry = Open(name + ".npy");
        return Npy.Read(entry, out shape);
    }

    public byte[] ReadBytes(string name)
    {
        using var entry = Open(name);
        return entry.ReadToEnd();
    }

    public string ReadText(string name) => Encoding.UTF8.GetString(ReadBytes(name));

    ModelEntryReader Open(string name)
    {
        var entry = archive.GetEntry(prefix + name)
            ?? throw new PipelineException($"Model file {fileName} lacks '{prefix}{name}': the file is incomplete or was written by an incompatible plugin version.");
        return ModelEntryReader.Open(entry, fileName, ModelFileLimits.MaxEntryBytes);
    }
}

/// <summary>
/// NumPy .npy format version 1.0, little-endian float32, C order only. Reading trusts nothing in the header: the shape
/// must be well formed, within <see cref="ModelFileLimits"/>, and account for the entry's length exactly; the values
/// must be finite, since one NaN in a memory bank makes every verdict ANOMALY without any error.
/// </summary>
static class Npy
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
    const int PrefixLength = 10;

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

    public static float[] Read(ModelEntryReader entry, out int[] shape)
    {
        if (entry.Length < PrefixLength) throw entry.Damaged($"is cut short: {entry.Length} bytes, less than a .npy header");
        Span<byte> prefix = stackalloc byte[PrefixLength];
        entry.ReadExactly(prefix);
        if (!prefix[..6].SequenceEqual(Magic)) throw entry.Damaged("is not a .npy tensor (no NUMPY signature)");
        if (prefix[6] != 1 || prefix[7] != 0)
            throw entry.Damaged($"is .npy version {prefix[6]}.{prefix[7]}; model files hold version 1.0");
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
        if (headerLength > entry.Remaining)
            throw entry.Damaged($"is cut short: its .npy header declares {headerLength} bytes, the entry holds {entry.Remaining} after the signature");
        var headerBytes = new byte[headerLength];
        entry.ReadExactly(headerBytes);
        var header = Encoding.ASCII.GetString(headerBytes);
        if (!header.Contains("'descr': '<f4'", StringComparison.Ordinal) || !header.Contains("'fortran_order': False", StringComparison.Ordinal))
            throw entry.Damaged($"is not a little-endian float32 C-order tensor (header {Shown(header)}); model files hold only those");
        shape = ParseShape(header, entry);
        long count = ValueCount(shape, entry);
        long dataBytes = count * sizeof(float);
        if (dataBytes != entry.Remaining)
            throw entry.Damaged($"declares shape [{string.Join(", ", shape)}], {dataBytes:N0} bytes of float32, but holds {entry.Remaining:N0} bytes after its header");
        var data = new float[count];
        entry.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        int bad = IndexOfNonFinite(data);
        if (bad >= 0)
            throw entry.Damaged($"holds {data[bad]} at flat index {bad}: NaN or infinity in a model's state makes its scores meaningless");
        return data;
    }

    static int[] ParseShape(string header, ModelEntryReader entry)
    {
        const string key = "'shape': (";
        int open = header.IndexOf(key, StringComparison.Ordinal);
        int close = open < 0 ? -1 : header.IndexOf(')', open + key.Length);
        if (close < 0) throw entry.Damaged($"has no well-formed shape in its .npy header {Shown(header)}");
        var parts = header[(open + key.Length)..close].Split(',', StringSplitOptions.TrimEntries);
        // NumPy writes a rank-1 shape with a trailing comma: (5,)
        if (parts.Length > 1 && parts[^1].Length == 0) parts = parts[..^1];
        if (parts.Length > ModelFileLimits.MaxTensorRank)
            throw entry.Damaged($"declares a {parts.Length}-dimensional shape; tensors have at most {ModelFileLimits.MaxTensorRank} ({nameof(ModelFileLimits)})");
        var shape = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long dim))
                throw entry.Damaged($"has a malformed shape '({header[(open + key.Length)..close]})' in its .npy header");
            if (dim < 0) throw entry.Damaged($"declares a negative dimension ({dim}) in its shape");
            if (dim > int.MaxValue) throw entry.Damaged($"declares a dimension of {dim}, over the limit of {ModelFileLimits.MaxTensorValues:N0} values ({nameof(ModelFileLimits)})");
            shape[i] = (int)dim;
        }
        return shape;
    }

    static long ValueCount(int[] shape, ModelEntryReader entry)
    {
        if (shape.Contains(0)) return 0;
        long count = 1;
        foreach (int dim in shape)
        {
            // Each factor is below 2^31 and the running product at most the limit (2^28), so this cannot overflow.
            count *= dim;
            if (count > ModelFileLimits.MaxTensorValues)
                throw entry.Damaged($"declares shape [{string.Join(", ", shape)}], over the limit of {ModelFileLimits.MaxTensorValues:N0} values ({nameof(ModelFileLimits)})");
        }
        return count;
    }

    static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    static string Shown(string header) => header.Length <= 120 ? header.Trim() : header[..120] + "...";
}
