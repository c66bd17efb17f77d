namespace PipelineFramework.Compute;

/// <summary>
/// Planar (CHW) multi-channel image helpers on raw <c>float[]</c> pixels: resampling, channel adaptation and circular
/// shifts of source images and textures (used by the synthesis plugins).
/// </summary>
public static class PlanarImageOps
{
    /// <summary>
    /// The image (<paramref name="sourceChannels"/> x <paramref name="sourceHeight"/> x <paramref name="sourceWidth"/>)
    /// at the target channel count and size: bilinear resampling (<see cref="Resize"/>), channels replicated or averaged.
    /// Always a new array; <paramref name="pixels"/> is not modified.
    /// </summary>
    public static float[] Fit(float[] pixels, int sourceChannels, int sourceHeight, int sourceWidth, int channels, int height, int width)
    {
        float[] src = pixels;
        int sc = sourceChannels, sh = sourceHeight, sw = sourceWidth;
        if (sh != height || sw != width)
        {
            src = Resize(src, sc, sh, sw, height, width);
            sh = height; sw = width;
        }
        if (sc == channels) return src == pixels ? (float[])src.Clone() : src;

        int plane = height * width;
        var result = new float[channels * plane];
        if (sc == 1)
        {
            for (int c = 0; c < channels; c++) src.AsSpan(0, plane).CopyTo(result.AsSpan(c * plane, plane));
        }
        else if (channels == 1)
        {
            for (int i = 0; i < plane; i++)
            {
                float s = 0;
                for (int c = 0; c < sc; c++) s += src[c * plane + i];
                result[i] = s / sc;
            }
        }
        else
        {
            for (int c = 0; c < channels; c++) src.AsSpan((c % sc) * plane, plane).CopyTo(result.AsSpan(c * plane, plane));
        }
        return result;
    }

    /// <summary>
    /// Bilinear resize of every channel, pixel centres aligned (align_corners=false), source coordinates computed in
    /// double and clamped to the image. Not the same rounding as <see cref="MapOps.ResizeBilinear"/> (torch's float
    /// arithmetic): the synthesis plugins' outputs depend on this one.
    /// </summary>
    public static float[] Resize(float[] src, int channels, int sh, int sw, int th, int tw)
    {
        var dst = new float[channels * th * tw];
        for (int y = 0; y < th; y++)
        {
            double sy = Math.Clamp((y + 0.5) * sh / th - 0.5, 0, sh - 1);
            int y0 = (int)sy, y1 = Math.Min(y0 + 1, sh - 1);
            float wy = (float)(sy - y0);
            for (int x = 0; x < tw; x++)
            {
                double sx = Math.Clamp((x + 0.5) * sw / tw - 0.5, 0, sw - 1);
                int x0 = (int)sx, x1 = Math.Min(x0 + 1, sw - 1);
                float wx = (float)(sx - x0);
                for (int c = 0; c < channels; c++)
                {
                    int b = c * sh * sw;
                    float top = src[b + y0 * sw + x0] * (1 - wx) + src[b + y0 * sw + x1] * wx;
                    float bottom = src[b + y1 * sw + x0] * (1 - wx) + src[b + y1 * sw + x1] * wx;
                    dst[(c * th + y) * tw + x] = top * (1 - wy) + bottom * wy;
                }
            }
        }
        return dst;
    }

    /// <summary>Circular shift by (dx, dy) (non-negative): a different view of the same image when no other texture exists.</summary>
    public static float[] Roll(float[] src, int channels, int height, int width, int dx, int dy)
    {
        var dst = new float[src.Length];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    dst[(c * height + (y + dy) % height) * width + (x + dx) % width] = src[(c * height + y) * width + x];
        return dst;
    }
}
