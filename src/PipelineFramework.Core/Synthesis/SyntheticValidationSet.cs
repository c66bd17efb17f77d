using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Synthesis;

/// <summary>One synthetic defect, with the synthesiser and the good image it came from.</summary>
public sealed record SyntheticSample(ImageTensor Image, Grid2D Mask, string Synthesizer, string SourceImage, int Seed);

/// <summary>
/// Synthetic anomalies made from good images only (in practice the held-out share of the training images), for
/// threshold calibration, for estimating how well a pipeline separates defects without any test image (AutoML's
/// validation signal) and for <c>pf synth</c>. Deterministic for a seed.
/// </summary>
public static class SyntheticValidationSet
{
    public static IReadOnlyList<SyntheticSample> Build(
        IReadOnlyList<string> goodImages,
        IReadOnlyList<(string Type, IImageSynthesizer Synthesizer)> synthesizers,
        int count,
        int seed,
        Preprocessing preprocessing,
        CancellationToken cancellation = default)
    {
        if (count == 0) return [];
        if (synthesizers.Count == 0) throw new PipelineException("Synthetic anomalies need an image synthesiser in the pipeline's \"synthesis\" section.");
        if (goodImages.Count == 0) throw new PipelineException("Synthetic anomalies are made from good images, and none were given.");
        var goods = new ImageTensor[goodImages.Count];
        Parallel.For(0, goods.Length, i => goods[i] = preprocessing.Load(goodImages[i]));
        var source = new SynthesisSource(goods) { LoadImage = preprocessing.Load };
        var samples = new SyntheticSample[count];
        Parallel.For(0, count, new ParallelOptions { CancellationToken = cancellation }, i =>
        {
            var (type, synthesizer) = synthesizers[i % synthesizers.Count];
            int sampleSeed = unchecked(seed + 7919 * (i + 1));
            int good = i / synthesizers.Count % goods.Length;
            var anomaly = synthesizer.Synthesize(goods[good], source, sampleSeed);
            samples[i] = new SyntheticSample(anomaly.Image, anomaly.Mask, type, goodImages[good], sampleSeed);
        });
        return samples;
    }
}
