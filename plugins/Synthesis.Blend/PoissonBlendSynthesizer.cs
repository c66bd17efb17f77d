using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Synthesis.Blend;

/// <summary>
/// NSA-style anomalies (Schlüter, Tan, Hou, Kainz, ECCV 2022): a random rectangular patch of ANOTHER good image is
/// seamlessly cloned into the target at a random location by Poisson blending (target ring as Dirichlet boundary,
/// guidance = source gradients), which removes the sharp seams that make cut-paste defects easy to spot. When the
/// source holds no other image, the patch comes from a different location of the image itself.
/// The mask is the set of pixels that changed by more than <see cref="PoissonBlendOptions.MaskTolerance"/> in some
/// channel; pixels that changed less are reset to the original, so outside the mask the image is bit-identical.
/// </summary>
[PipelineComponent("synthesis.poisson", Description = "NSA (Schlüter et al. 2022): a patch of another good image seamlessly cloned in by Poisson blending.")]
public sealed class PoissonBlendSynthesizer : IImageSynthesizer
{
    private const ulong Salt = 0x504F_4953_534F_4E42UL; // "POISSONB"

    private readonly PoissonBlendOptions _options;

    public PoissonBlendSynthesizer(PoissonBlendOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    public PoissonBlendOptions Options => _options;

    public SyntheticAnomaly Synthesize(ImageTensor good, SynthesisSource source, int seed)
    {
        ArgumentNullException.ThrowIfNull(good);
        ArgumentNullException.ThrowIfNull(source);
        int h = good.Height, w = good.Width, c = good.Channels, plane = h * w;
        if (h < 4 || w < 4)
            throw new PipelineException($"synthesis.poisson needs images of at least 4x4 pixels; got {h}x{w}.");

        var rng = SeededRandom.Create(seed, Salt);
        var others = source.GoodImages.Where(g => !ReferenceEquals(g, good)).ToList();
        var fitted = new Dictionary<int, float[]>();
        bool mixed = _options.GradientMode == "mixed";
        float tolerance = (float)_options.MaskTolerance;
        var values = new float[c];

        for (int attempt = 0; attempt < _options.MaxAttempts; attempt++)
        {
            double size = rng.Uniform(_options.PatchSizeMin, _options.PatchSizeMax) * Math.Min(h, w);
            double aspect = Math.Sqrt(rng.LogUniform(_options.AspectRatioMin, _options.AspectRatioMax));
            int pw = Math.Clamp((int)Math.Round(size * aspect), 2, w - 2);
            int ph = Math.Clamp((int)Math.Round(size / aspect), 2, h - 2);

            float[] src;
            bool sameImage = others.Count == 0;
            if (sameImage) src = good.Pixels;
            else
            {
                int pick = rng.NextInt(others.Count);
                if (!fitted.TryGetValue(pick, out src!)) fitted[pick] = src = FitTo(others[pick], c, h, w);
            }

            // Both rectangles keep a 1-pixel ring inside the image (the boundary condition and the edge gradients).
            int sx = rng.NextInt(1, w - pw - 1), sy = rng.NextInt(1, h - ph - 1);
            int tx = rng.NextInt(1, w - pw - 1), ty = rng.NextInt(1, h - ph - 1);
            if (sameImage && sx == tx && sy == ty) continue;

            var solved = new double[c][];
            for (int ch = 0; ch < c; ch++)
                solved[ch] = PoissonSolver.Solve(good.Pixels.AsSpan(ch * plane, plane), w, src.AsSpan(ch * plane, plane), w,
                    tx, ty, sx, sy, pw, ph, mixed, _options.SolverIterations);

            var image = good.Clone();
            var mask = new float[plane];
            int changed = 0;
            for (int y = 0; y < ph; y++)
            {
                for (int x = 0; x < pw; x++)
                {
                    int at = (ty + y) * w + tx + x;
                    bool differs = false;
                    for (int ch = 0; ch < c; ch++)
                    {
                        values[ch] = (float)Math.Clamp(solved[ch][y * pw + x], 0.0, 1.0);
                        if (Math.Abs(values[ch] - good.Pixels[ch * plane + at]) > tolerance) differs = true;
                    }
                    if (!differs) continue; // stays bit-identical to the original
                    for (int ch = 0; ch < c; ch++) image.Pixels[ch * plane + at] = values[ch];
                    mask[at] = 1f;
                    changed++;
                }
            }
            if (changed > 0) return new SyntheticAnomaly(image, new Grid2D(h, w, mask));
        }
        throw new PipelineException(
            $"synthesis.poisson changed no pixel by more than maskTolerance ({_options.MaskTolerance}) in {_options.MaxAttempts} attempts " +
            $"on a {c}x{h}x{w} image; the images are (nearly) uniform. Lower maskTolerance, raise maxAttempts, or use another synthesiser.");
    }

    /// <summary>The image at the target's channel count and size (see <see cref="PlanarImageOps.Fit"/>).</summary>
    private static float[] FitTo(ImageTensor image, int channels, int height, int width) =>
        PlanarImageOps.Fit(image.Pixels, image.Channels, image.Height, image.Width, channels, height, width);
}
