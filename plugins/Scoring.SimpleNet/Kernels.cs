using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace PipelineFramework.Scoring.SimpleNet;

/// <summary>
/// Dense kernels over spans. Reductions use our own <see cref="Vector{T}"/> loop with unaligned loads in a fixed order,
/// so a result never depends on where the arrays happen to sit in memory (bit-identical scores after a reload);
/// element-wise work goes through <see cref="TensorPrimitives"/>.
/// </summary>
internal static class Kernels
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, i = 0, w = Vector<float>.Count;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        float sum = 0;
        if (n >= w)
        {
            Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero, s2 = Vector<float>.Zero, s3 = Vector<float>.Zero;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                s0 += Vector.LoadUnsafe(ref ra, (nuint)i) * Vector.LoadUnsafe(ref rb, (nuint)i);
                s1 += Vector.LoadUnsafe(ref ra, (nuint)(i + w)) * Vector.LoadUnsafe(ref rb, (nuint)(i + w));
                s2 += Vector.LoadUnsafe(ref ra, (nuint)(i + 2 * w)) * Vector.LoadUnsafe(ref rb, (nuint)(i + 2 * w));
                s3 += Vector.LoadUnsafe(ref ra, (nuint)(i + 3 * w)) * Vector.LoadUnsafe(ref rb, (nuint)(i + 3 * w));
            }
            for (; i <= n - w; i += w) s0 += Vector.LoadUnsafe(ref ra, (nuint)i) * Vector.LoadUnsafe(ref rb, (nuint)i);
            sum = Vector.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) sum += Unsafe.Add(ref ra, i) * Unsafe.Add(ref rb, i);
        return sum;
    }

    /// <summary>Sum of the elements (fixed order, like <see cref="Dot"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(ReadOnlySpan<float> a)
    {
        int n = a.Length, i = 0, w = Vector<float>.Count;
        ref float ra = ref MemoryMarshal.GetReference(a);
        float sum = 0;
        if (n >= w)
        {
            Vector<float> s0 = Vector<float>.Zero, s1 = Vector<float>.Zero;
            for (; i <= n - 2 * w; i += 2 * w)
            {
                s0 += Vector.LoadUnsafe(ref ra, (nuint)i);
                s1 += Vector.LoadUnsafe(ref ra, (nuint)(i + w));
            }
            for (; i <= n - w; i += w) s0 += Vector.LoadUnsafe(ref ra, (nuint)i);
            sum = Vector.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref ra, i);
        return sum;
    }

    /// <summary>destination += x · scale (element-wise).</summary>
    public static void AddScaled(ReadOnlySpan<float> x, float scale, Span<float> destination) =>
        TensorPrimitives.MultiplyAdd(x, scale, destination, destination);

    /// <summary>
    /// Runs body(0..n−1), in parallel when the work (items × cost per item, in multiply-adds) is worth it. Each item
    /// writes its own outputs, so the result is the same either way.
    /// </summary>
    public static void For(int n, long costPerItem, Action<int> body)
    {
        if (n <= 0) return;
        if (n == 1 || n * costPerItem < 1L << 16 || Environment.ProcessorCount == 1)
        {
            for (int i = 0; i < n; i++) body(i);
            return;
        }
        Parallel.For(0, n, body);
    }

    /// <summary>Y[r] = W·X[r] + b for the given rows; W is outDim × inDim row-major. Rows run in parallel.</summary>
    public static void Affine(float[] x, int rows, int inDim, ReadOnlyMemory<float> w, ReadOnlyMemory<float> b, int outDim, float[] y)
    {
        For(rows, (long)inDim * outDim, r =>
        {
            var xr = x.AsSpan(r * inDim, inDim);
            var ws = w.Span; var bs = b.Span;
            var yr = y.AsSpan(r * outDim, outDim);
            for (int j = 0; j < outDim; j++) yr[j] = Dot(ws.Slice(j * inDim, inDim), xr) + bs[j];
        });
    }

    public static float Leaky(float v, float slope) => v > 0 ? v : v * slope;
}
