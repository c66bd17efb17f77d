using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.ModelFiles.ModelFileSurgery;

namespace PipelineFramework.Tests.ModelFiles;

public class TensorEntryTests
{
    static float[] BankValues(out int rows)
    {
        var bank = Entry(Format1, Bank);
        var values = MemoryMarshal.Cast<byte, float>(bank.AsSpan(128)).ToArray();
        rows = values.Length / 128;
        return values;
    }

    static PipelineException ReadFails(byte[] bankEntry) => ReadModelFails(WithEntry(Format1, Bank, bankEntry));

    static PipelineException ReadModelFails(byte[] model)
    {
        using var zip = ModelFileReader.OpenArchive(new MemoryStream(model), "m.pfmodel");
        var reader = new ZipModelReader(zip, "scoring/", "m.pfmodel");
        var e = Assert.Throws<PipelineException>(() => reader.ReadTensor("memory_bank", out _));
        Assert.Contains("m.pfmodel", e.Message);
        Assert.Contains(Bank, e.Message);
        return e;
    }

    [Fact]
    public void Format1_bank_header_is_what_the_writer_writes_and_reads_back()
    {
        var values = BankValues(out int rows);
        var written = Npy($"({rows}, 128)", values);
        Assert.Equal(Entry(Format1, Bank), written);
        using var zip = ModelFileReader.OpenArchive(new MemoryStream(Format1), "m.pfmodel");
        Assert.Equal(values, new ZipModelReader(zip, "scoring/", "m.pfmodel").ReadTensor("memory_bank", out var shape));
        Assert.Equal([rows, 128], shape);
    }

    [Theory]
    [InlineData("(-5, 128)", "negative")]
    [InlineData("(99999999999, 128)", "99999999999")]
    [InlineData("(2000000000, 128)", "limit")]
    [InlineData("(65536, 65536, 65536)", "limit")]
    [InlineData("(1381, x)", "shape")]
    [InlineData("1381", "shape")]
    [InlineData("(1381, 128", "shape")]
    public void Absurd_or_malformed_shapes_are_refused_before_allocating(string shape, string expected)
    {
        var values = BankValues(out _);
        Assert.Contains(expected, ReadFails(Npy(shape, values)).Message);
    }

    [Fact]
    public void Headers_that_are_not_float32_npy_are_refused()
    {
        var data = MemoryMarshal.AsBytes(BankValues(out int rows).AsSpan()).ToArray();
        Assert.Contains("float32", ReadFails(Npy($"{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, 64), }}", data)).Message);
        Assert.Contains("float32", ReadFails(Npy($"{{'descr': '<f4', 'fortran_order': True, 'shape': ({rows}, 128), }}", data)).Message);
        Assert.Contains("not a .npy", ReadFails(Encoding.ASCII.GetBytes("hello, world")).Message);
        Assert.Contains("cut short", ReadFails([0x93, (byte)'N', (byte)'U']).Message);
        // A header length running past the end of the entry.
        var bank = Entry(Format1, Bank);
        var longHeader = (byte[])bank.Clone();
        longHeader[8] = 0xFF; longHeader[9] = 0xFF;
        ReadFails(longHeader);
    }

    [Fact]
    public void Data_shorter_or_longer_than_the_shape_declares_is_refused()
    {
        var values = BankValues(out int rows);
        var bank = Npy($"({rows}, 128)", values);
        var e = ReadFails(bank[..^100]);
        Assert.Contains("bytes", e.Message);
        Assert.Contains($"[{rows}, 128]", e.Message);
        Assert.Contains("bytes", ReadFails([.. bank, 0, 0, 0, 0]).Message);
        Assert.Contains("bytes", ReadFails(Npy($"({rows + 1}, 128)", values)).Message);
    }

    [Fact]
    public void Non_finite_values_are_refused_with_the_entry_and_position()
    {
        foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var values = BankValues(out int rows);
            values[1000] = bad;
            var e = ReadFails(Npy($"({rows}, 128)", values));
            Assert.Contains("NaN or infinity", e.Message);
            Assert.Contains("1000", e.Message);
        }
    }

    [Fact]
    public void Declared_length_over_the_limit_is_refused_without_reading()
    {
        var e = ReadModelFails(WithDeclaredLength(Format1, Bank, uint.MaxValue));
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void Entry_decompressing_to_more_than_it_declares_is_refused()
    {
        var bank = Entry(Format1, Bank);
        ReadModelFails(WithDeclaredLength(Format1, Bank, (uint)bank.Length - 512));
        ReadModelFails(WithDeclaredLength(Format1, Bank, (uint)bank.Length + 512));
    }

    /// <summary>Zeros without end, so a 2 GiB entry can be compressed without holding it.</summary>
    sealed class Zeros(long length) : Stream
    {
        long _left = length;
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, _left);
            Array.Clear(buffer, offset, n);
            _left -= n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void Bank_decompressing_to_2_GiB_is_refused_quickly_without_allocating_it()
    {
        const int rows = 4 * 1024 * 1024, dim = 128; // 2 GiB of float32
        var header = Npy($"({rows}, {dim})", ReadOnlySpan<float>.Empty);
        var output = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(Format1), ZipArchiveMode.Read))
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries.Where(e => e.FullName != Bank))
            {
                using var to = zip.CreateEntry(entry.FullName, CompressionLevel.Fastest).Open();
                using var from = entry.Open();
                from.CopyTo(to);
            }
            using var bank = zip.CreateEntry(Bank, CompressionLevel.Optimal).Open();
            bank.Write(header);
            new Zeros(4L * rows * dim).CopyTo(bank, 1 << 20);
        }
        var model = output.ToArray();
        Assert.True(model.Length < 10_000_000, $"{model.Length} bytes");
        var path = Save(model, "bomb.pfmodel");

        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<PipelineException>(() => AnomalyModel.Load(path, TestData.Catalog));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), clock.Elapsed.ToString());
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore < 256L << 20, "allocated too much");
        Assert.Contains("bomb.pfmodel", e.Message);
        Assert.Contains(Bank, e.Message);
        Assert.Contains("limit", e.Message);
    }
}
