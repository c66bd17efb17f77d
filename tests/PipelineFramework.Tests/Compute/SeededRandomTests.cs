using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

public class SeededRandomTests
{
    private static ulong[] Draws(SeededRandom rng, int count) => Enumerable.Range(0, count).Select(_ => rng.NextULong()).ToArray();

    [Fact]
    public void First_values_are_pinned_to_the_plugins_former_generator()
    {
        // Produced by the per-plugin Rng copies this class replaced (and by reference xoshiro256** seeded with
        // SplitMix64 from 0x0000002A0000002A). A change here changes every synthetic defect and trained model.
        var rng = SeededRandom.Create(42, 0);
        Assert.Equal(new[] { 0x8024F6C991078045UL, 0xE0DC248D75163244UL, 0x8B1C8AB50C186827UL }, Draws(rng, 3));

        var stream = SeededRandom.Create(42, 0x1234, 5);
        Assert.Equal(new[] { 0x681A1B4750329EC8UL, 0x95F9F1D0F422430EUL, 0x68584784CD6E002CUL }, Draws(stream, 3));
    }

    [Fact]
    public void Same_seed_gives_the_same_stream()
    {
        Assert.Equal(Draws(SeededRandom.Create(7, 0xABCD), 100), Draws(SeededRandom.Create(7, 0xABCD), 100));
        Assert.Equal(Draws(SeededRandom.Create(7, 0xABCD, 3), 100), Draws(SeededRandom.Create(7, 0xABCD, 3), 100));
        Assert.Equal(Draws(new SeededRandom(123), 100), Draws(new SeededRandom(123), 100));
    }

    [Fact]
    public void Different_seeds_salts_and_streams_differ()
    {
        var streams = new List<ulong[]>
        {
            Draws(SeededRandom.Create(7, 1), 8),
            Draws(SeededRandom.Create(8, 1), 8),
            Draws(SeededRandom.Create(7, 2), 8),
            Draws(SeededRandom.Create(7, 1, 0), 8),
            Draws(SeededRandom.Create(7, 1, 1), 8),
            Draws(SeededRandom.Create(7, 1, 2), 8),
            Draws(SeededRandom.Create(7, 2, 1), 8),
        };
        for (int i = 0; i < streams.Count; i++)
            for (int j = i + 1; j < streams.Count; j++)
                Assert.False(streams[i].AsSpan().SequenceEqual(streams[j]), $"Streams {i} and {j} are equal.");
    }

    [Fact]
    public void NextInt_stays_in_range_and_is_roughly_uniform()
    {
        const int bins = 10, draws = 100_000;
        var rng = SeededRandom.Create(2024, 0x5EED);
        var counts = new int[bins];
        for (int i = 0; i < draws; i++)
        {
            int v = rng.NextInt(bins);
            Assert.InRange(v, 0, bins - 1);
            counts[v]++;
        }
        double expected = (double)draws / bins;
        double chiSquare = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chiSquare < 27.88, $"Chi-square {chiSquare:F2} over {bins} bins exceeds the 99.9 % quantile (9 d.o.f.).");

        Assert.Equal(0, rng.NextInt(1));
        Assert.Equal(0, rng.NextInt(0));
        for (int i = 0; i < 1000; i++) Assert.InRange(rng.NextInt(-2, 3), -2, 3);
        Assert.Equal(5, rng.NextInt(5, 5));
    }

    [Fact]
    public void NextDouble_is_in_the_unit_interval()
    {
        var rng = SeededRandom.Create(9, 0);
        double min = 1, max = 0, sum = 0;
        const int n = 100_000;
        for (int i = 0; i < n; i++)
        {
            double d = rng.NextDouble();
            Assert.True(d >= 0.0 && d < 1.0, $"NextDouble gave {d}.");
            min = Math.Min(min, d); max = Math.Max(max, d); sum += d;
        }
        Assert.True(min < 0.001 && max > 0.999, $"Range [{min}, {max}] does not cover the unit interval.");
        Assert.InRange(sum / n, 0.49, 0.51);
    }
}
