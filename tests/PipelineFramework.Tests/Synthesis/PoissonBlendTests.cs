using PipelineFramework.Core.Plugins;
using PipelineFramework.Abstractions;
using PipelineFramework.Synthesis.Blend;

namespace PipelineFramework.Tests.Synthesis;

public class PoissonBlendTests
{
    private static readonly ImageTensor Good = TestImages.Part();
    private static readonly PoissonBlendSynthesizer Default = new(new PoissonBlendOptions());

    [Theory]
    [InlineData("source", 0.01)]
    [InlineData("mixed", 0.01)]
    [InlineData("source", 0.05)]
    public void Mask_is_never_empty_and_is_the_pixels_changed_by_more_than_the_tolerance(string mode, double tolerance)
    {
        var synth = new PoissonBlendSynthesizer(new PoissonBlendOptions { GradientMode = mode, MaskTolerance = tolerance });
        var input = Good.Clone();
        int plane = input.Height * input.Width;
        int maxSide = (int)Math.Round(0.4 * 64 * Math.Sqrt(2.0));
        for (int seed = 0; seed < 50; seed++)
        {
            var result = synth.Synthesize(input, TestImages.Source(input), seed);
            Assert.Equal(Good.Pixels, input.Pixels);
            Assert.True(SynthesisAssert.Count(result.Mask) > 0, $"Empty mask for seed {seed}.");
            SynthesisAssert.MaskIsBinary(result.Mask);
            SynthesisAssert.ValuesInUnitRange(result.Image);
            // Outside the mask nothing changed at all (so nothing outside the patch changed either) ...
            SynthesisAssert.MaskIsExactlyChanged(input, result);
            // ... and the mask is exactly the set of pixels changed by more than the tolerance.
            for (int i = 0; i < plane; i++)
            {
                float change = 0;
                for (int c = 0; c < 3; c++) change = Math.Max(change, Math.Abs(result.Image.Pixels[c * plane + i] - input.Pixels[c * plane + i]));
                if ((change > tolerance) != (result.Mask.Values[i] > 0.5f))
                    Assert.Fail($"Pixel {i}: changed by {change}, in mask = {result.Mask.Values[i]}.");
            }
            // The changed pixels lie inside one patch rectangle of at most the largest patch size.
            var (x0, y0, x1, y1) = BoundingBox(result.Mask);
            Assert.InRange(x1 - x0 + 1, 1, maxSide);
            Assert.InRange(y1 - y0 + 1, 1, maxSide);
            Assert.True(x0 >= 1 && y0 >= 1 && x1 <= 62 && y1 <= 62, "The patch keeps a one-pixel ring inside the image.");
        }
    }

    [Fact]
    public void Works_when_the_source_holds_only_the_image_itself()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            var result = Default.Synthesize(Good, new SynthesisSource([Good]), seed);
            Assert.True(SynthesisAssert.Count(result.Mask) > 0);
            SynthesisAssert.MaskIsExactlyChanged(Good, result);
        }
    }

    [Fact]
    public void Solver_reproduces_the_target_when_guidance_is_the_target_gradient()
    {
        // Source = target + constant: same gradients, so the Poisson solution is the target itself.
        var t = Good.Plane(0).ToArray();
        var s = t.Select(v => v + 0.3f).ToArray();
        var f = PoissonSolver.Solve(t, 64, s, 64, 10, 12, 10, 12, 30, 25, mixed: false, maxIterations: 1000);
        for (int y = 0; y < 25; y++)
            for (int x = 0; x < 30; x++) Assert.Equal(t[(12 + y) * 64 + 10 + x], f[y * 30 + x], 1e-4);
    }

    [Fact]
    public void Solver_with_a_flat_source_interpolates_a_linear_target_exactly()
    {
        var t = new float[48 * 48];
        for (int y = 0; y < 48; y++) for (int x = 0; x < 48; x++) t[y * 48 + x] = 0.1f + 0.01f * x + 0.005f * y;
        var s = Enumerable.Repeat(0.9f, 48 * 48).ToArray();
        var f = PoissonSolver.Solve(t, 48, s, 48, 5, 7, 20, 3, 20, 16, mixed: false, maxIterations: 1000);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 20; x++) Assert.Equal(t[(7 + y) * 48 + 5 + x], f[y * 20 + x], 1e-4);
    }

    [Fact]
    public void Blending_removes_the_seam_that_a_plain_paste_leaves()
    {
        var t = Good.Plane(1).ToArray();
        var s = TestImages.Other().Plane(1).ToArray();
        int tx = 20, ty = 18, sx = 8, sy = 30, pw = 24, ph = 20;
        var f = PoissonSolver.Solve(t, 64, s, 64, tx, ty, sx, sy, pw, ph, mixed: false, maxIterations: 1000);
        double blended = 0, pasted = 0; int n = 0;
        for (int x = 0; x < pw; x++)
        {
            foreach (var (y, outside) in new[] { (0, -1), (ph - 1, ph) })
            {
                float ring = t[(ty + outside) * 64 + tx + x];
                blended += Math.Abs(f[y * pw + x] - ring);
                pasted += Math.Abs(s[(sy + y) * 64 + sx + x] - ring);
                n++;
            }
        }
        Assert.True(blended / n < 0.5 * pasted / n, $"Mean seam step: blended {blended / n:F4}, pasted {pasted / n:F4}.");
    }

    [Fact]
    public void Validate_rejects_bad_options_by_name()
    {
        var errors = new PoissonBlendOptions { GradientMode = "average", PatchSizeMin = 0.5, PatchSizeMax = 0.2 }.Validate().ToList();
        Assert.Contains(errors, e => e.Option == "gradientMode");
        Assert.Contains(errors, e => e.Option == "patchSizeMin");
        Assert.Empty(new PoissonBlendOptions().Validate());
        Assert.Contains("$.s.maskTolerance", Assert.Throws<PipelineException>(() => ComponentOptions.CheckRanges(new PoissonBlendOptions { MaskTolerance = -0.1 }, "$.s")).Message);
        Assert.Contains("$.s.patchSizeMin", Assert.Throws<PipelineException>(() => ComponentOptions.CheckRanges(new PoissonBlendOptions { PatchSizeMin = 0 }, "$.s")).Message);
    }

    private static (int X0, int Y0, int X1, int Y1) BoundingBox(Grid2D mask)
    {
        int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
        for (int y = 0; y < mask.Height; y++)
            for (int x = 0; x < mask.Width; x++)
                if (mask[y, x] > 0.5f) { x0 = Math.Min(x0, x); y0 = Math.Min(y0, y); x1 = Math.Max(x1, x); y1 = Math.Max(y1, y); }
        return (x0, y0, x1, y1);
    }
}
