using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Compute;

/// <summary>
/// Single-precision matrix products (row-major). B is packed into 32-column panels [k][32] once (shared by all threads);
/// each thread packs its block of A rows into [kc][12] micro-panels and runs the shared 12x32 register-blocked
/// micro-kernel (<see cref="MicroKernel"/>). Blocking: kc &lt;= 256 (a B panel stays in L1), up to 192 rows of A per block (L2).
/// </summary>
public static class Gemm
{
    internal static int KcMax = 256; // settable for experiments
    private const int MicroPanelsPerBlock = 16; // 192 rows
    private const int BlocksPerThread = 4;

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
            // At least 4 blocks per thread (dynamic balance when a worker starts late), at most 16 micro-panels (192 rows) each.
            int blocks = Math.Max(threads == 1 ? 1 : threads * BlocksPerThread, (microPanels + MicroPanelsPerBlock - 1) / MicroPanelsPerBlock);
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void PackB(float* b, float* packed, int k, int n, int j0, int j1, bool transposedB)
    {
        const int nr = MicroKernel.NR;
        if (transposedB)
        {
            // B[n, k]: column l of the panel is row col0 + l of B.
            for (int j = j0; j < j1; j++)
                TransposeRowsToPanel(b, k, j * nr, Math.Min(nr, n - j * nr), packed + (nint)j * k * nr, k);
            return;
        }
        // B[k, n]: walk B by rows (sequential reads) in blocks of 8, scattering 32-float pieces to the panels.
        for (int p0 = 0; p0 < k; p0 += 8)
        {
            int p1 = Math.Min(k, p0 + 8);
            for (int j = j0; j < j1; j++)
            {
                int col0 = j * nr;
                int cols = Math.Min(nr, n - col0);
                float* dst = packed + (nint)j * k * nr;
                for (int p = p0; p < p1; p++)
                {
                    float* src = b + (nint)p * n + col0;
                    float* d = dst + (nint)p * nr;
                    if (cols == nr)
                    {
                        if (Vector512.IsHardwareAccelerated) { Vector512.Load(src).Store(d); Vector512.Load(src + 16).Store(d + 16); }
                        else Buffer.MemoryCopy(src, d, nr * sizeof(float), nr * sizeof(float));
                    }
                    else
                    {
                        int l = 0;
                        for (; l < cols; l++) d[l] = src[l];
                        for (; l < nr; l++) d[l] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>dst[p*32 + l] = src[(row0 + l) * ld + p] for p in [0, kLen), l in [0, rows); zero for l >= rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void TransposeRowsToPanel(float* src, int ld, int row0, int rows, float* dst, int kLen)
    {
        const int nr = MicroKernel.NR;
        if (rows < nr)
        {
            for (int p = 0; p < kLen; p++)
                new Span<float>(dst + (nint)p * nr + rows, nr - rows).Clear();
        }
        int l0 = 0;
        if (Avx.IsSupported)
        {
            // 8 x 8 register transposes.
            for (; l0 + 8 <= rows; l0 += 8)
            {
                float* s0 = src + (nint)(row0 + l0) * ld;
                int p0 = 0;
                for (; p0 + 8 <= kLen; p0 += 8)
                    Transpose8x8(s0 + p0, ld, dst + (nint)p0 * nr + l0, nr);
                for (int l = l0; l < l0 + 8; l++)
                {
                    float* s = src + (nint)(row0 + l) * ld;
                    for (int p = p0; p < kLen; p++) dst[(nint)p * nr + l] = s[p];
                }
            }
        }
        for (int l = l0; l < rows; l++)
        {
            float* s = src + (nint)(row0 + l) * ld;
            for (int p = 0; p < kLen; p++) dst[(nint)p * nr + l] = s[p];
        }
    }

    /// <summary>Transposes the 8x8 block at src (row stride ls floats) into dst (row stride ld floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Transpose8x8(float* src, int ls, float* dst, int ld)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + ls);
        var r2 = Avx.LoadVector256(src + 2 * ls);
        var r3 = Avx.LoadVector256(src + 3 * ls);
        var r4 = Avx.LoadVector256(src + 4 * ls);
        var r5 = Avx.LoadVector256(src + 5 * ls);
        var r6 = Avx.LoadVector256(src + 6 * ls);
        var r7 = Avx.LoadVector256(src + 7 * ls);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ld, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ld, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ld, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ld, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ld, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ld, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ld, Avx.Permute2x128(u3, u7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ComputeBlock(KernelPath path, float* a, float* packedB, float* c, int m, int k, int n,
        int row0, int rowEnd, int kcMax, int panels)
    {
        const int mr = MicroKernel.MR, nr = MicroKernel.NR;
        int rows = rowEnd - row0;
        if (rows <= 0) return;
        int microPanels = (rows + mr - 1) / mr;
        using var packedA = Scratch.Rent(Scratch.GemmPackedA, (nint)microPanels * mr * PackedAStride(kcMax));
        float* tile = stackalloc float[MicroKernel.TileFloats + 16];
        tile = (float*)(((nint)tile + 63) & ~(nint)63);

        for (int pc = 0; pc < k; pc += kcMax)
        {
            int kcb = Math.Min(kcMax, k - pc);
            int ldp = PackedAStride(kcb);
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
                    float* ap = packedA.Pointer + (nint)ir * mr * ldp;
                    MicroKernel.Run(path, (byte*)ap, (nint)ldp * sizeof(float), sizeof(float), vp, kcb, tile);
                    int rcount = Math.Min(mr, rowEnd - r0);
                    StoreTile(tile, c + (nint)r0 * n + col0, n, rcount, cols, accumulate);
                }
            }
        }
    }

    /// <summary>Row stride (floats) of the packed A copy: kcb rounded up to 16, plus 16 so rows never sit 4 KiB apart.</summary>
    private static int PackedAStride(int kcb) => ((kcb + 15) & ~15) + 16;

    /// <summary>
    /// Copies rows [row0, row0+rows) x columns [pc, pc+kcb) of A into a row-major block with stride
    /// <see cref="PackedAStride"/>, zero rows up to a multiple of 12. The kernel reads it as 12 row streams.
    /// </summary>
    private static unsafe void PackA(float* a, int lda, int row0, int rows, int pc, int kcb, float* dst)
    {
        const int mr = MicroKernel.MR;
        int ldp = PackedAStride(kcb);
        int padded = (rows + mr - 1) / mr * mr;
        for (int r = 0; r < rows; r++)
            Buffer.MemoryCopy(a + (nint)(row0 + r) * lda + pc, dst + (nint)r * ldp, (long)kcb * sizeof(float), (long)kcb * sizeof(float));
        if (padded > rows) new Span<float>(dst + (nint)rows * ldp, (padded - rows) * ldp).Clear();
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
