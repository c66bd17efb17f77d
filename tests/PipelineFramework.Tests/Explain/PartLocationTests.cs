using PipelineFramework.Abstractions;
using PipelineFramework.Core.Explain;

namespace PipelineFramework.Tests.Explain;

public class PartLocationTests
{
    [Theory]
    [InlineData(10, 10, 30, 30, "upper, left")]
    [InlineData(100, 100, 20, 20, "centre")]
    [InlineData(180, 100, 30, 20, "middle, right")]
    [InlineData(60, 10, 40, 30, "upper, left to centre")]          // across the line at x = 74.7, a quarter or more on each side
    [InlineData(70, 10, 40, 30, "upper, centre")]                   // 4.7 of 40 px left of the line: not enough to name it
    [InlineData(0, 150, 224, 60, "lower, full width")]
    [InlineData(0, 0, 224, 224, "across the whole part")]
    public void A_box_is_named_by_the_grid_cells_it_covers(int x, int y, int width, int height, string words)
    {
        var location = PartLocation.Of(new PixelBox(x, y, width, height), 224, 224);
        Assert.Equal(words, location.Words);
        Assert.Equal(location, PartLocation.Parse(words));
    }

    [Theory]
    [InlineData(0, 0, 224, 224, "The strongest is across the whole part (about")]
    [InlineData(10, 10, 30, 30, "The strongest is at the upper, left of the part (about")]
    public void The_offline_summary_says_where_the_strongest_region_is_in_a_sentence_that_reads(int x, int y, int width, int height, string expected)
    {
        var box = new PixelBox(x, y, width, height);
        var region = new DefectRegion
        {
            MapBox = box, MapArea = width * height, ImageBox = box, ImageArea = width * height, PeakScore = 3, MeanScore = 2,
            Location = PartLocation.Of(box, 224, 224).Words,
        };
        var facts = new InspectionFacts
        {
            Id = "p", Score = 0.9, RawScore = 3, Threshold = 1, IsAnomaly = true, MapWidth = 224, MapHeight = 224, Regions = [region],
        };
        var summary = OfflineExplainer.Explain(facts).Summary;
        Assert.Contains(expected, summary);
        Assert.DoesNotContain("at the across", summary);
    }

    [Fact]
    public void Parse_refuses_text_that_is_not_a_location()
    {
        Assert.Null(PartLocation.Parse("near the neck"));
        Assert.Null(PartLocation.Parse("lower to upper, left"));
    }
}
