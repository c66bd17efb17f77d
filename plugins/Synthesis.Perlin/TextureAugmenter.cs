using PipelineFramework.Compute;

namespace PipelineFramework.Synthesis.Perlin;

/// <summary>
/// DRAEM's texture augmentations (a random subset applied to the anomaly source image): gamma contrast,
/// brightness multiply/add, sharpen, hue shift, solarize, posterize, invert, autocontrast, equalize, rotation.
/// </summary>
internal static class TextureAugmenter
{
    public const int Count = 10;

    /// <summary>Applies <paramref name="howMany"/> distinct augmentations, chosen and parameterised by <paramref name="rng"/>.</summary>
    public static void Apply(float[] px, int channels, int height, int width, int howMany, SeededRandom rng)
    {
        Span<int> order = stackalloc int[Count];
        for (int i = 0; i < Count; i++) order[i] = i;
        for (int i = 0; i < howMany; i++)
        {
            int j = i + rng.NextInt(Count - i);
            (order[i], order[j]) = (order[j], order[i]);
        }
        for (int i = 0; i < howMany; i++)
        {
            switch (order[i])
            {
                case 0: Gamma(px, channels, height * width, rng); break;
                case 1: MultiplyAdd(px, rng); break;
                case 2: Sharpen(px, channels, height, width, rng); break;
                case 3: HueShift(px, channels, height * width, rng); break;
                case 4: Solarize(px, rng); break;
                case 5: Posterize(px, rng); break;
                case 6: for (int k = 0; k < px.Length; k++) px[k] = 1f - px[k]; break;
                case 7: AutoContrast(px, channels, height * width); break;
                case 8: Equalize(px, channels, height * width); break;
                default: Rotate(px, channels, height, width, rng); break;
            }
        }
    }

    private static void Gamma(float[] px, int channels, int plane, SeededRandom rng)
    {
        for (int c = 0; c < channels; c++)
        {
            float g = (float)rng.Uniform(0.5, 2.0);
            for (int i = c * plane; i < (c + 1) * plane; i++) px[i] = MathF.Pow(Math.Max(px[i], 0f), g);
        }
    }

    private static void MultiplyAdd(float[] px, SeededRandom rng)
    {
        float mul = (float)rng.Uniform(0.8, 1.2), add = (float)(rng.Uniform(-30, 30) / 255.0);
        for (int i = 0; i < px.Length; i++) px[i] = Math.Clamp(px[i] * mul + add, 0f, 1f);
    }

    private static void Sharpen(float[] px, int channels, int height, int width, SeededRandom rng)
    {
        float amount = (float)rng.Uniform(0.5, 2.0);
        var blurred = new float[height * width];
        for (int c = 0; c < channels; c++)
        {
            var p = px.AsSpan(c * height * width, height * width);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    float s = 0; int n = 0;
                    for (int yy = Math.Max(0, y - 1); yy <= Math.Min(height - 1, y + 1); yy++)
                        for (int xx = Math.Max(0, x - 1); xx <= Math.Min(width - 1, x + 1); xx++) { s += p[yy * width + xx]; n++; }
                    blurred[y * width + x] = s / n;
                }
            for (int i = 0; i < p.Length; i++) p[i] = Math.Clamp(p[i] + amount * (p[i] - blurred[i]), 0f, 1f);
        }
    }

    private static void HueShift(float[] px, int channels, int plane, SeededRandom rng)
    {
        float shift = (float)rng.Uniform(-50 / 255.0, 50 / 255.0); // imgaug AddToHueAndSaturation(-50, 50): fraction of a turn
        if (channels != 3) return;
        for (int i = 0; i < plane; i++)
        {
            float r = px[i], g = px[plane + i], b = px[2 * plane + i];
            float max = MathF.Max(r, MathF.Max(g, b)), min = MathF.Min(r, MathF.Min(g, b)), d = max - min;
            if (d <= 0) continue;
            float h = max == r ? (g - b) / d / 6f : max == g ? ((b - r) / d + 2f) / 6f : ((r - g) / d + 4f) / 6f;
            h += shift;
            h -= MathF.Floor(h);
            float s = d / max, v = max, h6 = h * 6f;
            int sector = Math.Min((int)h6, 5);
            float f = h6 - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
            (r, g, b) = sector switch { 0 => (v, t, p), 1 => (q, v, p), 2 => (p, v, t), 3 => (p, q, v), 4 => (t, p, v), _ => (v, p, q) };
            px[i] = r; px[plane + i] = g; px[2 * plane + i] = b;
        }
    }

    private static void Solarize(float[] px, SeededRandom rng)
    {
        float threshold = (float)(rng.Uniform(32, 128) / 255.0);
        for (int i = 0; i < px.Length; i++) if (px[i] >= threshold) px[i] = 1f - px[i];
    }

    private static void Posterize(float[] px, SeededRandom rng)
    {
        int levels = 1 << rng.NextInt(2, 5);
        for (int i = 0; i < px.Length; i++) px[i] = MathF.Floor(Math.Clamp(px[i], 0f, 0.999999f) * levels) / (levels - 1);
    }

    private static void AutoContrast(float[] px, int channels, int plane)
    {
        for (int c = 0; c < channels; c++)
        {
            var p = px.AsSpan(c * plane, plane);
            float min = float.MaxValue, max = float.MinValue;
            foreach (float v in p) { min = Math.Min(min, v); max = Math.Max(max, v); }
            if (max - min < 1e-6f) continue;
            for (int i = 0; i < p.Length; i++) p[i] = (p[i] - min) / (max - min);
        }
    }

    private static void Equalize(float[] px, int channels, int plane)
    {
        Span<int> hist = stackalloc int[256];
        Span<float> lut = stackalloc float[256];
        for (int c = 0; c < channels; c++)
        {
            var p = px.AsSpan(c * plane, plane);
            hist.Clear();
            foreach (float v in p) hist[Bin(v)]++;
            int cumulative = 0;
            for (int b = 0; b < 256; b++) { cumulative += hist[b]; lut[b] = cumulative / (float)plane; }
            for (int i = 0; i < p.Length; i++) p[i] = lut[Bin(p[i])];
        }

        static int Bin(float v) => Math.Clamp((int)(v * 255f + 0.5f), 0, 255);
    }

    /// <summary>Rotation by ±45° about the centre, nearest neighbour, wrapping around at the borders (no empty corners).</summary>
    private static void Rotate(float[] px, int channels, int height, int width, SeededRandom rng)
    {
        double angle = rng.Uniform(-45, 45) * Math.PI / 180.0, cos = Math.Cos(angle), sin = Math.Sin(angle);
        var src = (float[])px.Clone();
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double dx = x + 0.5 - width / 2.0, dy = y + 0.5 - height / 2.0;
                int sx = Mod((int)Math.Floor(cos * dx - sin * dy + width / 2.0), width);
                int sy = Mod((int)Math.Floor(sin * dx + cos * dy + height / 2.0), height);
                for (int c = 0; c < channels; c++) px[(c * height + y) * width + x] = src[(c * height + sy) * width + sx];
            }

        static int Mod(int a, int m) => ((a % m) + m) % m;
    }
}
