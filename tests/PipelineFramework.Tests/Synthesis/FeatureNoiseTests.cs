using PipelineFramework.Core.Plugins;
using PipelineFramework.Abstractions;
using PipelineFramework.Synthesis.FeatureNoise;

namespace PipelineFramework.Tests.Synthesis;

public class FeatureNoiseTests
{
    private static FeatureBatch Batch(int count = 4, int h = 8, int w = 8, int dim = 32)
    {
        var data = new float[count * h * w * dim];
        for (int i = 0; i < data.Length; i++) data[i] = MathF.Sin(i * 0.37f) * 2f + (i % 7) * 0.1f;
        return new FeatureBatch(count, h, w, dim, data);
    }

    [Fact]
    public void Output_holds_the_good_patches_then_noisy_copies_with_labels()
    {
        var good = Batch();
        var original = (float[])good.Data.Clone();
        var result = new FeatureNoiseSynthesizer(new FeatureNoiseOptions()).Perturb(good, 5);

        var f = result.Features;
        Assert.Equal((8, 8, 8, 32), (f.Count, f.Height, f.Width, f.Dim));
        Assert.Equal(2 * good.PatchCount, result.PatchLabels.Length);
        Assert.All(result.PatchLabels.Take(good.PatchCount), l => Assert.Equal(0f, l));
        Assert.All(result.PatchLabels.Skip(good.PatchCount), l => Assert.Equal(1f, l));
        Assert.Equal(original, good.Data); // input untouched
        Assert.Equal(original, f.Data.AsSpan(0, original.Length).ToArray()); // good half is exact
        Assert.False(f.Data.AsSpan(original.Length).SequenceEqual(original)); // noisy half differs
    }

    [Theory]
    [InlineData(0.015)]
    [InlineData(0.5)]
    public void Noise_is_zero_mean_with_standard_deviation_sigma(double sigma)
    {
        var good = Batch(count: 8, dim: 64); // 32,768 noise values
        var result = new FeatureNoiseSynthesizer(new FeatureNoiseOptions { Sigma = sigma }).Perturb(good, 123);
        int n = good.Data.Length;
        double sum = 0, sumSq = 0, fourth = 0;
        for (int i = 0; i < n; i++)
        {
            double e = result.Features.Data[n + i] - good.Data[i];
            sum += e; sumSq += e * e; fourth += e * e * e * e;
        }
        double mean = sum / n, variance = sumSq / n - mean * mean, std = Math.Sqrt(variance);
        Assert.InRange(mean, -4 * sigma / Math.Sqrt(n), 4 * sigma / Math.Sqrt(n));
        Assert.InRange(std, sigma * 0.98, sigma * 1.02);                   // std error of the std is ~0.4 %
        Assert.InRange(fourth / n / (variance * variance), 2.85, 3.15);    // Gaussian kurtosis 3 (uniform would be 1.8)
    }

    [Fact]
    public void Noise_is_independent_across_components()
    {
        var good = Batch(count: 2, dim: 64);
        var result = new FeatureNoiseSynthesizer(new FeatureNoiseOptions { Sigma = 1 }).Perturb(good, 9);
        int n = good.Data.Length;
        double lag1 = 0, sq = 0;
        for (int i = 0; i + 1 < n; i++)
        {
            double a = result.Features.Data[n + i] - good.Data[i], b = result.Features.Data[n + i + 1] - good.Data[i + 1];
            lag1 += a * b; sq += a * a;
        }
        Assert.InRange(lag1 / sq, -0.05, 0.05);
    }

    [Fact]
    public void Same_seed_is_deterministic_and_different_seeds_differ()
    {
        var synth = new FeatureNoiseSynthesizer(new FeatureNoiseOptions());
        var a = synth.Perturb(Batch(), 77);
        var b = synth.Perturb(Batch(), 77);
        var c = synth.Perturb(Batch(), 78);
        Assert.Equal(a.Features.Data, b.Features.Data);
        Assert.Equal(a.PatchLabels, b.PatchLabels);
        Assert.False(a.Features.Data.AsSpan().SequenceEqual(c.Features.Data));
    }

    [Fact]
    public void Images_of_a_batch_get_different_noise()
    {
        var zero = new FeatureBatch(2, 4, 4, 8, new float[2 * 4 * 4 * 8]);
        var result = new FeatureNoiseSynthesizer(new FeatureNoiseOptions()).Perturb(zero, 1);
        Assert.False(result.Features.Image(2).SequenceEqual(result.Features.Image(3)));
    }

    [Fact]
    public void Range_check_rejects_non_positive_sigma_by_name()
    {
        foreach (var sigma in new[] { 0, double.NaN, 1e9 })
            Assert.Contains("$.synthesis[0].sigma", Assert.Throws<PipelineException>(() => ComponentOptions.CheckRanges(new FeatureNoiseOptions { Sigma = sigma }, "$.synthesis[0]")).Message);
        ComponentOptions.CheckRanges(new FeatureNoiseOptions(), "$.synthesis[0]");
    }
}
