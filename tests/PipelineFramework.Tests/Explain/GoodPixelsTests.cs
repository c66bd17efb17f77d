using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Explain;
using PipelineFramework.Core.Images;
using Xunit.Abstractions;

namespace PipelineFramework.Tests.Explain;

/// <summary>
/// <see cref="GoodPixels"/> on synthetic images: good parts are a fixed scene plus sensor noise; a defect is a blob of
/// known area. The pixels must count the blob, count nothing where good parts vary as much, and the regions must state the
/// larger of the map's and the pixels' size.
/// </summary>
public class GoodPixelsTests(ITestOutputHelper output)
{
    const int Side = 64;

    /// <summary>A scene (a horizontal ramp, a brighter square) with Gaussian noise of <paramref name="noise"/> per value.</summary>
    static ImageTensor Good(SeededRandom random, float noise, Func<int, int, float>? extra = null)
    {
        var pixels = new float[3 * Side * Side];
        var jitter = new float[pixels.Length];
        random.FillGaussian(jitter, noise);
        for (int c = 0; c < 3; c++)
        for (int y = 0; y < Side; y++)
        for (int x = 0; x < Side; x++)
        {
            int i = (c * Side + y) * Side + x;
            float scene = 0.2f + 0.4f * x / Side + (x is >= 40 and < 56 && y is >= 8 && y < 24 ? 0.2f : 0) + 0.05f * c;
            pixels[i] = scene + jitter[i] + (extra?.Invoke(x, y) ?? 0);
        }
        return new ImageTensor(3, Side, Side, pixels);
    }

    static GoodPixels Fit(float noise, int fit = 20, int holdout = 8, Func<SeededRandom, Func<int, int, float>>? variation = null)
    {
        var random = new SeededRandom(7);
        ImageTensor Next() => Good(random, noise, variation?.Invoke(random));
        var fitting = Enumerable.Range(0, fit).Select(_ => GoodPixels.Reduce(Next())).ToList();
        var heldOut = Enumerable.Range(0, holdout).Select(_ => GoodPixels.Reduce(Next())).ToList();
        return GoodPixels.Fit(fitting, heldOut, 3, Side / 2, Side / 2)!;
    }

    static IEnumerable<int> All(Func<int, int, bool> where) =>
        Enumerable.Range(0, Side * Side).Where(i => where(i % Side, i / Side));

    static bool Disk(int x, int y, int cx, int cy, int r) => (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;

    [Fact]
    public void A_blob_that_deviates_is_counted_at_its_area()
    {
        var pixels = Fit(noise: 0.004f);
        var random = new SeededRandom(99);
        // A rectangle on the statistics' 2 x 2 grid, and a disk of moderate contrast whose edge blocks are half in.
        var rectangle = Good(random, 0.004f, (x, y) => x is >= 10 and < 30 && y is >= 36 and < 52 ? 0.3f : 0);
        var disk = Good(random, 0.004f, (x, y) => Disk(x, y, 44, 44, 12) ? 0.05f : 0);
        var bump = All((x, y) => x > 4 && y > 30 && x < 60 && y < 60).ToList();

        double rectangleArea = pixels.ExcessArea(pixels.Deviation(rectangle)!, bump, Side, new bool[pixels.Height * pixels.Width]);
        double diskArea = pixels.ExcessArea(pixels.Deviation(disk)!, All((x, y) => Disk(x, y, 44, 44, 18)), Side, new bool[pixels.Height * pixels.Width]);
        int diskTruth = All((x, y) => Disk(x, y, 44, 44, 12)).Count();
        output.WriteLine($"rectangle 320 px: {rectangleArea:0}; disk {diskTruth} px: {diskArea:0}; held-out false rate {pixels.MeanFalseRate:0.0000}");
        Assert.InRange(rectangleArea / 320, 0.97, 1.03);
        Assert.InRange(diskArea / diskTruth, 0.9, 1.1);
    }

    [Fact]
    public void A_part_like_the_good_ones_counts_nothing()
    {
        var pixels = Fit(noise: 0.004f);
        var good = Good(new SeededRandom(5), 0.004f);
        Assert.Equal(0, pixels.ExcessArea(pixels.Deviation(good)!, All((_, _) => true), Side, new bool[pixels.Height * pixels.Width]));
    }

    [Fact]
    public void Where_good_parts_vary_as_much_as_the_defect_nothing_is_counted()
    {
        // Not aligned: every good part has a blob as bright as the defect, placed anywhere within a few pixels. Where it
        // covers a pixel in most good parts the median is the blob; where in some, the held-out parts deviate there as
        // often: the defect's pixels are not told from good ones.
        Func<int, int, float> Moving(SeededRandom random)
        {
            int cx = random.NextInt(20, 40), cy = random.NextInt(40, 52);
            return (x, y) => Disk(x, y, cx, cy, 10) ? 0.3f : 0;
        }
        var pixels = Fit(noise: 0.004f, variation: Moving);
        var defect = Good(new SeededRandom(11), 0.004f, (x, y) => Disk(x, y, 30, 46, 8) ? 0.3f : 0);
        double area = pixels.ExcessArea(pixels.Deviation(defect)!, All((x, y) => Disk(x, y, 30, 46, 14)), Side, new bool[pixels.Height * pixels.Width]);
        output.WriteLine($"blob of {All((x, y) => Disk(x, y, 30, 46, 8)).Count()} px where good parts have one too: {area:0} px; held-out false rate {pixels.MeanFalseRate:0.000}");
        Assert.True(area < 0.15 * All((x, y) => Disk(x, y, 30, 46, 8)).Count(), $"counted {area} px");
    }

    [Fact]
    public void Noisy_good_parts_count_hardly_anything_of_a_defect_as_faint_as_their_noise()
    {
        var pixels = Fit(noise: 0.15f);
        // A defect of 0.1, two thirds of the noise: as varied as good parts, so its pixels are hardly counted (a few whose
        // noise adds up beyond the threshold, less those good parts show).
        var defect = Good(new SeededRandom(3), 0.15f, (x, y) => Disk(x, y, 30, 40, 10) ? 0.1f : 0);
        double area = pixels.ExcessArea(pixels.Deviation(defect)!, All((x, y) => Disk(x, y, 30, 40, 16)), Side, new bool[pixels.Height * pixels.Width]);
        output.WriteLine($"disk of {All((x, y) => Disk(x, y, 30, 40, 10)).Count()} px as faint as the noise: {area:0} px");
        Assert.InRange(area, 0, 0.1 * All((x, y) => Disk(x, y, 30, 40, 10)).Count());
    }

    [Fact]
    public void A_statistics_pixel_is_counted_once_per_part()
    {
        var pixels = Fit(noise: 0.004f);
        var defect = Good(new SeededRandom(9), 0.004f, (x, y) => x is >= 10 and < 30 && y is >= 36 and < 52 ? 0.3f : 0);
        var deviation = pixels.Deviation(defect)!;
        var counted = new bool[pixels.Height * pixels.Width];
        var bump = All((x, y) => x > 4 && y > 30 && x < 60 && y < 60).ToList();
        double first = pixels.ExcessArea(deviation, bump, Side, counted);
        double second = pixels.ExcessArea(deviation, bump, Side, counted);
        Assert.InRange(first, 300, 340);
        Assert.Equal(0, second);
    }

    [Fact]
    public void Too_few_images_or_another_geometry_give_no_statistics()
    {
        var image = GoodPixels.Reduce(Good(new SeededRandom(1), 0.01f));
        Assert.Null(GoodPixels.Fit([image], [image], 3, Side / 2, Side / 2));
        Assert.Null(GoodPixels.Fit([image, image], [], 3, Side / 2, Side / 2));
        var pixels = Fit(noise: 0.004f);
        Assert.Null(pixels.Deviation(new ImageTensor(3, Side, Side + 4, new float[3 * Side * (Side + 4)])));
    }

    [Fact]
    public void Fitting_is_repeatable_and_independent_of_the_collection_order()
    {
        var random = new SeededRandom(21);
        var images = Enumerable.Range(0, 12).Select(_ => Good(random, 0.01f)).ToList();
        GoodPixels Collect(IEnumerable<int> order)
        {
            var collector = new GoodPixels.Collector(images.Count);
            Parallel.ForEach(order, i => collector.Add(i, images[i]));
            return collector.Build(Enumerable.Range(0, 9).ToList(), [9, 10, 11])!;
        }
        var first = Collect(Enumerable.Range(0, 12));
        var second = Collect(Enumerable.Range(0, 12).Reverse());
        var defect = Good(new SeededRandom(4), 0.01f, (x, y) => Disk(x, y, 20, 20, 6) ? 0.4f : 0);
        Assert.Equal(first.Deviation(defect), second.Deviation(defect));
        Assert.Equal(first.MeanFalseRate, second.MeanFalseRate);
    }

    // ------------------------------------------------------------------ the regions' stated size

    /// <summary>A map with a blurred disk of radius <paramref name="radius"/> at (cx, cy), 2 above a background of 0.</summary>
    static Grid2D MapOf(int cx, int cy, int radius)
    {
        var sharp = new float[Side * Side];
        foreach (int i in All((x, y) => Disk(x, y, cx, cy, radius))) sharp[i] = 1;
        var blurred = MapOps.GaussianBlur(sharp, Side, Side, 3);
        return new Grid2D(Side, Side, blurred.Select(v => 2 * v).ToArray());
    }

    static Grid2D PointSpread()
    {
        var point = new float[Side * Side];
        point[Side / 2 * Side + Side / 2] = 1;
        return new Grid2D(Side, Side, MapOps.GaussianBlur(point, Side, Side, 3));
    }

    [Fact]
    public void A_region_states_the_pixels_where_they_show_more_than_the_map()
    {
        var pixels = Fit(noise: 0.004f);
        var size = new DefectSize(PointSpread());
        var preprocessing = new Preprocessing(Side, Side);
        // The map sees a small part (radius 5) of a defect whose pixels cover a disk of radius 12.
        var map = MapOf(30, 40, 5);
        var part = Good(new SeededRandom(8), 0.004f, (x, y) => Disk(x, y, 30, 40, 12) ? 0.3f : 0);
        var mapOnly = FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size).Single();
        var stated = FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size, part, pixels).Single();
        output.WriteLine($"map estimate {mapOnly.CoreImageArea} px, stated {stated.CoreImageArea} px, disk {All((x, y) => Disk(x, y, 30, 40, 12)).Count()} px");
        Assert.True(stated.CoreImageArea > 1.5 * mapOnly.CoreImageArea, $"{stated.CoreImageArea} vs {mapOnly.CoreImageArea}");
        Assert.True(stated.CoreImageArea <= All((x, y) => Disk(x, y, 30, 40, 12)).Count() * 1.1);
        Assert.Equal(mapOnly with { CoreImageArea = 0 }, stated with { CoreImageArea = 0 });
    }

    [Fact]
    public void A_region_keeps_the_map_estimate_where_the_pixels_show_less_or_the_part_is_not_like_the_good_ones()
    {
        var pixels = Fit(noise: 0.004f);
        var size = new DefectSize(PointSpread());
        var preprocessing = new Preprocessing(Side, Side);
        var map = MapOf(30, 40, 10);
        long mapOnly = FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size).Single().CoreImageArea;
        // Pixels that show a smaller defect never shrink the map's estimate (they miss what looks like good parts).
        var smaller = Good(new SeededRandom(8), 0.004f, (x, y) => Disk(x, y, 30, 40, 3) ? 0.3f : 0);
        Assert.Equal(mapOnly, FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size, smaller, pixels).Single().CoreImageArea);
        // An image of another geometry, or a model without statistics: the map's estimate.
        var other = new ImageTensor(3, Side + 2, Side, new float[3 * (Side + 2) * Side]);
        Assert.Equal(mapOnly, FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size, other, pixels).Single().CoreImageArea);
        Assert.Equal(mapOnly, FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size, smaller, null).Single().CoreImageArea);
        // Noisy good parts: a defect as faint as their noise is not counted.
        var noisy = Fit(noise: 0.15f);
        var faint = Good(new SeededRandom(8), 0.15f, (x, y) => Disk(x, y, 30, 40, 16) ? 0.1f : 0);
        Assert.Equal(mapOnly, FittedStages.Regions(map, 1, 0, preprocessing, 0, 0, size, faint, noisy).Single().CoreImageArea);
    }
}
