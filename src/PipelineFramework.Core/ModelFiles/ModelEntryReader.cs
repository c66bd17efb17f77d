using System.Buffers.Binary;
using System.IO.Compression;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.ModelFiles;

/// <summary>
/// Reads one model file entry from start to end, the only way entries are read. Bounds the length before reading
/// (declared length against a limit) and while reading (never past the declared length), and checks the CRC-32 the zip
/// already records for every entry when the last byte arrives: .NET's decompressor does not, so a flipped bit would
/// otherwise reach a component (and ONNX Runtime, which can crash natively on a corrupt graph) as silently wrong bytes.
/// </summary>
sealed class ModelEntryReader : IDisposable
{
    readonly Stream _stream;
    readonly uint _recordedCrc;
    readonly string _file;
    long _read;
    uint _crc;
    bool _verified;

    ModelEntryReader(Stream stream, ZipArchiveEntry entry, string file)
    {
        _stream = stream;
        _recordedCrc = entry.Crc32;
        _file = file;
        Name = entry.FullName;
        Length = entry.Length;
    }

    public string Name { get; }
    /// <summary>Uncompressed length the zip declares, at most the limit it was opened with.</summary>
    public long Length { get; }
    public long Remaining => Length - _read;

    public static ModelEntryReader Open(ZipArchiveEntry entry, string file, long limit)
    {
        if (entry.Length > limit)
            throw ModelFileDamage.Error(file, entry.FullName,
                $"declares {entry.Length:N0} bytes uncompressed, over the limit of {limit:N0} bytes for this entry ({nameof(ModelFileLimits)})");
        try
        {
            return new ModelEntryReader(entry.Open(), entry, file);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw ModelFileDamage.Error(file, entry.FullName, $"cannot be opened ({e.Message})", e);
        }
    }

    public PipelineException Damaged(string problem, Exception? inner = null) => ModelFileDamage.Error(_file, Name, problem, inner);

    public byte[] ReadToEnd()
    {
        var data = new byte[Length];
        ReadExactly(data);
        return data;
    }

    /// <summary>Fills <paramref name="buffer"/>; reading the last byte checks the entry's length and checksum.</summary>
    public void ReadExactly(Span<byte> buffer)
    {
        if (buffer.Length > Remaining)
            throw Damaged($"is {Length:N0} bytes; reading {buffer.Length:N0} more after {_read:N0} runs past its end");
        while (!buffer.IsEmpty)
        {
            int n = ReadSome(buffer);
            if (n == 0) throw Damaged($"is cut short: it ends after {_read:N0} of the {Length:N0} bytes its zip header declares");
            buffer = buffer[n..];
        }
        if (Remaining == 0 && !_verified) VerifyEnd();
    }

    int ReadSome(Span<byte> buffer)
    {
        int n;
        try
        {
            n = _stream.Read(buffer);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw Damaged($"cannot be decompressed ({e.Message})", e);
        }
        _crc = ZipCrc32.Append(_crc, buffer[..n]);
        _read += n;
        return n;
    }

    void VerifyEnd()
    {
        _verified = true;
        Span<byte> probe = stackalloc byte[1];
        if (ReadSome(probe) != 0) throw Damaged($"decompresses to more than the {Length:N0} bytes its zip header declares");
        if (_crc != _recordedCrc)
            throw Damaged($"fails its checksum (CRC-32 of the content is {_crc:x8}, the zip records {_recordedCrc:x8})");
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>The zip (IEEE 802.3) CRC-32, slicing by 8 bytes (~1-2 GB/s, so checking a large bank costs little).</summary>
static class ZipCrc32
{
    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int slice = 1; slice < 8; slice++)
            {
                uint previous = table[(slice - 1) * 256 + i];
                table[slice * 256 + i] = (previous >> 8) ^ table[previous & 0xFF];
            }
        return table;
    }

    /// <summary>The CRC of everything hashed so far followed by <paramref name="data"/> (start from 0).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Table;
        crc = ~crc;
        while (data.Length >= 8)
        {
            uint low = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint high = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[7 * 256 + (low & 0xFF)] ^ t[6 * 256 + ((low >> 8) & 0xFF)] ^ t[5 * 256 + ((low >> 16) & 0xFF)] ^ t[4 * 256 + (low >> 24)]
                ^ t[3 * 256 + (high & 0xFF)] ^ t[2 * 256 + ((high >> 8) & 0xFF)] ^ t[256 + ((high >> 16) & 0xFF)] ^ t[high >> 24];
            data = data[8..];
        }
        foreach (byte b in data) crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }
}
