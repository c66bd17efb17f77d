using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Core.Explain;
using Xunit.Abstractions;

namespace PipelineFramework.Tests.Explain;

/// <summary>
/// <see cref="DefectSize"/> on synthetic maps: a known shape blurred by a known point-spread function, on a background,
/// must give back the shape's area.
/// </summary>
public class DefectSizeTests(ITestOutputHelper output)
{
    const int Size = 160;

    /// <summary>A map of <paramref name="shape"/> (pixels set to 1) blurred by a Gaussian, scaled to <paramref name="height"/> above <paramref name="background"/>.</summary>
    static Grid2D Blurred(Func<int, int, bool> shape, float sigma, float height = 1, float background = 0)
    {
        var sharp = new float[Size * Size];
        for (int y = 0; y < Size; y++)
        for (int x = 0; x < Size; x++)
            if (shape(x, y)) sharp[y * Size + x] = 1;
        var blurred = MapOps.GaussianBlur(sharp, Size, Size, sigma);
        for (int i = 0; i < blurred.Length; i++) blurred[i] = background + height * blurred[i];
        return new Grid2D(Size, Size, blurred);
    }

    static Grid2D PointSpread(float sigma) => Blurred((x, y) => x == Size / 2 && y == Size / 2, sigma);

    static int Count(Func<int, int, bool> shape) =>
        Enumerable.Range(0, Size * Size).Count(i => shape(i % Size, i / Size));

    /// <summary>
    /// The estimate for the bump peaking in the map, as <see cref="Core.Engine.FittedStages"/> calls it: with the box of
    /// the region above a threshold, here half way up the bump.
    /// </summary>
    static double Estimate(DefectSize size, Grid2D map, double background)
    {
        float peak = map.Values.Max();
        int at = Array.IndexOf(map.Values, peak);
        var region = ConnectedRegions.Find(map.Values, Size, Size, (float)(background + (peak - background) / 2)).Single();
        return size.Area(map, background, at % Size, at / Size, new PixelBox(region.X, region.Y, region.Width, region.Height), new bool[map.Values.Length]);
    }

    [Fact]
    public void The_edge_spread_of_a_gaussian_is_where_its_tail_holds_the_level()
    {
        // A straight edge blurred by a Gaussian falls to 0.2 of its height at sigma * Phi^-1(0.8) = 0.8416 sigma beyond it.
        var size = new DefectSize(PointSpread(4));
        Assert.Equal(0.8416 * 4, size.EdgeSpread, 0.15);
    }

    [Theory]
    [InlineData(0.1, 1.2816)]
    [InlineData(0.3, 0.5244)]
    [InlineData(0.4, 0.2533)]
    public void The_edge_spread_follows_the_level_it_is_read_at(double level, double quantile)
    {
        // sigma * Phi^-1(1 - level): the levels bench size measures must each subtract their own blur.
        var size = new DefectSize(PointSpread(4), level);
        Assert.Equal(level, size.Level);
        Assert.Equal(quantile * 4, size.EdgeSpread, 0.15);
        var disk = Blurred((x, y) => (x - 80) * (x - 80) + (y - 80) * (y - 80) <= 20 * 20, 4);
        Assert.InRange(Estimate(size, disk, 0) / Count((x, y) => (x - 80) * (x - 80) + (y - 80) * (y - 80) <= 20 * 20), 0.9, 1.08);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(double.NaN)]
    public void A_level_outside_the_bump_is_refused(double level)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new DefectSize(PointSpread(4), level));
        Assert.Contains("between 0 and 1", error.Message);
    }

    [Theory]
    [InlineData(20, 4)]
    [InlineData(30, 6)]
    [InlineData(12, 3)]
    public void A_blurred_disk_gives_back_its_area(int radius, float sigma)
    {
        bool Disk(int x, int y) => (x - 80) * (x - 80) + (y - 80) * (y - 80) <= radius * radius;
        var size = new DefectSize(PointSpread(sigma));
        var map = Blurred(Disk, sigma);
        double estimate = Estimate(size, map, 0);
        int truth = Count(Disk);
        float peak = map.Values.Max();
        int aboveLevel = map.Values.Count(v => v > DefectSize.DefaultLevel * peak);
        output.WriteLine($"disk r {radius}, sigma {sigma}: {truth} px, estimate {estimate:0}, above the level {aboveLevel}");
        Assert.InRange(estimate / truth, 0.93, 1.05);   // a disk's edge curves away: its level sits a little inside a straight edge's
        Assert.True(aboveLevel > 1.15 * truth, "the blur must widen the bump for this test to mean anything");
    }

    [Fact]
    public void A_thin_line_gives_back_its_area_not_the_blur_around_it()
    {
        bool Line(int x, int y) => x >= 30 && x < 130 && y >= 78 && y < 84;   // 100 x 6 px, diagonal would do as well
        const float sigma = 2;   // a width of 3 sigma: resolved, yet the blur doubles what is above the level
        var map = Blurred(Line, sigma);
        var size = new DefectSize(PointSpread(sigma));
        double estimate = Estimate(size, map, 0);
        int truth = Count(Line);
        float top = map.Values.Max();
        int aboveLevel = map.Values.Count(v => v > DefectSize.DefaultLevel * top);
        output.WriteLine($"line 100 x 6, sigma {sigma}: {truth} px, estimate {estimate:0}, above the level {aboveLevel}");
        Assert.InRange(estimate / truth, 0.85, 1.2);
        Assert.True(aboveLevel > 1.5 * truth, "the blur must widen the line for this test to mean anything");
    }

    [Fact]
    public void A_faint_defect_is_as_big_as_a_strong_one_of_the_same_shape()
    {
        bool Blob(int x, int y) => (x - 70) * (x - 70) / 400.0 + (y - 90) * (y - 90) / 144.0 <= 1;   // ellipse 20 x 12
        var size = new DefectSize(PointSpread(4));
        double faint = Estimate(size, Blurred(Blob, 4, height: 0.1f, background: 1.5f), 1.5);
        double strong = Estimate(size, Blurred(Blob, 4, height: 5, background: 1.5f), 1.5);
        Assert.Equal(strong, faint, 0.01 * strong);
        Assert.InRange(strong / Count(Blob), 0.9, 1.1);
    }

    [Fact]
    public void A_bump_already_taken_by_a_stronger_region_is_not_counted_twice()
    {
        bool Disk(int x, int y) => (x - 80) * (x - 80) + (y - 80) * (y - 80) <= 15 * 15;
        var map = Blurred(Disk, 4);
        var size = new DefectSize(PointSpread(4));
        var taken = new bool[map.Values.Length];
        double first = size.Area(map, 0, 80, 80, new PixelBox(70, 70, 20, 20), taken);
        double second = size.Area(map, 0, 82, 80, new PixelBox(80, 75, 10, 10), taken);
        Assert.True(first > 600, $"first {first}");
        Assert.Equal(1, second);
    }

    [Fact]
    public void A_point_spread_of_nan_blurs_nothing_instead_of_failing()
    {
        var size = new DefectSize(new Grid2D(3, 3, Enumerable.Repeat(float.NaN, 9).ToArray()));
        Assert.Equal(0, size.EdgeSpread);
        Assert.Equal(0, size.Reach);
    }

    [Fact]
    public void A_sharp_map_is_measured_as_it_is()
    {
        var map = new Grid2D(5, 5, [
            0, 0, 0, 0, 0,
            0, 1.5f, 2.5f, 1.5f, 0,
            0, 2.5f, 6, 2.5f, 0,
            0, 1.5f, 2.5f, 1.5f, 0,
            0, 0, 0, 0, 0]);
        // Level 0 + 0.2 * 6 = 1.2: the 3 x 3 square, as an ellipse of the same count.
        Assert.Equal(9, DefectSize.Sharp.Area(map, 0, 2, 2, new PixelBox(1, 1, 3, 3), new bool[25]), 1e-9);
    }
}
