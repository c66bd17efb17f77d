using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Compute;

/// <summary>
/// Single-precision matrix products (row-major). B is packed into 32-column panels [k][32] once (shared by all threads);
/// each thread packs its block of A rows into [kc][12] micro-panels and runs the shared 12x32 register-blocked
/// micro-kernel (<see cref="MicroKernel"/>). Blocking: kc &lt;= 256 (a B panel stays in L1), up to 192 rows of A per block (L2).
/// </summary>
public static class Gemm
{
    internal static int KcMax = 256;
    private const int MicroPanelsPerBlock = 16; // 192 rows

    /// C[m,n] = A[m,k] * B[k,n] (all row-major), overwriting C. Cache-blocked, SIMD, parallel over row blocks.
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, int maxThreads = 0)
        => Run(a, b, c, m, k, n, transposedB: false, maxThreads);

    /// C[m,n] = A[m,k] * B[n,k]^T — the kNN form (queries x bank^T).
    public static void MultiplyTransposedB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, int maxThreads = 0)
        => Run(a, b, c, m, k, n, transposedB: true, maxThreads);

    private static unsafe void Run(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, bool transposedB, int maxThreads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (a.Length < (long)m * k) throw new ArgumentException($"A needs {(long)m * k} elements, has {a.Length}.", nameof(a));
        if (b.Length < (long)k * n) throw new ArgumentException($"B needs {(long)k * n} elements, has {b.Length}.", nameof(b));
        if (c.Length < (long)m * n) throw new ArgumentException($"C needs {(long)m * n} elements, has {c.Length}.", nameof(c));
        if (m == 0 || n == 0) return;
        if (k == 0) { c[..(m * n)].Clear(); return; }

        int threads = Threads.Resolve(maxThreads);
        double flops = 2.0 * m * n * k;
        if (flops < 4e6) threads = 1;

        int panels = (n + MicroKernel.NR - 1) / MicroKernel.NR;
        using var packedB = Scratch.Rent(Scratch.GemmPackedB, (nint)panels * k * MicroKernel.NR);
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            nint aAddr = (nint)pa, bAddr = (nint)pb, cAddr = (nint)pc, packAddr = (nint)packedB.Pointer;

            // 1. Pack B into panels (parallel over panel groups).
            if (threads > 1 && panels > 1 && (long)k * n > 1 << 16)
            {
                int groups = Math.Min(panels, threads * 4);
                Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = threads }, g =>
                {
                    int j0 = (int)((long)panels * g / groups), j1 = (int)((long)panels * (g + 1) / groups);
                    PackB((float*)bAddr, (float*)packAddr, k, n, j0, j1, transposedB);
                });
            }
            else
            {
                PackB(pb, packedB.Pointer, k, n, 0, panels, transposedB);
            }

            // 2. Row blocks.
            int microPanels = (m + MicroKernel.MR - 1) / MicroKernel.MR;
            int blocks = Math.Max(Math.Min(threads, microPanels), (microPanels + MicroPanelsPerBlock - 1) / MicroPanelsPerBlock);
            if (blocks > threads && threads > 1) blocks = (blocks + threads - 1) / threads * threads;
            blocks = Math.Min(blocks, microPanels);
            int kBlocks = (k + KcMax - 1) / KcMax;
            int kc = (k + kBlocks - 1) / kBlocks;
            var path = MicroKernel.ActivePath;

            void Block(int blk)
            {
                int mp0 = (int)((long)microPanels * blk / blocks), mp1 = (int)((long)microPanels * (blk + 1) / blocks);
                int row0 = mp0 * MicroKernel.MR;
                int rowEnd = Math.Min(m, mp1 * MicroKernel.MR);
                ComputeBlock(path, (float*)aAddr, (float*)packAddr, (float*)cAddr, m, k, n, row0, rowEnd, kc, panels);
            }

            if (threads > 1 && blocks > 1)
                Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, Block);
            else
                for (int blk = 0; blk < blocks; blk++) Block(blk);
        }
    }

    /// <summary>Packs panels [j0, j1) of B into [k][32] layout, zero-filling columns beyond n.</summary>
    internal static unsafe void PackB(float* b, float* packed, int k, int n, int j0, int j1, bool transposedB)
    {
        const int nr = MicroKernel.NR;
        for (int j = j0; j < j1; j++)
        {
            float* dst = packed + (nint)j * k * nr;
            int col0 = j * nr;
            int cols = Math.Min(nr, n - col0);
            if (!transposedB)
            {
                // B[k, n]: row p, columns col0..col0+cols are contiguous.
                for (int p = 0; p < k; p++)
                {
                    float* src = b + (nint)p * n + col0;
                    float* d = dst + (nint)p * nr;
                    if (cols == nr) Buffer.MemoryCopy(src, d, nr * sizeof(float), nr * sizeof(float));
                    else
                    {
                        int l = 0;
                        for (; l < cols; l++) d[l] = src[l];
                        for (; l < nr; l++) d[l] = 0f;
                    }
                }
            }
            else
            {
                // B[n, k]: column l of the panel is row col0 + l of B.
                TransposeRowsToPanel(b, k, col0, cols, dst, k);
            }
        }
    }

    /// <summary>dst[p*32 + l] = src[(row0 + l) * ld + p] for p in [0, kLen), l in [0, rows); zero for l >= rows.</summary>
    internal static unsafe void TransposeRowsToPanel(float* src, int ld, int row0, int rows, float* dst, int kLen)
    {
        const int nr = MicroKernel.NR;
        if (rows < nr)
        {
            for (int p = 0; p < kLen; p++)
                for (int l = rows; l < nr; l++) dst[(nint)p * nr + l] = 0f;
        }
        // Blocks of 8 k-values keep the written lines hot.
        for (int p0 = 0; p0 < kLen; p0 += 8)
        {
            int pEnd = Math.Min(kLen, p0 + 8);
            for (int l = 0; l < rows; l++)
            {
                float* s = src + (nint)(row0 + l) * ld;
                for (int p = p0; p < pEnd; p++) dst[(nint)p * nr + l] = s[p];
            }
        }
    }

    private static unsafe void ComputeBlock(KernelPath path, float* a, float* packedB, float* c, int m, int k, int n,
        int row0, int rowEnd, int kcMax, int panels)
    {
        const int mr = MicroKernel.MR, nr = MicroKernel.NR;
        int rows = rowEnd - row0;
        if (rows <= 0) return;
        int microPanels = (rows + mr - 1) / mr;
        using var packedA = Scratch.Rent(Scratch.GemmPackedA, (nint)microPanels * mr * kcMax);
        float* tile = stackalloc float[MicroKernel.TileFloats + 16];
        tile = (float*)(((nint)tile + 63) & ~(nint)63);

        for (int pc = 0; pc < k; pc += kcMax)
        {
            int kcb = Math.Min(kcMax, k - pc);
            PackA(a, k, row0, rows, pc, kcb, packedA.Pointer);
            bool accumulate = pc > 0;
            for (int jr = 0; jr < panels; jr++)
            {
                float* vp = packedB + ((nint)jr * k + pc) * nr;
                int col0 = jr * nr;
                int cols = Math.Min(nr, n - col0);
                for (int ir = 0; ir < microPanels; ir++)
                {
                    int r0 = row0 + ir * mr;
                    float* ap = packedA.Pointer + (nint)ir * mr * kcb;
                    MicroKernel.Run(path, (byte*)ap, sizeof(float), mr * sizeof(float), vp, kcb, tile);
                    int rcount = Math.Min(mr, rowEnd - r0);
                    StoreTile(tile, c + (nint)r0 * n + col0, n, rcount, cols, accumulate);
                }
            }
        }
    }

    /// <summary>Packs rows [row0, row0+rows) x columns [pc, pc+kcb) of A into [kcb][12] micro-panels (zero-padded rows).</summary>
    private static unsafe void PackA(float* a, int lda, int row0, int rows, int pc, int kcb, float* dst)
    {
        const int mr = MicroKernel.MR;
        int microPanels = (rows + mr - 1) / mr;
        for (int ir = 0; ir < microPanels; ir++)
        {
            float* d = dst + (nint)ir * mr * kcb;
            int rcount = Math.Min(mr, rows - ir * mr);
            for (int r = 0; r < rcount; r++)
            {
                float* s = a + (nint)(row0 + ir * mr + r) * lda + pc;
                for (int p = 0; p < kcb; p++) d[p * mr + r] = s[p];
            }
            for (int r = rcount; r < mr; r++)
                for (int p = 0; p < kcb; p++) d[p * mr + r] = 0f;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreTile(float* tile, float* c, int ldc, int rows, int cols, bool accumulate)
    {
        const int nr = MicroKernel.NR;
        if (cols == nr && Vector512.IsHardwareAccelerated)
        {
            for (int r = 0; r < rows; r++)
            {
                float* t = tile + r * nr;
                float* d = c + (nint)r * ldc;
                var v0 = Vector512.Load(t);
                var v1 = Vector512.Load(t + 16);
                if (accumulate) { v0 += Vector512.Load(d); v1 += Vector512.Load(d + 16); }
                v0.Store(d);
                v1.Store(d + 16);
            }
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            float* t = tile + r * nr;
            float* d = c + (nint)r * ldc;
            if (accumulate) for (int l = 0; l < cols; l++) d[l] += t[l];
            else for (int l = 0; l < cols; l++) d[l] = t[l];
        }
    }
}
