using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Synthesis;
using PipelineFramework.Tests.Support;
using Xunit;

namespace PipelineFramework.Tests.Synthesis;

/// <summary>Good parts photographed a little differently: AutoML's validation counts them as good (validation.shiftedGoods).</summary>
public class NuisanceShiftTests
{
    [Fact]
    public void A_shift_is_seeded_stays_in_range_keeps_grey_parts_grey_and_changes_the_exposure()
    {
        var image = ImageLoader.LoadRgb(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order().First());
        int plane = image.Height * image.Width;
        // A grey part: all three channels the red one.
        var grey = new ImageTensor(3, image.Height, image.Width, [.. image.Plane(0), .. image.Plane(0), .. image.Plane(0)]);

        var a = NuisanceShift.Apply(grey, 11);
        Assert.Equal(a.Pixels, NuisanceShift.Apply(grey, 11).Pixels);
        Assert.NotEqual(a.Pixels, NuisanceShift.Apply(grey, 12).Pixels);
        Assert.All(a.Pixels, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(a.Plane(0).ToArray(), a.Plane(1).ToArray());
        Assert.Equal(a.Plane(0).ToArray(), a.Plane(2).ToArray());

        // Over many seeds the mean moves by up to the offset range (plus what gain and gamma add), and the image stays
        // the same part: every shifted copy correlates strongly with the source.
        var shifts = Enumerable.Range(0, 20).Select(seed => NuisanceShift.Apply(image, seed)).ToList();
        var meanMoves = shifts.Select(s => Math.Abs(s.Pixels.Average() - image.Pixels.Average())).ToList();
        Assert.True(meanMoves.Max() > 0.02, $"largest mean change {meanMoves.Max():0.000}");
        Assert.True(meanMoves.Max() < 0.2, $"largest mean change {meanMoves.Max():0.000}");
        Assert.All(shifts, s => Assert.True(Correlation(s.Pixels, image.Pixels) > 0.9));
        Assert.Equal(plane * 3, shifts[0].Pixels.Length);
    }

    static double Correlation(float[] a, float[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return sab / Math.Sqrt(saa * sbb);
    }
}
