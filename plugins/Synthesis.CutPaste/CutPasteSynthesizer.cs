using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Synthesis.CutPaste;

/// <summary>
/// CutPaste (Li, Sohn, Yoon, Pfister, CVPR 2021): a patch cut from the good image itself — a rectangle, or a thin
/// rotated "scar" — colour-jittered and pasted at another random location. The mask is exactly the set of pixels
/// whose value changed: pasted pixels equal to the original (within 1e-6 in every channel) are restored bit for bit
/// and left out of the mask. A draw that changes nothing is replaced by the next draw of the same seeded stream.
/// </summary>
[PipelineComponent("synthesis.cutpaste", Description = "CutPaste (Li et al. 2021): rectangle or rotated scar cut from the same image, colour-jittered, pasted elsewhere.")]
public sealed class CutPasteSynthesizer : IImageSynthesizer
{
    private const ulong Salt = 0x4355_5450_4153_5445UL; // "CUTPASTE"
    private const float SameValue = 1e-6f;

    private readonly CutPasteOptions _options;

    public CutPasteSynthesizer(CutPasteOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    public CutPasteOptions Options => _options;

    public SyntheticAnomaly Synthesize(ImageTensor good, SynthesisSource source, int seed)
    {
        ArgumentNullException.ThrowIfNull(good);
        var rng = SeededRandom.Create(seed, Salt);
        for (int attempt = 0; attempt < _options.MaxAttempts; attempt++)
        {
            bool scar = _options.Mode switch
            {
                "rectangle" => false,
                "scar" => true,
                _ => rng.NextDouble() < 0.5,
            };
            var result = scar ? TryScar(good, rng) : TryRectangle(good, rng);
            if (result is not null) return result;
        }
        throw new PipelineException(
            $"synthesis.cutpaste changed no pixel in {_options.MaxAttempts} attempts on a {good.Channels}x{good.Height}x{good.Width} image; " +
            "the image is (nearly) uniform. Raise colorJitter or maxAttempts, or use another synthesiser.");
    }

    private SyntheticAnomaly? TryRectangle(ImageTensor good, SeededRandom rng)
    {
        int h = good.Height, w = good.Width;
        double area = rng.Uniform(_options.AreaRatioMin, _options.AreaRatioMax) * h * w;
        double aspect = rng.LogUniform(_options.AspectRatioMin, _options.AspectRatioMax);
        int pw = Math.Clamp((int)Math.Round(Math.Sqrt(area * aspect)), 1, w);
        int ph = Math.Clamp((int)Math.Round(Math.Sqrt(area / aspect)), 1, h);
        int fromX = rng.NextInt(0, w - pw), fromY = rng.NextInt(0, h - ph);
        int toX = rng.NextInt(0, w - pw), toY = rng.NextInt(0, h - ph);

        float[] patch = Cut(good, fromX, fromY, pw, ph);
        ColorJitter(patch, good.Channels, pw * ph, rng);

        var image = good.Clone();
        var mask = new float[h * w];
        int changed = 0;
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++)
                if (Paste(good, image, patch, pw * ph, y * pw + x, toY + y, toX + x)) { mask[(toY + y) * w + toX + x] = 1f; changed++; }
        return changed > 0 ? new SyntheticAnomaly(image, new Grid2D(h, w, mask)) : null;
    }

    private SyntheticAnomaly? TryScar(ImageTensor good, SeededRandom rng)
    {
        int h = good.Height, w = good.Width;
        double scale = Math.Min(h, w) / (double)_options.ReferenceSize;
        int sw = Math.Clamp((int)Math.Round(rng.Uniform(_options.ScarWidthMin, _options.ScarWidthMax) * scale), 1, w);
        int sl = Math.Clamp((int)Math.Round(rng.Uniform(_options.ScarLengthMin, _options.ScarLengthMax) * scale), 2, h);
        double angle = rng.Uniform(-_options.ScarRotationMax, _options.ScarRotationMax) * Math.PI / 180.0;
        int fromX = rng.NextInt(0, w - sw), fromY = rng.NextInt(0, h - sl);

        float[] patch = Cut(good, fromX, fromY, sw, sl);
        ColorJitter(patch, good.Channels, sw * sl, rng);

        double cos = Math.Cos(angle), sin = Math.Sin(angle);
        double halfW = sw / 2.0, halfL = sl / 2.0;
        // Half extents of the rotated scar's bounding box; its centre is placed so the scar lies inside the image.
        double ex = Math.Abs(cos) * halfW + Math.Abs(sin) * halfL;
        double ey = Math.Abs(sin) * halfW + Math.Abs(cos) * halfL;
        double cx = w >= 2 * ex ? rng.Uniform(ex, w - ex) : w / 2.0;
        double cy = h >= 2 * ey ? rng.Uniform(ey, h - ey) : h / 2.0;

        var image = good.Clone();
        var mask = new float[h * w];
        int changed = 0;
        int x0 = Math.Max(0, (int)Math.Floor(cx - ex)), x1 = Math.Min(w - 1, (int)Math.Ceiling(cx + ex));
        int y0 = Math.Max(0, (int)Math.Floor(cy - ey)), y1 = Math.Min(h - 1, (int)Math.Ceiling(cy + ey));
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
                // Rotate the pixel centre back into the patch frame (nearest-neighbour sampling of the rotated patch).
                double u = cos * dx + sin * dy, v = -sin * dx + cos * dy;
                if (Math.Abs(u) >= halfW || Math.Abs(v) >= halfL) continue;
                int px = Math.Clamp((int)Math.Floor(u + halfW), 0, sw - 1);
                int py = Math.Clamp((int)Math.Floor(v + halfL), 0, sl - 1);
                if (Paste(good, image, patch, sw * sl, py * sw + px, y, x)) { mask[y * w + x] = 1f; changed++; }
            }
        }
        return changed > 0 ? new SyntheticAnomaly(image, new Grid2D(h, w, mask)) : null;
    }

    /// <summary>Copies a planar patch (all channels) out of the image.</summary>
    private static float[] Cut(ImageTensor image, int x0, int y0, int pw, int ph)
    {
        var patch = new float[image.Channels * pw * ph];
        for (int c = 0; c < image.Channels; c++)
            for (int y = 0; y < ph; y++)
                image.Pixels.AsSpan((c * image.Height + y0 + y) * image.Width + x0, pw).CopyTo(patch.AsSpan((c * ph + y) * pw, pw));
        return patch;
    }

    /// <summary>
    /// Writes one patch pixel into the output when it differs from the original by more than 1e-6 in some channel;
    /// otherwise the output keeps the original value bit for bit. Returns whether the pixel changed.
    /// </summary>
    private static bool Paste(ImageTensor original, ImageTensor output, float[] patch, int patchPlane, int patchIndex, int y, int x)
    {
        int plane = original.Height * original.Width, at = y * original.Width + x;
        bool changed = false;
        for (int c = 0; c < original.Channels; c++)
            if (Math.Abs(patch[c * patchPlane + patchIndex] - original.Pixels[c * plane + at]) > SameValue) { changed = true; break; }
        if (!changed) return false;
        for (int c = 0; c < original.Channels; c++) output.Pixels[c * plane + at] = patch[c * patchPlane + patchIndex];
        return true;
    }

    /// <summary>torchvision-style ColorJitter(brightness, contrast, saturation, hue = strength) in a fixed order.</summary>
    private void ColorJitter(float[] patch, int channels, int plane, SeededRandom rng)
    {
        double j = _options.ColorJitter;
        if (j <= 0) return;

        float brightness = (float)rng.Uniform(Math.Max(0, 1 - j), 1 + j);
        for (int i = 0; i < patch.Length; i++) patch[i] = Math.Clamp(patch[i] * brightness, 0f, 1f);

        float contrast = (float)rng.Uniform(Math.Max(0, 1 - j), 1 + j);
        double sum = 0;
        for (int i = 0; i < plane; i++) sum += Gray(patch, channels, plane, i);
        float mean = (float)(sum / plane);
        for (int i = 0; i < patch.Length; i++) patch[i] = Math.Clamp((patch[i] - mean) * contrast + mean, 0f, 1f);

        if (channels != 3) return;

        float saturation = (float)rng.Uniform(Math.Max(0, 1 - j), 1 + j);
        for (int i = 0; i < plane; i++)
        {
            float g = Gray(patch, channels, plane, i);
            for (int c = 0; c < 3; c++) patch[c * plane + i] = Math.Clamp(g + (patch[c * plane + i] - g) * saturation, 0f, 1f);
        }

        float hue = (float)rng.Uniform(-j, j);
        for (int i = 0; i < plane; i++)
        {
            RgbToHsv(patch[i], patch[plane + i], patch[2 * plane + i], out float hh, out float s, out float v);
            hh -= MathF.Floor(hh + hue) - hue; // (hh + hue) mod 1
            HsvToRgb(hh, s, v, out float r, out float g, out float b);
            patch[i] = Math.Clamp(r, 0f, 1f); patch[plane + i] = Math.Clamp(g, 0f, 1f); patch[2 * plane + i] = Math.Clamp(b, 0f, 1f);
        }
    }

    private static float Gray(float[] patch, int channels, int plane, int i)
    {
        if (channels == 3) return 0.299f * patch[i] + 0.587f * patch[plane + i] + 0.114f * patch[2 * plane + i];
        float s = 0;
        for (int c = 0; c < channels; c++) s += patch[c * plane + i];
        return s / channels;
    }

    private static void RgbToHsv(float r, float g, float b, out float h, out float s, out float v)
    {
        float max = MathF.Max(r, MathF.Max(g, b)), min = MathF.Min(r, MathF.Min(g, b)), d = max - min;
        v = max;
        s = max > 0 ? d / max : 0;
        if (d <= 0) { h = 0; return; }
        if (max == r) h = (g - b) / d / 6f;
        else if (max == g) h = ((b - r) / d + 2f) / 6f;
        else h = ((r - g) / d + 4f) / 6f;
        if (h < 0) h += 1f;
    }

    private static void HsvToRgb(float h, float s, float v, out float r, out float g, out float b)
    {
        float h6 = (h - MathF.Floor(h)) * 6f;
        int sector = Math.Min((int)h6, 5);
        float f = h6 - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
        (r, g, b) = sector switch
        {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
    }
}
