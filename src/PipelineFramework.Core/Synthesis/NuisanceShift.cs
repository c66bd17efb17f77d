using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Core.Synthesis;

/// <summary>
/// A good part photographed a little differently: a global change of exposure (gain, offset), gamma and sensor noise,
/// drawn per image, applied to the image as loaded (before a pipeline's own preprocessing, so its intensity
/// normalisation sees the change as a camera would deliver it). The part stays good: a pipeline that rejects it would
/// reject the next batch or the next lamp. The ranges are those of an ordinary exposure drift on a line (a few percent
/// of the grey range), not a broken camera; the AutoML README has what they change.
/// </summary>
public static class NuisanceShift
{
    /// <summary>Contrast gain around the image's mean: 1 ± this.</summary>
    public const double GainRange = 0.15;
    /// <summary>Brightness offset in the 0..1 grey range: ± this.</summary>
    public const double OffsetRange = 0.06;
    /// <summary>Gamma: exp(± this), 0.82 to 1.22.</summary>
    public const double LogGammaRange = 0.2;
    /// <summary>Standard deviation of the sensor noise, drawn between 0 and this (0..1 grey range).</summary>
    public const double MaxNoise = 0.02;

    /// <summary>The shifted copy of <paramref name="image"/> (values 0..1); the same for the same seed.</summary>
    public static ImageTensor Apply(ImageTensor image, int seed)
    {
        var random = SeededRandom.Create(seed, 0x4E55495341UL); // "NUISA"
        double gain = random.Uniform(1 - GainRange, 1 + GainRange), offset = random.Uniform(-OffsetRange, OffsetRange);
        double gamma = Math.Exp(random.Uniform(-LogGammaRange, LogGammaRange)), noise = random.Uniform(0, MaxNoise);
        int plane = image.Height * image.Width;
        // One noise value per pixel for all channels: a grey part stays grey, as a grey camera's noise is.
        var grain = new float[plane];
        random.FillGaussian(grain, (float)noise);
        var pixels = new float[image.Pixels.Length];
        double mean = image.Pixels.Average();
        for (int i = 0; i < pixels.Length; i++)
        {
            double v = Math.Pow(Math.Clamp(image.Pixels[i], 0, 1), gamma);
            v = mean + gain * (v - mean) + offset + grain[i % plane];
            pixels[i] = (float)Math.Clamp(v, 0, 1);
        }
        return new ImageTensor(image.Channels, image.Height, image.Width, pixels);
    }
}
