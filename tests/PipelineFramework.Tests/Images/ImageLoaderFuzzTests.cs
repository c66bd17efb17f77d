using System.Collections.Concurrent;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;
using Xunit.Abstractions;

namespace PipelineFramework.Tests.Images;

/// <summary>
/// Damaged copies of real image files (truncated, bits flipped, both, or a bit flipped in the declared size), with a fixed seed: each one either decodes or is
/// refused with a <see cref="PipelineException"/>; no other exception, no crash, no hang.
/// </summary>
public class ImageLoaderFuzzTests(ITestOutputHelper output)
{
    const int Seed = 20261127;
    const int CasesPerFile = 400;

    static IReadOnlyList<string> Sources()
    {
        var files = new List<string>
        {
            Path.Combine(TestData.Hazelnut, "train", "good", "00.jpg"),
            Path.Combine(TestData.Hazelnut, "test", "colour", "03.jpg"),
            Path.Combine(TestData.Hazelnut, "ground_truth", "colour", "03.png"),
        };
        // Real PNG photographs, and grey JPEGs, where ../shared has them.
        foreach (var extra in new[] { Path.Combine(TestData.Bottle, "test", "broken_large", "000.png"),
                     Path.Combine(TestData.Bottle, "ground_truth", "broken_large", "000_mask.png") })
            if (File.Exists(extra)) files.Add(extra);
        var kolektor = Path.Combine(TestData.SharedDatasets, "kolektorsdd_256", "kolektorsdd", "test", "crack");
        if (Directory.Exists(kolektor)) files.Add(Directory.GetFiles(kolektor).Order(StringComparer.Ordinal).First());
        return files;
    }

    static byte[] Damage(byte[] original, Random random)
    {
        int kind = random.Next(4);
        if (kind == 3) return SizeFieldFlipped(original, random);
        var bytes = kind == 1 ? (byte[])original.Clone() : original[..random.Next(1, original.Length)];
        if (kind != 0)
        {
            // Headers are where a flip changes the most (markers, chunk lengths): aim half the flips there.
            int flips = random.Next(1, 9);
            for (int f = 0; f < flips; f++)
            {
                int at = random.Next(2) == 0 ? random.Next(Math.Min(bytes.Length, 1024)) : random.Next(bytes.Length);
                bytes[at] ^= (byte)(1 << random.Next(8));
            }
        }
        return bytes;
    }

    /// <summary>
    /// Bits flipped in the declared size. PNG (IHDR): one bit of the third-lowest byte of both width and height, so
    /// each grows by 64 Ki to 8 Mi pixels: a header promising gigapixels. JPEG (SOF): one bit of either field.
    /// </summary>
    static byte[] SizeFieldFlipped(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        if (bytes[0] == 0x89 && bytes[1] == (byte)'P')
        {
            bytes[17] ^= (byte)(1 << random.Next(8)); // width, bits 16..23
            bytes[21] ^= (byte)(1 << random.Next(8)); // height, bits 16..23
            return bytes;
        }
        int sof = 2;
        while (!(bytes[sof] == 0xFF && bytes[sof + 1] is 0xC0 or 0xC1 or 0xC2)) sof++;
        bytes[sof + 5 + random.Next(4)] ^= (byte)(1 << random.Next(8));
        return bytes;
    }

    [Fact]
    public async Task Truncated_and_bit_flipped_images_decode_or_are_refused_with_a_PipelineException()
    {
        var sources = Sources().Select(p => (Name: Path.GetFileName(p), Bytes: File.ReadAllBytes(p))).ToList();
        int total = sources.Count * CasesPerFile, decoded = 0, refused = 0;
        var unexpected = new ConcurrentBag<string>();
        var work = Task.Run(() => Parallel.For(0, total, i =>
        {
            var (name, original) = sources[i / CasesPerFile];
            var damaged = Damage(original, new Random(Seed + i));
            try
            {
                var image = ImageLoader.Decode(damaged, $"{name} case {i}", grey: i % 2 == 1);
                Assert.True(image.Width > 0 && image.Height > 0 && image.Pixels.Length == image.Channels * image.Width * image.Height);
                Interlocked.Increment(ref decoded);
            }
            catch (PipelineException e)
            {
                Assert.Contains($"case {i}", e.Message);
                Interlocked.Increment(ref refused);
            }
            catch (Exception e)
            {
                unexpected.Add($"{name} case {i}: {e.GetType().Name}: {e.Message}");
            }
        }));
        try { await work.WaitAsync(TimeSpan.FromSeconds(120)); }
        catch (TimeoutException) { Assert.Fail("the loader hung on a damaged image"); }
        output.WriteLine($"fuzz: {total} cases over {sources.Count} files, {decoded} decoded, {refused} refused with PipelineException, {unexpected.Count} other");
        Assert.Empty(unexpected);
        Assert.Equal(total, decoded + refused);
        // Both outcomes must occur, or the damage is not exercising the decoder.
        Assert.True(decoded > total / 20 && refused > total / 20, $"{decoded} decoded, {refused} refused");
    }
}
