using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.ModelFiles.ModelFileSurgery;

namespace PipelineFramework.Tests.ModelFiles;

public class EntryIntegrityTests
{
    /// <summary>
    /// The first single-bit flip in the entry's stored bytes (from the middle on) that still decompresses, to the
    /// same length, into different bytes: the damage a decompressor alone cannot notice.
    /// </summary>
    static byte[] SilentlyFlipped(string entry)
    {
        var original = Entry(Format1, entry);
        var (start, length) = StoredData(Format1, entry);
        for (int at = start + length / 2; at < start + length; at += 97)
        {
            var damaged = (byte[])Format1.Clone();
            damaged[at] ^= 0x04;
            try
            {
                var content = Entry(damaged, entry);
                if (content.Length == original.Length && !content.AsSpan().SequenceEqual(original)) return damaged;
            }
            catch (InvalidDataException) { }
        }
        throw new InvalidOperationException("no silent flip found");
    }

    [Theory]
    [InlineData(Backbone)]
    [InlineData(Bank)]
    [InlineData("manifest.json")]
    public void A_flipped_bit_that_decompresses_cleanly_is_caught_by_the_checksum(string entry)
    {
        var path = Save(SilentlyFlipped(entry), "flipped.pfmodel");
        var e = Assert.Throws<PipelineException>(() => AnomalyModel.Load(path, TestData.Catalog));
        Assert.Contains("flipped.pfmodel", e.Message);
        Assert.Contains(entry, e.Message);
        Assert.Contains("checksum", e.Message);
    }

    [Fact]
    public void Truncated_file_names_the_file()
    {
        var path = Save(Format1[..(Format1.Length - 100)], "cut.pfmodel");
        var e = Assert.Throws<PipelineException>(() => AnomalyModel.Load(path, TestData.Catalog));
        Assert.Contains("cut.pfmodel", e.Message);
    }
}
