using ILGPU;
using ILGPU.Runtime;

namespace PipelineFramework.Compute.Gpu;

public struct MahalanobisArgs
{
    public int Images;
    public int Positions;
    public int InputDim;
    public int Dim;
}

/// <summary>The kernels, compiled once per accelerator (PTX on CUDA; .NET code on ILGPU's CPU accelerator).</summary>
internal sealed class Kernels
{
    public Kernels(Accelerator accelerator)
    {
        Knn = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, KnnArgs, SpecializedValue<int>, SpecializedValue<int>, ArrayView<float>, ArrayView<int>>(KnnKernel.Run);
        CoresetUpdate = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>>(CoresetKernels.UpdateAndReduce);
        CoresetPick = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, int, ArrayView<float>, ArrayView<int>, int>(CoresetKernels.Pick);
        Mahalanobis = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, MahalanobisArgs, ArrayView<float>>(MapKernels.Mahalanobis);
        Resize = accelerator.LoadStreamKernel<int, ArrayView<float>, int, int, int, int, ArrayView<float>>(MapKernels.ResizeBilinear);
        BlurRows = accelerator.LoadStreamKernel<int, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>>(MapKernels.BlurRows);
        BlurColumns = accelerator.LoadStreamKernel<int, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>>(MapKernels.BlurColumns);
    }

    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, KnnArgs, SpecializedValue<int>, SpecializedValue<int>, ArrayView<float>, ArrayView<int>> Knn { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, ArrayView<float>, ArrayView<int>> CoresetUpdate { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, int, ArrayView<float>, ArrayView<int>, int> CoresetPick { get; }
    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, MahalanobisArgs, ArrayView<float>> Mahalanobis { get; }
    public Action<KernelConfig, int, ArrayView<float>, int, int, int, int, ArrayView<float>> Resize { get; }
    public Action<KernelConfig, int, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>> BlurRows { get; }
    public Action<KernelConfig, int, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>> BlurColumns { get; }
}

public static class CoresetKernels
{
    /// <summary>Largest group (shared reduction arrays); groups are a power of two up to it.</summary>
    public const int MaxGroupSize = 256;

    /// <summary>
    /// minD[i] = min(minD[i], |x_i - x_c|^2) for the newest pick c = picks[t] (x transposed [d][n], so a warp reads
    /// consecutive points), then each group's (largest minD, lowest index) goes to blockMax/blockArg. The distance is
    /// the CPU kernel's sum over p = 0..d-1 in the same order; selected points hold -1 and never win.
    /// </summary>
    public static void UpdateAndReduce(ArrayView<float> xt, ArrayView<float> minD, ArrayView<int> picks, int t, int n, int d,
        ArrayView<float> blockMax, ArrayView<int> blockArg)
    {
        var sv = SharedMemory.Allocate<float>(MaxGroupSize);
        var si = SharedMemory.Allocate<int>(MaxGroupSize);
        int c = picks[t];
        float bestV = -2f;
        int bestI = int.MaxValue;
        int stride = Grid.DimX * Group.DimX;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
        {
            float m = minD[i];
            if (m >= 0f)
            {
                float s = 0f;
                for (int p = 0; p < d; p++)
                {
                    float diff = xt[(long)p * n + i] - xt[(long)p * n + c];
                    s = diff * diff + s;
                }
                if (s < m) { m = s; minD[i] = s; }
            }
            if (m > bestV) { bestV = m; bestI = i; } // i ascends per thread: the first of equals is kept
        }
        GroupArgMax(sv, si, bestV, bestI);
        if (Group.IdxX == 0) { blockMax[Grid.IdxX] = sv[0]; blockArg[Grid.IdxX] = si[0]; }
    }

    /// <summary>
    /// A group's tree reduction of each thread's (value, index) to the largest value, the smallest index among equals,
    /// left in sv[0] and si[0] (the CPU coreset's tie rule, so picks agree).
    /// </summary>
    static void GroupArgMax(ArrayView<float> sv, ArrayView<int> si, float value, int index)
    {
        sv[Group.IdxX] = value;
        si[Group.IdxX] = index;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half >>= 1)
        {
            if (Group.IdxX < half)
            {
                float ov = sv[Group.IdxX + half];
                int oi = si[Group.IdxX + half];
                if (ov > sv[Group.IdxX] || (ov == sv[Group.IdxX] && oi < si[Group.IdxX])) { sv[Group.IdxX] = ov; si[Group.IdxX] = oi; }
            }
            Group.Barrier();
        }
    }

    /// <summary>One group: the arg-max over the group results becomes picks[t + 1] and is marked selected (-1).</summary>
    public static void Pick(ArrayView<float> blockMax, ArrayView<int> blockArg, int blocks, ArrayView<float> minD, ArrayView<int> picks, int t)
    {
        var sv = SharedMemory.Allocate<float>(MaxGroupSize);
        var si = SharedMemory.Allocate<int>(MaxGroupSize);
        float bestV = -2f;
        int bestI = int.MaxValue;
        for (int b = Group.IdxX; b < blocks; b += Group.DimX)
        {
            float v = blockMax[b];
            int i = blockArg[b];
            if (v > bestV || (v == bestV && i < bestI)) { bestV = v; bestI = i; }
        }
        GroupArgMax(sv, si, bestV, bestI);
        if (Group.IdxX == 0)
        {
            picks[t + 1] = si[0];
            minD[si[0]] = -1f;
        }
    }
}

public static class MapKernels
{
    /// <summary>
    /// PaDiM: one thread per patch, numbered position-major (thread = position * images + image) so a warp shares one
    /// inverse covariance. Writes sqrt(max(0, d^T S^-1 d)), d = x[channels] - mean[position].
    /// </summary>
    public static void Mahalanobis(ArrayView<float> features, ArrayView<int> channels, ArrayView<float> mean,
        ArrayView<float> inverse, MahalanobisArgs a, ArrayView<float> output)
    {
        for (int t = Grid.GlobalIndex.X; t < a.Images * a.Positions; t += Grid.DimX * Group.DimX) MahalanobisOne(t, features, channels, mean, inverse, a, output);
    }

    static void MahalanobisOne(int t, ArrayView<float> features, ArrayView<int> channels, ArrayView<float> mean,
        ArrayView<float> inverse, MahalanobisArgs a, ArrayView<float> output)
    {
        int position = t / a.Images, image = t - position * a.Images;
        long patch = (long)image * a.Positions + position;
        long f = patch * a.InputDim;
        long m = (long)position * a.Dim;
        long s = (long)position * a.Dim * a.Dim;
        float sum = 0f;
        for (int r = 0; r < a.Dim; r++)
        {
            float row = 0f;
            for (int c = 0; c < a.Dim; c++)
                row = inverse[s + (long)r * a.Dim + c] * (features[f + channels[c]] - mean[m + c]) + row;
            sum = (features[f + channels[r]] - mean[m + r]) * row + sum;
        }
        // NaN (a NaN feature) stays NaN, as on the CPU, so that the engine refuses the image; "sum > 0 ? ... : 0" made it 0, a perfect part.
        output[patch] = sum <= 0f ? 0f : XMathSqrt(sum);
    }

    static float XMathSqrt(float x) => ILGPU.Algorithms.XMath.Sqrt(x);

    /// <summary>Bilinear resize, align_corners=false, of images [count][h][w] to [count][oh][ow] (MapOps.ResizeBilinear per image).</summary>
    public static void ResizeBilinear(int total, ArrayView<float> source, int h, int w, int oh, int ow, ArrayView<float> output)
    {
        for (int t = Grid.GlobalIndex.X; t < total; t += Grid.DimX * Group.DimX) ResizeOne(t, source, h, w, oh, ow, output);
    }

    static void ResizeOne(int t, ArrayView<float> source, int h, int w, int oh, int ow, ArrayView<float> output)
    {
        int plane = oh * ow;
        int image = t / plane, rest = t - image * plane;
        int oy = rest / ow, ox = rest - oy * ow;
        var (y0, y1, wy0, wy1) = MapOps.SourceIndex((float)h / oh, oy, h);
        var (x0, x1, wx0, wx1) = MapOps.SourceIndex((float)w / ow, ox, w);
        long b = (long)image * h * w;
        float top = wx0 * source[b + y0 * w + x0] + wx1 * source[b + y0 * w + x1];
        float bottom = wx0 * source[b + y1 * w + x0] + wx1 * source[b + y1 * w + x1];
        output[t] = wy0 * top + wy1 * bottom;
    }

    /// <summary>Horizontal Gaussian pass with scipy 'reflect' borders over images [count][size][size].</summary>
    public static void BlurRows(int total, ArrayView<float> source, int height, int width, ArrayView<float> weights, ArrayView<float> output)
    {
        for (int t = Grid.GlobalIndex.X; t < total; t += Grid.DimX * Group.DimX) BlurRowsOne(t, source, width, weights, output);
    }

    static void BlurRowsOne(int t, ArrayView<float> source, int width, ArrayView<float> weights, ArrayView<float> output)
    {
        int x = t % width;
        long rowStart = t - x;
        int taps = (int)weights.Length, radius = taps / 2;
        float s = 0f;
        for (int k = 0; k < taps; k++) s = source[rowStart + Reflect(x - radius + k, width)] * weights[k] + s;
        output[t] = s;
    }

    /// <summary>Vertical Gaussian pass with scipy 'reflect' borders over images [count][size][size].</summary>
    public static void BlurColumns(int total, ArrayView<float> source, int height, int width, ArrayView<float> weights, ArrayView<float> output)
    {
        for (int t = Grid.GlobalIndex.X; t < total; t += Grid.DimX * Group.DimX) BlurColumnsOne(t, source, height, width, weights, output);
    }

    static void BlurColumnsOne(int t, ArrayView<float> source, int height, int width, ArrayView<float> weights, ArrayView<float> output)
    {
        int plane = height * width;
        int image = t / plane, rest = t - image * plane;
        int y = rest / width, x = rest - y * width;
        long b = (long)image * plane;
        int taps = (int)weights.Length, radius = taps / 2;
        float s = 0f;
        for (int k = 0; k < taps; k++) s = source[b + Reflect(y - radius + k, height) * width + x] * weights[k] + s;
        output[t] = s;
    }

    /// <summary>MapOps.Reflect: scipy.ndimage 'reflect' (half-sample symmetric) index, any overhang.</summary>
    static int Reflect(int i, int n)
    {
        if (i >= 0 && i < n) return i;
        if (n == 1) return 0;
        int period = 2 * n;
        int m = i % period;
        if (m < 0) m += period;
        return m < n ? m : period - 1 - m;
    }
}
