using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace PipelineFramework.Compute.Internal;

/// <summary>Which instruction set the shared 12x32 micro-kernel uses.</summary>
internal enum KernelPath
{
    Auto = 0,
    Avx512 = 1,
    Avx2Fma = 2,
    Portable = 3,
}

/// <summary>
/// The register-blocked single-precision micro-kernel shared by <see cref="Gemm"/> and <see cref="NearestNeighbourIndex"/>.
/// It computes a 12 x 32 tile: tile[r, l] = sum_p B(r, p) * V[p, l], where
/// <list type="bullet">
/// <item>the "broadcast" operand B has 12 rows, element (r, p) at byte address bc + r*rowStride + p*kStep
/// (row-major rows: rowStride = ld*4, kStep = 4; a packed [kc][12] micro-panel: rowStride = 4, kStep = 48);</item>
/// <item>the "vector" operand V is a packed panel [kc][32] (32 consecutive floats per k step).</item>
/// </list>
/// With AVX-512 the tile lives in 24 zmm accumulators (12 broadcasts x 2 vectors per k step).
/// </summary>
internal static unsafe class MicroKernel
{
    public const int MR = 12;
    public const int NR = 32;
    public const int TileFloats = MR * NR;

    /// <summary>Test hook: forces a code path (Auto picks the best supported one).</summary>
    internal static KernelPath Override = KernelPath.Auto;

    public static KernelPath ActivePath
    {
        get
        {
            var o = Override;
            if (o == KernelPath.Avx512 && Vector512.IsHardwareAccelerated && Avx512F.IsSupported) return o;
            if (o == KernelPath.Avx2Fma && Fma.IsSupported && Avx.IsSupported) return o;
            if (o == KernelPath.Portable) return o;
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported) return KernelPath.Avx512;
            if (Fma.IsSupported && Avx.IsSupported) return KernelPath.Avx2Fma;
            return KernelPath.Portable;
        }
    }

    /// <summary>Computes the 12x32 tile into <paramref name="tile"/> ([12][32], overwritten).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(KernelPath path, byte* bc, nint rowStride, nint kStep, float* vp, int kc, float* tile)
    {
        switch (path)
        {
            case KernelPath.Avx512: Kernel512(bc, rowStride, kStep, vp, kc, tile); break;
            case KernelPath.Avx2Fma: Kernel256(bc, rowStride, kStep, vp, kc, tile); break;
            default: KernelPortable(bc, rowStride, kStep, vp, kc, tile); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Kernel512(byte* bc, nint rs, nint ks, float* vp, int kc, float* tile)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default, c90 = default, c91 = default;
        Vector512<float> ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        byte* p0 = bc;
        byte* p4 = bc + 4 * rs;
        byte* p8 = bc + 8 * rs;
        nint rs2 = rs * 2, rs3 = rs * 3;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> v0 = Vector512.Load(vp);
            Vector512<float> v1 = Vector512.Load(vp + 16);
            Vector512<float> b = Vector512.Create(*(float*)p0);
            c00 = Avx512F.FusedMultiplyAdd(b, v0, c00); c01 = Avx512F.FusedMultiplyAdd(b, v1, c01);
            b = Vector512.Create(*(float*)(p0 + rs));
            c10 = Avx512F.FusedMultiplyAdd(b, v0, c10); c11 = Avx512F.FusedMultiplyAdd(b, v1, c11);
            b = Vector512.Create(*(float*)(p0 + rs2));
            c20 = Avx512F.FusedMultiplyAdd(b, v0, c20); c21 = Avx512F.FusedMultiplyAdd(b, v1, c21);
            b = Vector512.Create(*(float*)(p0 + rs3));
            c30 = Avx512F.FusedMultiplyAdd(b, v0, c30); c31 = Avx512F.FusedMultiplyAdd(b, v1, c31);
            b = Vector512.Create(*(float*)p4);
            c40 = Avx512F.FusedMultiplyAdd(b, v0, c40); c41 = Avx512F.FusedMultiplyAdd(b, v1, c41);
            b = Vector512.Create(*(float*)(p4 + rs));
            c50 = Avx512F.FusedMultiplyAdd(b, v0, c50); c51 = Avx512F.FusedMultiplyAdd(b, v1, c51);
            b = Vector512.Create(*(float*)(p4 + rs2));
            c60 = Avx512F.FusedMultiplyAdd(b, v0, c60); c61 = Avx512F.FusedMultiplyAdd(b, v1, c61);
            b = Vector512.Create(*(float*)(p4 + rs3));
            c70 = Avx512F.FusedMultiplyAdd(b, v0, c70); c71 = Avx512F.FusedMultiplyAdd(b, v1, c71);
            b = Vector512.Create(*(float*)p8);
            c80 = Avx512F.FusedMultiplyAdd(b, v0, c80); c81 = Avx512F.FusedMultiplyAdd(b, v1, c81);
            b = Vector512.Create(*(float*)(p8 + rs));
            c90 = Avx512F.FusedMultiplyAdd(b, v0, c90); c91 = Avx512F.FusedMultiplyAdd(b, v1, c91);
            b = Vector512.Create(*(float*)(p8 + rs2));
            ca0 = Avx512F.FusedMultiplyAdd(b, v0, ca0); ca1 = Avx512F.FusedMultiplyAdd(b, v1, ca1);
            b = Vector512.Create(*(float*)(p8 + rs3));
            cb0 = Avx512F.FusedMultiplyAdd(b, v0, cb0); cb1 = Avx512F.FusedMultiplyAdd(b, v1, cb1);
            p0 += ks; p4 += ks; p8 += ks; vp += 32;
        }
        c00.Store(tile + 0); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144);
        c50.Store(tile + 160); c51.Store(tile + 176);
        c60.Store(tile + 192); c61.Store(tile + 208);
        c70.Store(tile + 224); c71.Store(tile + 240);
        c80.Store(tile + 256); c81.Store(tile + 272);
        c90.Store(tile + 288); c91.Store(tile + 304);
        ca0.Store(tile + 320); ca1.Store(tile + 336);
        cb0.Store(tile + 352); cb1.Store(tile + 368);
    }

    /// <summary>AVX2+FMA: four passes of 3 rows x 32 columns (12 ymm accumulators each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Kernel256(byte* bc, nint rs, nint ks, float* vp0, int kc, float* tile)
    {
        for (int pass = 0; pass < 4; pass++)
        {
            Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
            Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
            Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
            byte* p0 = bc + 3 * pass * rs;
            float* vp = vp0;
            nint rs2 = rs * 2;
            for (int p = 0; p < kc; p++)
            {
                Vector256<float> b0 = Vector256.Create(*(float*)p0);
                Vector256<float> b1 = Vector256.Create(*(float*)(p0 + rs));
                Vector256<float> b2 = Vector256.Create(*(float*)(p0 + rs2));
                Vector256<float> v = Avx.LoadVector256(vp);
                c00 = Fma.MultiplyAdd(b0, v, c00); c10 = Fma.MultiplyAdd(b1, v, c10); c20 = Fma.MultiplyAdd(b2, v, c20);
                v = Avx.LoadVector256(vp + 8);
                c01 = Fma.MultiplyAdd(b0, v, c01); c11 = Fma.MultiplyAdd(b1, v, c11); c21 = Fma.MultiplyAdd(b2, v, c21);
                v = Avx.LoadVector256(vp + 16);
                c02 = Fma.MultiplyAdd(b0, v, c02); c12 = Fma.MultiplyAdd(b1, v, c12); c22 = Fma.MultiplyAdd(b2, v, c22);
                v = Avx.LoadVector256(vp + 24);
                c03 = Fma.MultiplyAdd(b0, v, c03); c13 = Fma.MultiplyAdd(b1, v, c13); c23 = Fma.MultiplyAdd(b2, v, c23);
                p0 += ks; vp += 32;
            }
            float* t = tile + pass * 96;
            c00.Store(t); c01.Store(t + 8); c02.Store(t + 16); c03.Store(t + 24);
            c10.Store(t + 32); c11.Store(t + 40); c12.Store(t + 48); c13.Store(t + 56);
            c20.Store(t + 64); c21.Store(t + 72); c22.Store(t + 80); c23.Store(t + 88);
        }
    }

    /// <summary>Portable <see cref="Vector{T}"/> fallback: one row at a time, 32 columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void KernelPortable(byte* bc, nint rs, nint ks, float* vp0, int kc, float* tile)
    {
        int w = Vector<float>.Count;
        if (w > NR || NR % w != 0)
        {
            for (int r = 0; r < MR; r++)
                for (int l = 0; l < NR; l++)
                {
                    float s = 0f;
                    byte* pr = bc + r * rs;
                    for (int p = 0; p < kc; p++) s += *(float*)(pr + p * ks) * vp0[p * NR + l];
                    tile[r * NR + l] = s;
                }
            return;
        }
        int nv = NR / w;
        Span<Vector<float>> acc = stackalloc Vector<float>[NR];
        for (int r = 0; r < MR; r += 2)
        {
            acc.Clear();
            byte* pa = bc + r * rs;
            byte* pb = pa + rs;
            float* vp = vp0;
            for (int p = 0; p < kc; p++)
            {
                var ba = new Vector<float>(*(float*)pa);
                var bb = new Vector<float>(*(float*)pb);
                for (int j = 0; j < nv; j++)
                {
                    var v = Unsafe.ReadUnaligned<Vector<float>>(vp + j * w);
                    acc[j] += ba * v;
                    acc[nv + j] += bb * v;
                }
                pa += ks; pb += ks; vp += NR;
            }
            for (int j = 0; j < nv; j++)
            {
                Unsafe.WriteUnaligned(tile + r * NR + j * w, acc[j]);
                Unsafe.WriteUnaligned(tile + (r + 1) * NR + j * w, acc[nv + j]);
            }
        }
    }
}

/// <summary>64-byte aligned native scratch memory (freed on dispose).</summary>
internal unsafe struct AlignedBuffer : IDisposable
{
    public float* Pointer;
    public nint Length;

    public AlignedBuffer(nint floats)
    {
        Length = floats;
        Pointer = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, floats) * sizeof(float), 64);
    }

    public void Clear() => NativeMemory.Clear(Pointer, (nuint)Length * sizeof(float));

    public void Dispose()
    {
        if (Pointer != null) NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}

internal static class Threads
{
    public static int Resolve(int maxThreads) => maxThreads <= 0 ? Environment.ProcessorCount : maxThreads;
}

/// <summary>
/// Per-thread cache of 64-byte aligned scratch buffers, so repeated calls (one kNN search per image, many Gemm calls)
/// do not pay fresh-page faults for their packing buffers. Re-entrant use of a slot on one thread falls back to a
/// temporary allocation; very large requests are never cached.
/// </summary>
internal static unsafe class Scratch
{
    public const int GemmPackedB = 0, GemmPackedA = 1, KnnQueries = 2, RowTail = 3, Slots = 4;
    private const long MaxCachedFloats = 16L << 20; // 64 MiB per slot per thread

    [ThreadStatic] private static Entry[]? t_entries;

    private struct Entry
    {
        public float* Pointer;
        public nint Length;
        public bool InUse;
    }

    public static Lease Rent(int slot, nint floats)
    {
        floats = Math.Max(1, floats);
        if (floats > MaxCachedFloats) return new Lease(new AlignedBuffer(floats), -1);
        var entries = t_entries ??= new Entry[Slots];
        ref var e = ref entries[slot];
        if (e.InUse) return new Lease(new AlignedBuffer(floats), -1);
        if (e.Length < floats)
        {
            if (e.Pointer != null) NativeMemory.AlignedFree(e.Pointer);
            e.Pointer = null;
            e.Length = 0;
            var fresh = new AlignedBuffer(floats);
            e.Pointer = fresh.Pointer;
            e.Length = floats;
        }
        e.InUse = true;
        return new Lease(new AlignedBuffer { Pointer = e.Pointer, Length = floats }, slot);
    }

    internal static void Release(int slot)
    {
        var entries = t_entries;
        if (entries is not null) entries[slot].InUse = false;
    }

    public struct Lease : IDisposable
    {
        private AlignedBuffer _buffer;
        private readonly int _slot;

        internal Lease(AlignedBuffer buffer, int slot) { _buffer = buffer; _slot = slot; }

        public readonly float* Pointer => _buffer.Pointer;

        public readonly void Clear() => _buffer.Clear();

        public void Dispose()
        {
            if (_slot < 0) _buffer.Dispose();
            else Release(_slot);
            _buffer = default;
        }
    }
}
