using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

/// <summary>
/// ConnectedRegions.Find (one scan with union-find) against the plainest possible reference: a breadth-first flood
/// fill over the 8 neighbours, on a few hundred seeded random maps of many sizes, densities and value patterns.
/// </summary>
public class ConnectedRegionsTests
{
    /// <summary>
    /// Regions of pixels strictly above the level (NaN is never above), 8-connected. The peak is the largest value,
    /// at its first pixel in reading order; regions are ordered by peak descending, then peak row, then peak column.
    /// </summary>
    static List<MapRegion> Reference(float[] map, int height, int width, float level)
    {
        var seen = new bool[map.Length];
        var regions = new List<MapRegion>();
        var queue = new Queue<int>();
        for (int start = 0; start < map.Length; start++)
        {
            if (seen[start] || !(map[start] > level)) continue;
            seen[start] = true;
            queue.Enqueue(start);
            var pixels = new List<int>();
            while (queue.Count > 0)
            {
                int i = queue.Dequeue();
                pixels.Add(i);
                int x = i % width, y = i / width;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
                        int n = ny * width + nx;
                        if (seen[n] || !(map[n] > level)) continue;
                        seen[n] = true;
                        queue.Enqueue(n);
                    }
            }
            float peak = pixels.Max(i => map[i]);
            int peakIndex = pixels.Where(i => map[i] == peak).Min();
            int minX = pixels.Min(i => i % width), maxX = pixels.Max(i => i % width);
            int minY = pixels.Min(i => i / width), maxY = pixels.Max(i => i / width);
            regions.Add(new MapRegion(minX, minY, maxX - minX + 1, maxY - minY + 1, pixels.Count, peak,
                peakIndex % width, peakIndex / width, pixels.Sum(i => (double)map[i])));
        }
        return regions.OrderByDescending(r => r.Peak).ThenBy(r => r.PeakY).ThenBy(r => r.PeakX).ToList();
    }

    static void AssertSameRegions(float[] map, int height, int width, float level, string what)
    {
        var expected = Reference(map, height, width, level);
        var actual = ConnectedRegions.Find(map, height, width, level);
        Assert.True(expected.Count == actual.Length, $"{what}: {actual.Length} regions, the flood fill finds {expected.Count}.");
        for (int r = 0; r < expected.Count; r++)
        {
            var (e, a) = (expected[r], actual[r]);
            Assert.True((e.X, e.Y, e.Width, e.Height, e.Area, e.PeakX, e.PeakY) == (a.X, a.Y, a.Width, a.Height, a.Area, a.PeakX, a.PeakY)
                && BitConverter.SingleToInt32Bits(e.Peak) == BitConverter.SingleToInt32Bits(a.Peak),
                $"{what}: region {r} is {a}, the flood fill's is {e}.");
            Assert.True(Math.Abs(e.Sum - a.Sum) <= 1e-9 * Math.Max(1, Math.Abs(e.Sum)),
                $"{what}: region {r} sums to {a.Sum:R}, the flood fill's to {e.Sum:R}.");
        }
    }

    enum Pattern { Uniform, Quantised, Smooth, Gaussian, WithNaN, Checkerboard, Diagonals, Constant }

    static float[] MakeMap(Pattern pattern, int height, int width, SeededRandom rng)
    {
        var map = new float[height * width];
        switch (pattern)
        {
            case Pattern.Uniform:
                for (int i = 0; i < map.Length; i++) map[i] = (float)rng.NextDouble();
                break;
            case Pattern.Quantised: // many equal values: ties for the peak inside and between regions
                for (int i = 0; i < map.Length; i++) map[i] = rng.NextInt(5) / 4f;
                break;
            case Pattern.Smooth: // blobs, as real heat maps have: a few bumps of random size
                int bumps = rng.NextInt(1, 6);
                for (int b = 0; b < bumps; b++)
                {
                    double cx = rng.Uniform(0, width), cy = rng.Uniform(0, height), s = rng.Uniform(0.5, 8), a = rng.Uniform(0.2, 1);
                    for (int y = 0; y < height; y++)
                        for (int x = 0; x < width; x++)
                            map[y * width + x] += (float)(a * Math.Exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * s * s)));
                }
                break;
            case Pattern.Gaussian: // negative values too
                rng.FillGaussian(map, 1f);
                break;
            case Pattern.WithNaN:
                for (int i = 0; i < map.Length; i++) map[i] = rng.NextInt(4) == 0 ? float.NaN : (float)rng.NextDouble();
                break;
            case Pattern.Checkerboard: // diagonal neighbours only: one region with 8-connectivity, single pixels with 4
                for (int i = 0; i < map.Length; i++) map[i] = (i / width + i % width) % 2 == 0 ? 0.5f + (float)rng.NextDouble() / 2 : 0f;
                break;
            case Pattern.Diagonals: // separate diagonal lines touching only at corners
                int period = rng.NextInt(2, 5);
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                        map[y * width + x] = (x + y) % period == 0 || (x - y + 100 * period) % (period + 1) == 0 ? 1f : 0f;
                break;
            case Pattern.Constant:
                Array.Fill(map, (float)rng.NextDouble());
                break;
        }
        return map;
    }

    [Fact]
    public void Random_maps_give_the_regions_of_a_flood_fill_in_peak_order()
    {
        var rng = new SeededRandom(20240601);
        var patterns = Enum.GetValues<Pattern>();
        int withRegions = 0, multiRegion = 0;
        for (int trial = 0; trial < 320; trial++)
        {
            var pattern = patterns[trial % patterns.Length];
            int height = trial < 16 ? 1 + trial % 2 : rng.NextInt(1, 40), width = trial < 16 ? 1 + trial / 2 % 2 : rng.NextInt(1, 60);
            var map = MakeMap(pattern, height, width, rng);
            // Levels below everything, above everything, and in between.
            float level = (trial / patterns.Length % 4) switch
            {
                0 => -10f,
                1 => 10f,
                _ => pattern == Pattern.Gaussian ? (float)rng.Uniform(-1, 2) : (float)rng.Uniform(0, 1),
            };
            AssertSameRegions(map, height, width, level, $"trial {trial}: {pattern} {height}x{width} level {level:R}");
            int found = ConnectedRegions.Find(map, height, width, level).Length;
            if (found > 0) withRegions++;
            if (found > 1) multiRegion++;
        }
        // The maps must exercise the labelling, not only return nothing.
        Assert.True(withRegions > 150 && multiRegion > 60, $"{withRegions} maps with regions, {multiRegion} with several.");
    }

    [Fact]
    public void A_map_entirely_above_the_level_is_one_region_and_one_entirely_below_is_none()
    {
        var map = Enumerable.Range(0, 12 * 7).Select(i => (float)Math.Sin(i)).ToArray();
        var all = Assert.Single(ConnectedRegions.Find(map, 12, 7, -2f));
        Assert.Equal((0, 0, 7, 12, 84), (all.X, all.Y, all.Width, all.Height, all.Area));
        Assert.Empty(ConnectedRegions.Find(map, 12, 7, 2f));
        Assert.Empty(ConnectedRegions.Find(Enumerable.Repeat(float.NaN, 6).ToArray(), 2, 3, -2f));
    }

    [Fact]
    public void Pixels_touching_only_at_corners_are_one_region()
    {
        // An anti-diagonal and a diagonal: 4-connectivity would give 3 + 3 single pixels.
        float[] map =
        [
            0, 0, 1,  0,  1, 0, 0,
            0, 1, 0,  0,  0, 2, 0,
            1, 0, 0,  0,  0, 0, 1,
        ];
        var regions = ConnectedRegions.Find(map, 3, 7, 0.5f);
        Assert.Equal(2, regions.Length);
        Assert.Equal(new MapRegion(4, 0, 3, 3, 3, 2f, 5, 1, 4), regions[0]);
        Assert.Equal(new MapRegion(0, 0, 3, 3, 3, 1f, 2, 0, 3), regions[1]);
    }

    [Fact]
    public void Regions_with_equal_peaks_are_ordered_by_row_then_column()
    {
        float[] map =
        [
            0, 0, 0, 0, 1,
            1, 0, 0, 0, 0,
            0, 0, 1, 0, 0,
        ];
        var peaks = ConnectedRegions.Find(map, 3, 5, 0.5f).Select(r => (r.PeakY, r.PeakX)).ToArray();
        Assert.Equal(new[] { (0, 4), (1, 0), (2, 2) }, peaks);
    }
}
