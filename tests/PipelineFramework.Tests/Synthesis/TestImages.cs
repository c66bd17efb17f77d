using PipelineFramework.Abstractions;

namespace PipelineFramework.Tests.Synthesis;

/// <summary>Small structured images (gradients, shapes, texture) that look enough like real parts to exercise synthesisers.</summary>
internal static class TestImages
{
    /// <summary>3xHxW: colour gradients, a disc, a rectangle, a diagonal bar and a fine stripe texture.</summary>
    public static ImageTensor Part(int size = 64)
    {
        int h = size, w = size, plane = h * w;
        var px = new float[3 * plane];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                float fx = x / (float)(w - 1), fy = y / (float)(h - 1);
                float r = 0.15f + 0.6f * fx, g = 0.2f + 0.5f * fy, b = 0.4f + 0.1f * MathF.Sin(x * 0.7f) * MathF.Cos(y * 0.5f);
                float dx = x - 0.3f * w, dy = y - 0.35f * h;
                if (dx * dx + dy * dy < 0.04f * w * h) (r, g, b) = (0.85f, 0.8f - 0.2f * fy, 0.1f);            // disc
                if (x > 0.55f * w && x < 0.85f * w && y > 0.55f * h && y < 0.8f * h) (r, g, b) = (0.1f, 0.3f, 0.75f); // rectangle
                if (Math.Abs(x - y - 0.1f * w) < 2) (r, g, b) = (0.95f, 0.95f, 0.95f);                          // bar
                if (y > 0.85f * h && (x / 2) % 2 == 0) (r, g, b) = (r * 0.5f, g * 0.5f, b * 0.5f);                // stripes
                px[y * w + x] = r; px[plane + y * w + x] = g; px[2 * plane + y * w + x] = b;
            }
        }
        return new ImageTensor(3, h, w, px);
    }

    /// <summary>A different good image: checkerboard texture, other gradients and a ring.</summary>
    public static ImageTensor Other(int size = 64)
    {
        int h = size, w = size, plane = h * w;
        var px = new float[3 * plane];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                bool check = ((x / 4) + (y / 4)) % 2 == 0;
                float r = check ? 0.7f : 0.35f, g = 0.3f + 0.4f * (x + y) / (2f * size), b = check ? 0.2f : 0.6f;
                float dx = x - 0.6f * w, dy = y - 0.4f * h, d2 = dx * dx + dy * dy;
                if (d2 < 0.06f * w * h && d2 > 0.03f * w * h) (r, g, b) = (0.05f, 0.05f, 0.1f);
                px[y * w + x] = r; px[plane + y * w + x] = g; px[2 * plane + y * w + x] = b;
            }
        }
        return new ImageTensor(3, h, w, px);
    }

    public static SynthesisSource Source(ImageTensor good) => new([good, Other(good.Height)]);
}

internal static class SynthesisAssert
{
    public static void ValuesInUnitRange(ImageTensor image)
    {
        foreach (float v in image.Pixels) if (!(v >= 0f && v <= 1f)) Assert.Fail($"Pixel value {v} is outside [0, 1].");
    }

    public static void MaskIsBinary(Grid2D mask)
    {
        foreach (float v in mask.Values) if (v != 0f && v != 1f) Assert.Fail($"Mask value {v} is not 0 or 1.");
    }

    /// <summary>Every pixel outside the mask is bit-identical to the input; every pixel inside differs in some channel.</summary>
    public static void MaskIsExactlyChanged(ImageTensor input, SyntheticAnomaly result)
    {
        int plane = input.Height * input.Width;
        for (int i = 0; i < plane; i++)
        {
            bool differs = false;
            for (int c = 0; c < input.Channels; c++)
                if (BitConverter.SingleToInt32Bits(input.Pixels[c * plane + i]) != BitConverter.SingleToInt32Bits(result.Image.Pixels[c * plane + i])) differs = true;
            bool inMask = result.Mask.Values[i] > 0.5f;
            if (inMask != differs) Assert.Fail($"Pixel ({i % input.Width}, {i / input.Width}): in mask = {inMask}, changed = {differs}.");
        }
    }

    public static int Count(Grid2D mask) => mask.Values.Count(v => v > 0.5f);
}
