using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Synthesis.FeatureNoise;

/// <summary>
/// SimpleNet's anomaly feature generator (Liu, Zhou, Xu, Wang, CVPR 2023): anomalous patch embeddings are good ones
/// plus i.i.d. Gaussian noise N(0, σ²). The result holds the good patches followed by one noisy copy of each
/// (<see cref="FeatureBatch.Count"/> doubled) with patch labels 0 for the good half and 1 for the noisy half.
/// Deterministic for a seed: image i's noise comes from its own seeded stream, so parallel work gives the same bits.
/// </summary>
[PipelineComponent("synthesis.feature-noise", Description = "SimpleNet (Liu et al. 2023): anomalous patch embeddings = good ones + Gaussian noise.")]
public sealed class FeatureNoiseSynthesizer : IFeatureSynthesizer
{
    private const ulong Salt = 0x4645_4154_4E4F_4953UL; // "FEATNOIS"

    private readonly FeatureNoiseOptions _options;

    public FeatureNoiseSynthesizer(FeatureNoiseOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    public FeatureNoiseOptions Options => _options;

    public LabeledFeatures Perturb(FeatureBatch good, int seed)
    {
        ArgumentNullException.ThrowIfNull(good);
        long perImage = (long)good.PatchesPerImage * good.Dim;
        long total = (long)good.Count * perImage;
        if (2 * total > Array.MaxLength)
            throw new PipelineException($"synthesis.feature-noise: {good.Count} images of {good.PatchesPerImage} patches x {good.Dim} values are too many to double in one batch; perturb fewer images at a time.");

        var data = new float[2 * total];
        good.Data.AsSpan().CopyTo(data);
        float sigma = (float)_options.Sigma;
        Parallel.For(0, good.Count, i =>
        {
            var noisy = data.AsSpan((int)(total + i * perImage), (int)perImage);
            SeededRandom.Create(seed, Salt, i).FillGaussian(noisy, sigma);
            var clean = good.Data.AsSpan((int)(i * perImage), (int)perImage);
            for (int k = 0; k < noisy.Length; k++) noisy[k] += clean[k];
        });

        var labels = new float[2 * good.PatchCount];
        labels.AsSpan(good.PatchCount).Fill(1f);
        return new LabeledFeatures(new FeatureBatch(2 * good.Count, good.Height, good.Width, good.Dim, data), labels);
    }
}
