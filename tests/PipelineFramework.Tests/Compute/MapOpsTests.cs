using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

public class MapOpsTests
{
    [Fact]
    public void ResizeBilinear_2x2To4x4_MatchesTorchAlignCornersFalse()
    {
        var src = new float[] { 0, 1, 2, 3 };
        var r = MapOps.ResizeBilinear(src, 2, 2, 4, 4);
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode='bilinear', align_corners=False)
        var expected = new float[]
        {
            0.0f, 0.25f, 0.75f, 1.0f,
            0.5f, 0.75f, 1.25f, 1.5f,
            1.5f, 1.75f, 2.25f, 2.5f,
            2.0f, 2.25f, 2.75f, 3.0f,
        };
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], r[i], tolerance: 1e-6);
    }

    [Fact]
    public void ResizeBilinear_Downscale_AndNonSquare()
    {
        // 1 x 4 -> 1 x 2: source x = 2*(o + 0.5) - 0.5 = 0.5, 2.5 -> averages of neighbours.
        var r = MapOps.ResizeBilinear(new float[] { 0, 10, 20, 30 }, 1, 4, 1, 2);
        Assert.Equal(5f, r[0], tolerance: 1e-6);
        Assert.Equal(25f, r[1], tolerance: 1e-6);
        // 1 x 3 -> 1 x 5: scale 0.6, x = 0.6*(o+0.5)-0.5 = -0.2(->0), 0.4, 1.0, 1.6, 2.2(-> clamps to 2).
        var s = MapOps.ResizeBilinear(new float[] { 0, 1, 4 }, 1, 3, 1, 5);
        Assert.Equal(new[] { 0f, 0.4f, 1f, 2.8f, 4f }, s.Select(v => MathF.Round(v, 5)).ToArray());
        // Identity size is a copy.
        var src = ComputeTestData.Random(6 * 5, 1);
        Assert.Equal(src, MapOps.ResizeBilinear(src, 6, 5, 6, 5));
    }

    private static float[] NaiveBlur(float[] src, int h, int w, float sigma)
    {
        int radius = (int)Math.Ceiling(4 * sigma);
        var k = new double[2 * radius + 1];
        double sum = 0;
        for (int t = -radius; t <= radius; t++) { k[t + radius] = Math.Exp(-t * t / (2.0 * sigma * sigma)); sum += k[t + radius]; }
        for (int t = 0; t < k.Length; t++) k[t] /= sum;
        static int Reflect(int i, int n)
        {
            // d c b a | a b c d | d c b a, repeated.
            while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
            return i;
        }
        var outp = new float[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double s = 0;
                for (int dy = -radius; dy <= radius; dy++)
                    for (int dx = -radius; dx <= radius; dx++)
                        s += k[dy + radius] * k[dx + radius] * src[Reflect(y + dy, h) * w + Reflect(x + dx, w)];
                outp[y * w + x] = (float)s;
            }
        return outp;
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(2.5f)] // radius 10 > image size: reflection wraps more than once
    public void GaussianBlur_MatchesNaive2DConvolutionWithReflect(float sigma)
    {
        const int h = 9, w = 7;
        var src = ComputeTestData.Random(h * w, 13);
        var blurred = MapOps.GaussianBlur(src, h, w, sigma);
        var expected = NaiveBlur(src, h, w, sigma);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], blurred[i], tolerance: 1e-5);
    }

    [Fact]
    public void GaussianBlur_ConstantImage_KeepsValuesAndSum()
    {
        const int h = 12, w = 20;
        var src = Enumerable.Repeat(3.5f, h * w).ToArray();
        var blurred = MapOps.GaussianBlur(src, h, w, 4f);
        Assert.Equal(src.Sum(), blurred.Sum(), tolerance: 1e-2);
        Assert.All(blurred, v => Assert.Equal(3.5f, v, tolerance: 1e-4));
    }

    [Fact]
    public void GaussianBlur_ZeroSigma_ReturnsCopy()
    {
        var src = ComputeTestData.Random(12, 2);
        var r = MapOps.GaussianBlur(src, 3, 4, 0f);
        Assert.Equal(src, r);
        Assert.NotSame(src, r);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(1)]
    public void BoxFilterChw_MatchesNaiveZeroPaddedAverage(int size)
    {
        const int c = 3, h = 6, w = 5;
        var src = ComputeTestData.Random(c * h * w, 17);
        var r = MapOps.BoxFilterChw(src, c, h, w, size);
        int pad = size / 2;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double s = 0;
                    for (int dy = -pad; dy <= pad; dy++)
                        for (int dx = -pad; dx <= pad; dx++)
                        {
                            int yy = y + dy, xx = x + dx;
                            if (yy >= 0 && yy < h && xx >= 0 && xx < w) s += src[(ch * h + yy) * w + xx];
                        }
                    Assert.Equal(s / (size * size), r[(ch * h + y) * w + x], tolerance: 1e-5);
                }
    }

    [Fact]
    public void AdaptiveAvgPoolLastDim_MatchesHandValues()
    {
        // dim 5 -> 3 bins: [0,2), [1,4), [3,5) (torch adaptive_avg_pool1d).
        var src = new float[] { 1, 2, 3, 4, 5, 10, 20, 30, 40, 50 };
        var r = MapOps.AdaptiveAvgPoolLastDim(src, 2, 5, 3);
        Assert.Equal(new[] { 1.5f, 3f, 4.5f, 15f, 30f, 45f }, r);
        // dim 6 -> 2: exact halves.
        Assert.Equal(new[] { 2f, 5f }, MapOps.AdaptiveAvgPoolLastDim(new float[] { 1, 2, 3, 4, 5, 6 }, 1, 6, 2));
        // dim 2 -> 4 (upsampling): each output copies one input.
        Assert.Equal(new[] { 7f, 7f, 9f, 9f }, MapOps.AdaptiveAvgPoolLastDim(new float[] { 7, 9 }, 1, 2, 4));
    }
}
