using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace PipelineFramework.Compute;

public static class GaussianStatistics
{
    /// Per-position Gaussian for PaDiM. samples: [n, positions, dim] row-major (n images, positions patches each).
    /// Returns mean [positions, dim] and the INVERSE covariance [positions, dim, dim] of the covariance estimated with
    /// (n-1) denominator plus shrinkage: cov = (1-shrinkage)*S + shrinkage*(trace(S)/dim)*I + epsilon*I.
    /// Parallel over positions. Inversion via Cholesky (InvalidOperationException naming the position if not SPD).
    /// With n == 1 the sample covariance S is taken as zero.
    public static (float[] Mean, float[] InverseCovariance) Estimate(float[] samples, int n, int positions, int dim, float shrinkage = 0f, float epsilon = 0.01f,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegative(positions);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (shrinkage < 0f || shrinkage > 1f) throw new ArgumentOutOfRangeException(nameof(shrinkage), "Shrinkage must be in [0, 1].");
        if (samples.Length < (long)n * positions * dim) throw new ArgumentException($"Samples need {(long)n * positions * dim} floats, have {samples.Length}.", nameof(samples));

        var mean = new float[checked(positions * dim)];
        long inverseLength = (long)positions * dim * dim;
        if (inverseLength > Array.MaxLength) throw new ArgumentException($"Inverse covariance of {inverseLength} floats is too large.");
        var inverse = new float[inverseLength];
        int failedPosition = int.MaxValue;
        string? failure = null;
        var gate = new object();

        // Observed between positions (one covariance and its inverse each), so a large dim stops within a position's time.
        Parallel.For(0, positions, new ParallelOptions { CancellationToken = cancellation },
            () => new Workspace(n, dim),
            (pos, _, ws) =>
            {
                try
                {
                    EstimatePosition(samples, n, positions, dim, pos, shrinkage, epsilon, ws, mean.AsSpan(pos * dim, dim), inverse.AsSpan(checked(pos * dim * dim), dim * dim));
                }
                catch (InvalidOperationException ex)
                {
                    lock (gate)
                    {
                        if (pos < failedPosition) { failedPosition = pos; failure = ex.Message; }
                    }
                }
                return ws;
            },
            _ => { });

        if (failure is not null)
            throw new InvalidOperationException($"Covariance at position {failedPosition} is not symmetric positive definite: {failure}");
        return (mean, inverse);
    }

    private sealed class Workspace
    {
        public readonly double[] Centered; // [n, dim]
        public readonly double[] Cov;      // [dim, dim]
        public readonly double[] Cholesky; // [dim, dim]
        public readonly double[] InvT;     // [dim, dim]
        public Workspace(int n, int dim)
        {
            Centered = new double[n * dim];
            Cov = new double[dim * dim];
            Cholesky = new double[dim * dim];
            InvT = new double[dim * dim];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EstimatePosition(float[] samples, int n, int positions, int dim, int pos, float shrinkage, float epsilon,
        Workspace ws, Span<float> meanOut, Span<float> inverseOut)
    {
        var x = ws.Centered;
        // Mean in double.
        Span<double> mu = dim <= 1024 ? stackalloc double[dim] : new double[dim];
        mu.Clear();
        for (int i = 0; i < n; i++)
        {
            var row = samples.AsSpan((i * positions + pos) * dim, dim);
            for (int a = 0; a < dim; a++) mu[a] += row[a];
        }
        for (int a = 0; a < dim; a++) { mu[a] /= n; meanOut[a] = (float)mu[a]; }
        for (int i = 0; i < n; i++)
        {
            var row = samples.AsSpan((i * positions + pos) * dim, dim);
            var dst = x.AsSpan(i * dim, dim);
            for (int a = 0; a < dim; a++) dst[a] = row[a] - mu[a];
        }

        // Upper triangle of X^T X, four samples per sweep.
        var s = ws.Cov;
        Array.Clear(s);
        int i4 = 0;
        for (; i4 + 4 <= n; i4 += 4)
        {
            var r0 = x.AsSpan(i4 * dim, dim);
            var r1 = x.AsSpan((i4 + 1) * dim, dim);
            var r2 = x.AsSpan((i4 + 2) * dim, dim);
            var r3 = x.AsSpan((i4 + 3) * dim, dim);
            for (int a = 0; a < dim; a++)
                RankUpdate4(s.AsSpan(a * dim + a, dim - a), r0[a], r0[a..], r1[a], r1[a..], r2[a], r2[a..], r3[a], r3[a..]);
        }
        for (; i4 < n; i4++)
        {
            var r0 = x.AsSpan(i4 * dim, dim);
            for (int a = 0; a < dim; a++)
            {
                double c = r0[a];
                var dst = s.AsSpan(a * dim + a, dim - a);
                var src = r0[a..];
                for (int b = 0; b < dst.Length; b++) dst[b] += c * src[b];
            }
        }

        double denom = Math.Max(1, n - 1);
        double trace = 0;
        for (int a = 0; a < dim; a++) trace += s[a * dim + a] / denom;
        double diagAdd = shrinkage * trace / dim + epsilon;
        double keep = (1.0 - shrinkage) / denom;
        for (int a = 0; a < dim; a++)
        {
            for (int b = a; b < dim; b++)
            {
                double v = s[a * dim + b] * keep;
                s[a * dim + b] = v;
                s[b * dim + a] = v;
            }
            s[a * dim + a] += diagAdd;
        }
        InvertSpdCore(s, dim, ws.Cholesky, ws.InvT, inverseOut);
    }

    private static void RankUpdate4(Span<double> dst, double c0, ReadOnlySpan<double> x0, double c1, ReadOnlySpan<double> x1,
        double c2, ReadOnlySpan<double> x2, double c3, ReadOnlySpan<double> x3)
    {
        int len = dst.Length, b = 0;
        if (Vector256.IsHardwareAccelerated && len >= 4)
        {
            var v0 = Vector256.Create(c0); var v1 = Vector256.Create(c1);
            var v2 = Vector256.Create(c2); var v3 = Vector256.Create(c3);
            ref double d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
            ref double s0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x0);
            ref double s1 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x1);
            ref double s2 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x2);
            ref double s3 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x3);
            for (; b + 4 <= len; b += 4)
            {
                nuint o = (nuint)b;
                var acc = Vector256.LoadUnsafe(ref d, o);
                acc = Vector256.FusedMultiplyAdd(v0, Vector256.LoadUnsafe(ref s0, o), acc);
                acc = Vector256.FusedMultiplyAdd(v1, Vector256.LoadUnsafe(ref s1, o), acc);
                acc = Vector256.FusedMultiplyAdd(v2, Vector256.LoadUnsafe(ref s2, o), acc);
                acc = Vector256.FusedMultiplyAdd(v3, Vector256.LoadUnsafe(ref s3, o), acc);
                acc.StoreUnsafe(ref d, o);
            }
        }
        for (; b < len; b++) dst[b] += c0 * x0[b] + c1 * x1[b] + c2 * x2[b] + c3 * x3[b];
    }

    /// Squared Mahalanobis distance of x[dim] to (mean[dim], invCov[dim*dim]). scratch needs dim floats.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe float MahalanobisSquared(ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> inverseCovariance, int dim, Span<float> scratch)
    {
        if (x.Length < dim || mean.Length < dim) throw new ArgumentException("x and mean need dim elements.");
        if (inverseCovariance.Length < (long)dim * dim) throw new ArgumentException("Inverse covariance needs dim*dim elements.", nameof(inverseCovariance));
        if (scratch.Length < dim) throw new ArgumentException("Scratch needs dim elements.", nameof(scratch));
        var diff = scratch[..dim];
        TensorPrimitives.Subtract(x[..dim], mean[..dim], diff);
        double sum = 0;
        fixed (float* m = inverseCovariance)
        fixed (float* d = diff)
        {
            int a = 0;
            if (Vector512.IsHardwareAccelerated && dim >= 16)
            {
                // Four rows at a time: (row_a . d) for a..a+3, SIMD over the columns, masked tail.
                int full = dim & ~15;
                for (; a + 4 <= dim; a += 4)
                {
                    float* r0 = m + (nint)a * dim, r1 = r0 + dim, r2 = r1 + dim, r3 = r2 + dim;
                    Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                    int b = 0;
                    for (; b < full; b += 16)
                    {
                        var v = Vector512.Load(d + b);
                        s0 = Vector512.FusedMultiplyAdd(Vector512.Load(r0 + b), v, s0);
                        s1 = Vector512.FusedMultiplyAdd(Vector512.Load(r1 + b), v, s1);
                        s2 = Vector512.FusedMultiplyAdd(Vector512.Load(r2 + b), v, s2);
                        s3 = Vector512.FusedMultiplyAdd(Vector512.Load(r3 + b), v, s3);
                    }
                    float t0 = Vector512.Sum(s0), t1 = Vector512.Sum(s1), t2 = Vector512.Sum(s2), t3 = Vector512.Sum(s3);
                    for (; b < dim; b++)
                    {
                        float v = d[b];
                        t0 += r0[b] * v; t1 += r1[b] * v; t2 += r2[b] * v; t3 += r3[b] * v;
                    }
                    sum += (double)d[a] * t0 + (double)d[a + 1] * t1 + (double)d[a + 2] * t2 + (double)d[a + 3] * t3;
                }
            }
            for (; a < dim; a++)
                sum += (double)d[a] * TensorPrimitives.Dot(new ReadOnlySpan<float>(m + (nint)a * dim, dim), diff);
        }
        return (float)sum;
    }

    /// Inverse of an SPD matrix [dim,dim] via Cholesky in double precision.
    public static float[] InvertSpd(ReadOnlySpan<double> matrix, int dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (matrix.Length < (long)dim * dim) throw new ArgumentException("Matrix needs dim*dim elements.", nameof(matrix));
        var a = matrix[..(dim * dim)].ToArray();
        var result = new float[dim * dim];
        InvertSpdCore(a, dim, new double[dim * dim], new double[dim * dim], result);
        return result;
    }

    /// <summary>A = L L^T, then A^-1 = L^-T L^-1. Uses the lower triangle of <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InvertSpdCore(double[] a, int dim, double[] l, double[] invT, Span<float> result)
    {
        Array.Clear(l);
        // Cholesky, row by row: L[i,j] = (A[i,j] - L[i,:j].L[j,:j]) / L[j,j].
        for (int i = 0; i < dim; i++)
        {
            var li = l.AsSpan(i * dim, dim);
            for (int j = 0; j <= i; j++)
            {
                double dot = j == 0 ? 0 : TensorPrimitives.Dot<double>(li[..j], l.AsSpan(j * dim, j));
                double v = a[i * dim + j] - dot;
                if (i == j)
                {
                    if (!(v > 0) || double.IsInfinity(v))
                        throw new InvalidOperationException($"Cholesky pivot {i} is {v:G6} (matrix not symmetric positive definite).");
                    li[i] = Math.Sqrt(v);
                }
                else li[j] = v / l[j * dim + j];
            }
        }
        // invT row j = column j of L^-1: invT[j,i] = -(L[i, j..i) . invT[j, j..i)) / L[i,i], invT[j,j] = 1/L[j,j].
        Array.Clear(invT);
        for (int j = 0; j < dim; j++)
        {
            var row = invT.AsSpan(j * dim, dim);
            row[j] = 1.0 / l[j * dim + j];
            for (int i = j + 1; i < dim; i++)
            {
                double dot = TensorPrimitives.Dot<double>(l.AsSpan(i * dim + j, i - j), row.Slice(j, i - j));
                row[i] = -dot / l[i * dim + i];
            }
        }
        // inv[i,j] = sum_{k >= max(i,j)} invT[i,k] invT[j,k].
        for (int i = 0; i < dim; i++)
        {
            for (int j = i; j < dim; j++)
            {
                double v = TensorPrimitives.Dot<double>(invT.AsSpan(i * dim + j, dim - j), invT.AsSpan(j * dim + j, dim - j));
                result[i * dim + j] = (float)v;
                result[j * dim + i] = (float)v;
            }
        }
    }
}
