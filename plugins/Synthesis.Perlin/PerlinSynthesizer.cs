using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Synthesis.Perlin;

/// <summary>
/// DRAEM-style anomalies (Zavrtanik, Kristan, Skočaj, ICCV 2021): a Perlin noise field at a random scale, rotated and
/// thresholded, gives a blob-shaped mask m; inside it a texture (another good image, or a file from
/// <see cref="PerlinOptions.TextureFolder"/>, randomly augmented) is blended with opacity β:
/// out = img·(1−m) + (1−β)·texture·m + β·img·m. The returned mask is m restricted to the pixels whose value actually
/// changed, so every pixel outside it is bit-identical to the input. Empty draws are replaced by the next draw.
/// </summary>
[PipelineComponent("synthesis.perlin", Description = "DRAEM (Zavrtanik et al. 2021): Perlin-noise blob masks filled with a blended, augmented texture.")]
public sealed class PerlinSynthesizer : IImageSynthesizer
{
    private const ulong Salt = 0x5045_524C_494E_4452UL; // "PERLINDR"

    private readonly PerlinOptions _options;

    public PerlinSynthesizer(PerlinOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    public PerlinOptions Options => _options;

    public SyntheticAnomaly Synthesize(ImageTensor good, SynthesisSource source, int seed)
    {
        ArgumentNullException.ThrowIfNull(good);
        ArgumentNullException.ThrowIfNull(source);
        var rng = SeededRandom.Create(seed, Salt);
        string[]? files = _options.TextureFolder is null ? null : PerlinOptions.TextureFiles(_options.TextureFolder);
        if (files is not null && source.LoadImage is null)
            throw new PipelineException($"synthesis.perlin: textureFolder is set to '{_options.TextureFolder}', but this host cannot read image files here. Leave textureFolder out to use the other good images as textures.");

        int h = good.Height, w = good.Width, c = good.Channels, plane = h * w;
        for (int attempt = 0; attempt < _options.MaxAttempts; attempt++)
        {
            bool[] noiseMask = NoiseMask(h, w, rng);
            if (Array.IndexOf(noiseMask, true) < 0) continue; // nothing above the threshold: next draw

            float[] texture = Texture(good, source, files, rng);
            float beta = (float)rng.Uniform(_options.BetaMin, _options.BetaMax);

            var image = good.Clone();
            var mask = new float[plane];
            int changed = 0;
            float[] src = good.Pixels, dst = image.Pixels;
            for (int i = 0; i < plane; i++)
            {
                if (!noiseMask[i]) continue;
                bool differs = false;
                for (int ch = 0; ch < c; ch++)
                {
                    int k = ch * plane + i;
                    float v = Math.Clamp((1f - beta) * texture[k] + beta * src[k], 0f, 1f);
                    dst[k] = v;
                    if (BitConverter.SingleToInt32Bits(v) != BitConverter.SingleToInt32Bits(src[k])) differs = true;
                }
                if (differs) { mask[i] = 1f; changed++; }
                else for (int ch = 0; ch < c; ch++) dst[ch * plane + i] = src[ch * plane + i];
            }
            if (changed > 0) return new SyntheticAnomaly(image, new Grid2D(h, w, mask));
        }
        throw new PipelineException(
            $"synthesis.perlin produced no changed pixel in {_options.MaxAttempts} attempts on a {c}x{h}x{w} image. " +
            "Lower threshold, raise maxAttempts, or use textures that differ from the image.");
    }

    /// <summary>Thresholded, rotated Perlin noise with 2^kx × 2^ky cells across the image.</summary>
    private bool[] NoiseMask(int h, int w, SeededRandom rng)
    {
        int resX = 1 << rng.NextInt(_options.MinScaleExponent, _options.MaxScaleExponent - 1);
        int resY = 1 << rng.NextInt(_options.MinScaleExponent, _options.MaxScaleExponent - 1);
        double angle = rng.Uniform(-_options.RotationMax, _options.RotationMax) * Math.PI / 180.0;
        ulong key = rng.NextULong();
        double cos = Math.Cos(angle), sin = Math.Sin(angle), threshold = _options.Threshold;
        var mask = new bool[h * w];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                double dx = x + 0.5 - w / 2.0, dy = y + 0.5 - h / 2.0;
                double rx = cos * dx + sin * dy + w / 2.0, ry = -sin * dx + cos * dy + h / 2.0;
                mask[y * w + x] = PerlinNoise.Sample(key, rx * resX / w, ry * resY / h) > threshold;
            }
        }
        return mask;
    }

    /// <summary>The anomaly source at the image's geometry: a texture file, another good image, or (last resort) the image shifted.</summary>
    private float[] Texture(ImageTensor good, SynthesisSource source, string[]? files, SeededRandom rng)
    {
        int h = good.Height, w = good.Width, c = good.Channels;
        float[] texture;
        if (files is not null)
        {
            string path = files[rng.NextInt(files.Length)];
            ImageTensor loaded;
            try { loaded = source.LoadImage!(path); }
            catch (Exception ex) when (ex is not PipelineException and not OperationCanceledException)
            {
                throw new PipelineException($"synthesis.perlin could not read texture '{path}' (textureFolder): {ex.Message}", ex);
            }
            texture = FitTo(loaded, c, h, w);
        }
        else
        {
            var others = source.GoodImages.Where(g => !ReferenceEquals(g, good)).ToList();
            if (others.Count > 0)
                texture = FitTo(others[rng.NextInt(others.Count)], c, h, w);
            else
                texture = PlanarImageOps.Roll(good.Pixels, c, h, w, rng.NextInt(1, Math.Max(1, w - 1)), rng.NextInt(1, Math.Max(1, h - 1)));
        }
        if (_options.AugmentTexture) TextureAugmenter.Apply(texture, c, h, w, _options.TextureAugmentations, rng);
        return texture;
    }

    /// <summary>The image at the target's channel count and size (see <see cref="PlanarImageOps.Fit"/>).</summary>
    private static float[] FitTo(ImageTensor image, int channels, int height, int width) =>
        PlanarImageOps.Fit(image.Pixels, image.Channels, image.Height, image.Width, channels, height, width);
}
