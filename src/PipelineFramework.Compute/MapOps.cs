using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace PipelineFramework.Compute;

public static class MapOps
{
    /// Bilinear resize with align_corners=false semantics (like torch F.interpolate(mode='bilinear', align_corners=False)), single channel.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] ResizeBilinear(ReadOnlySpan<float> source, int height, int width, int outHeight, int outWidth)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outWidth);
        if (source.Length < (long)height * width) throw new ArgumentException($"Source needs {(long)height * width} floats.", nameof(source));
        var result = new float[checked(outHeight * outWidth)];

        // Per output column: left index, right offset (0 at the border), and the two weights (as torch computes them, in float).
        var x0 = new int[outWidth];
        var x1 = new int[outWidth];
        var wx0 = new float[outWidth];
        var wx1 = new float[outWidth];
        float scaleX = (float)width / outWidth;
        for (int ox = 0; ox < outWidth; ox++)
        {
            (x0[ox], x1[ox], wx0[ox], wx1[ox]) = SourceIndex(scaleX, ox, width);
        }
        float scaleY = (float)height / outHeight;
        for (int oy = 0; oy < outHeight; oy++)
        {
            var (y0, y1, wy0, wy1) = SourceIndex(scaleY, oy, height);
            var top = source.Slice(y0 * width, width);
            var bottom = source.Slice(y1 * width, width);
            var dst = result.AsSpan(oy * outWidth, outWidth);
            for (int ox = 0; ox < outWidth; ox++)
            {
                int a = x0[ox], b = x1[ox];
                dst[ox] = wy0 * (wx0[ox] * top[a] + wx1[ox] * top[b]) + wy1 * (wx0[ox] * bottom[a] + wx1[ox] * bottom[b]);
            }
        }
        return result;
    }

    /// <summary>torch area_pixel_compute_source_index (align_corners=False, cubic=False) + the bilinear neighbour/weights. The GPU resize kernel calls it too.</summary>
    internal static (int I0, int I1, float W0, float W1) SourceIndex(float scale, int dst, int inSize)
    {
        float src = scale * (dst + 0.5f) - 0.5f;
        if (src < 0f) src = 0f;
        int i0 = (int)src;
        if (i0 > inSize - 1) i0 = inSize - 1;
        int i1 = i0 < inSize - 1 ? i0 + 1 : i0;
        float w1 = src - i0;
        float w0 = 1f - w1;
        return (i0, i1, w0, w1);
    }

    /// Separable Gaussian blur, kernel radius = ceil(4*sigma) (truncate 4.0 like scipy), reflect padding (scipy 'reflect' mode: d c b a | a b c d | d c b a). Returns a new array. sigma &lt;= 0 returns a copy.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] GaussianBlur(ReadOnlySpan<float> source, int height, int width, float sigma)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        int size = checked(height * width);
        if (source.Length < size) throw new ArgumentException($"Source needs {size} floats.", nameof(source));
        if (!(sigma > 0f)) return source[..size].ToArray();

        var weights = GaussianWeights(sigma);
        int radius = weights.Length / 2;

        // Horizontal pass: each row is reflected into a padded buffer, then accumulated tap by tap (SIMD over x).
        var tempArray = System.Buffers.ArrayPool<float>.Shared.Rent(size); // reused: large fresh arrays cost page faults
        var temp = tempArray.AsSpan(0, size);
        temp.Clear();
        var padded = new float[width + 2 * radius];
        for (int y = 0; y < height; y++)
        {
            var row = source.Slice(y * width, width);
            for (int i = 0; i < padded.Length; i++) padded[i] = row[Reflect(i - radius, width)];
            var dst = temp.Slice(y * width, width);
            for (int t = 0; t < weights.Length; t++)
                TensorPrimitives.MultiplyAdd(padded.AsSpan(t, width), weights[t], dst, dst);
        }

        // Vertical pass: output row y = sum_t w[t] * temp[reflect(y - radius + t)].
        var result = new float[size];
        for (int y = 0; y < height; y++)
        {
            var dst = result.AsSpan(y * width, width);
            for (int t = 0; t < weights.Length; t++)
            {
                int sy = Reflect(y - radius + t, height);
                TensorPrimitives.MultiplyAdd(temp.Slice(sy * width, width), weights[t], dst, dst);
            }
        }
        System.Buffers.ArrayPool<float>.Shared.Return(tempArray);
        return result;
    }

    /// <summary>Normalised Gaussian taps, radius ceil(4 sigma).</summary>
    internal static float[] GaussianWeights(float sigma)
    {
        int radius = (int)Math.Ceiling(4.0 * sigma);
        var w = new double[2 * radius + 1];
        double sum = 0, s2 = (double)sigma * sigma;
        for (int t = -radius; t <= radius; t++)
        {
            w[t + radius] = Math.Exp(-0.5 * t * t / s2);
            sum += w[t + radius];
        }
        var result = new float[w.Length];
        for (int i = 0; i < w.Length; i++) result[i] = (float)(w[i] / sum);
        return result;
    }

    /// <summary>scipy.ndimage 'reflect' (half-sample symmetric) index, any overhang.</summary>
    internal static int Reflect(int i, int n)
    {
        if ((uint)i < (uint)n) return i;
        if (n == 1) return 0;
        int period = 2 * n;
        int m = i % period;
        if (m < 0) m += period;
        return m < n ? m : period - 1 - m;
    }

    /// Mean filter of size k x k (k odd) over each channel plane of CHW data, zero padding, count_include_pad=true divisor k*k (like torch AvgPool2d(k, stride 1, padding k/2)). Returns new array.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] BoxFilterChw(ReadOnlySpan<float> source, int channels, int height, int width, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (size % 2 == 0) throw new ArgumentException("Box filter size must be odd.", nameof(size));
        int plane = checked(height * width);
        int total = checked(channels * plane);
        if (source.Length < total) throw new ArgumentException($"Source needs {total} floats.", nameof(source));
        var result = new float[total];
        int pad = size / 2;
        float scale = 1f / ((float)size * size);
        // Separable: horizontal window sums from a zero-padded row copy, then vertical sums of those rows (SIMD over x).
        var padded = new float[width + 2 * pad];
        var rowSums = new float[plane];
        for (int c = 0; c < channels; c++)
        {
            var src = source.Slice(c * plane, plane);
            for (int y = 0; y < height; y++)
            {
                src.Slice(y * width, width).CopyTo(padded.AsSpan(pad, width));
                var dst = rowSums.AsSpan(y * width, width);
                padded.AsSpan(0, width).CopyTo(dst);
                for (int t = 1; t < size; t++) TensorPrimitives.Add(dst, padded.AsSpan(t, width), dst);
            }
            var outPlane = result.AsSpan(c * plane, plane);
            for (int y = 0; y < height; y++)
            {
                var dst = outPlane.Slice(y * width, width);
                int lo = Math.Max(0, y - pad), hi = Math.Min(height, y + pad + 1);
                rowSums.AsSpan(lo * width, width).CopyTo(dst);
                for (int sy = lo + 1; sy < hi; sy++) TensorPrimitives.Add(dst, rowSums.AsSpan(sy * width, width), dst);
                TensorPrimitives.Multiply(dst, scale, dst);
            }
        }
        return result;
    }

    /// Average-pools adjacent groups of the last dimension: [rows, dim] -> [rows, outDim] like torch adaptive_avg_pool1d (bins start=floor(i*dim/outDim), end=ceil((i+1)*dim/outDim)).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] AdaptiveAvgPoolLastDim(ReadOnlySpan<float> source, int rows, int dim, int outDim)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outDim);
        if (source.Length < (long)rows * dim) throw new ArgumentException($"Source needs {(long)rows * dim} floats.", nameof(source));
        var starts = new int[outDim];
        var ends = new int[outDim];
        for (int i = 0; i < outDim; i++)
        {
            starts[i] = (int)((long)i * dim / outDim);
            ends[i] = (int)(((long)(i + 1) * dim + outDim - 1) / outDim);
        }
        var result = new float[checked(rows * outDim)];
        for (int r = 0; r < rows; r++)
        {
            var src = source.Slice(r * dim, dim);
            var dst = result.AsSpan(r * outDim, outDim);
            for (int i = 0; i < outDim; i++)
            {
                int len = ends[i] - starts[i];
                dst[i] = len == 1 ? src[starts[i]] : TensorPrimitives.Sum(src.Slice(starts[i], len)) / len;
            }
        }
        return result;
    }

    /// <summary>
    /// Single-channel adaptive average pooling [height, width] -> [outHeight, outWidth] with torch adaptive_avg_pool2d's
    /// bins (start = floor(i*n/out), end = ceil((i+1)*n/out)); e.g. a defect mask pooled to the patch grid.
    /// </summary>
    public static float[] AdaptiveAvgPool2d(ReadOnlySpan<float> source, int height, int width, int outHeight, int outWidth)
    {
        if (source.Length < (long)height * width) throw new ArgumentException($"Source needs {(long)height * width} floats.", nameof(source));
        var result = new float[outHeight * outWidth];
        for (int oy = 0; oy < outHeight; oy++)
        {
            int y0 = oy * height / outHeight, y1 = ((oy + 1) * height + outHeight - 1) / outHeight;
            for (int ox = 0; ox < outWidth; ox++)
            {
                int x0 = ox * width / outWidth, x1 = ((ox + 1) * width + outWidth - 1) / outWidth;
                double sum = 0;
                for (int y = y0; y < y1; y++) sum += TensorPrimitives.Sum(source.Slice(y * width + x0, x1 - x0));
                result[oy * outWidth + ox] = (float)(sum / ((y1 - y0) * (x1 - x0)));
            }
        }
        return result;
    }
}
