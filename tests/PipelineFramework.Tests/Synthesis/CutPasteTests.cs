using PipelineFramework.Core.Plugins;
using PipelineFramework.Abstractions;
using PipelineFramework.Synthesis.CutPaste;

namespace PipelineFramework.Tests.Synthesis;

public class CutPasteTests
{
    private static readonly ImageTensor Good = TestImages.Part();

    [Theory]
    [InlineData("rectangle")]
    [InlineData("scar")]
    [InlineData("both")]
    public void Mask_is_never_empty_and_is_exactly_the_changed_pixels(string mode)
    {
        var synth = new CutPasteSynthesizer(new CutPasteOptions { Mode = mode });
        var input = Good.Clone();
        for (int seed = 0; seed < 50; seed++)
        {
            var result = synth.Synthesize(input, TestImages.Source(input), seed);
            Assert.Equal(Good.Pixels, input.Pixels); // the input is never modified
            Assert.Equal((input.Height, input.Width), (result.Mask.Height, result.Mask.Width));
            Assert.True(SynthesisAssert.Count(result.Mask) > 0, $"Empty mask for seed {seed}.");
            SynthesisAssert.MaskIsBinary(result.Mask);
            SynthesisAssert.MaskIsExactlyChanged(input, result);
            SynthesisAssert.ValuesInUnitRange(result.Image);
        }
    }

    [Fact]
    public void Rectangle_area_follows_the_area_ratio()
    {
        var synth = new CutPasteSynthesizer(new CutPasteOptions { Mode = "rectangle", AreaRatioMin = 0.1, AreaRatioMax = 0.1, AspectRatioMin = 1, AspectRatioMax = 1 });
        for (int seed = 0; seed < 10; seed++)
        {
            var result = synth.Synthesize(Good, TestImages.Source(Good), seed);
            // 0.1 * 64 * 64 = 410 -> a 20x20 square; unchanged pixels inside the footprint can only shrink the mask.
            Assert.InRange(SynthesisAssert.Count(result.Mask), 1, 20 * 20);
        }
    }

    [Fact]
    public void Scars_are_thin()
    {
        var synth = new CutPasteSynthesizer(new CutPasteOptions { Mode = "scar" });
        for (int seed = 0; seed < 20; seed++)
        {
            var result = synth.Synthesize(Good, TestImages.Source(Good), seed);
            // At 64 px the scar is at most 16/4 = 4 px wide and 25/4 ~ 6 px long.
            Assert.InRange(SynthesisAssert.Count(result.Mask), 1, 36); // rotated footprints gain a few pixels at the edges
        }
    }

    [Fact]
    public void Uniform_image_with_no_jitter_fails_with_an_actionable_message()
    {
        var flat = new ImageTensor(3, 32, 32, Enumerable.Repeat(0.5f, 3 * 32 * 32).ToArray());
        var synth = new CutPasteSynthesizer(new CutPasteOptions { ColorJitter = 0, MaxAttempts = 5 });
        var ex = Assert.Throws<PipelineException>(() => synth.Synthesize(flat, new SynthesisSource([flat]), 1));
        Assert.Contains("colorJitter", ex.Message);
    }

    [Fact]
    public void Validate_rejects_bad_options_by_name()
    {
        var errors = new CutPasteOptions { Mode = "circle", AreaRatioMin = 0.5, AreaRatioMax = 0.1 }.Validate().ToList();
        Assert.Contains(errors, e => e.Option == "mode");
        Assert.Contains(errors, e => e.Option == "areaRatioMin");
        Assert.Empty(new CutPasteOptions().Validate());
        Assert.Contains("$.s.colorJitter", Assert.Throws<PipelineException>(() => ComponentOptions.CheckRanges(new CutPasteOptions { ColorJitter = -1 }, "$.s")).Message);
    }
}
