using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Compute;

/// <remarks>
/// Exact greedy farthest-point selection (same picks as the naive "update every min distance after every pick"
/// loop) with batched updates so the work is compute-bound instead of memory-bound:
/// <list type="bullet">
/// <item>New centres are collected in a batch R of up to 128. A "flush" updates every point's min squared distance
/// against all of R in one parallel SIMD pass (points 12 at a time against 32 centres per register tile), so each
/// point is streamed from memory once per 128 picks instead of once per pick.</item>
/// <item>Between flushes a point's stored min distance is an upper bound. The next pick is found exactly from a heap
/// of the largest stored values: pop the top, bring it up to date against R; if it did not shrink it is the true
/// farthest point (every other stored value is an upper bound no larger), otherwise push it back and continue.
/// The heap holds the points with stored value &gt;= theta; a pick below theta triggers a flush.</item>
/// </list>
/// Squared distances are always sum_p fma(x_p - c_p, x_p - c_p, s) in order p = 0..dim-1, identical in every code path,
/// so the picks do not depend on when a distance was evaluated. Ties go to the lowest index.
/// </remarks>
public static class KCenterGreedy
{
    private const ulong StartStream = 0x4B43454E_54455253UL; // "KCENTERS"
    internal const int BatchCenters = 128;
    internal const int HeapSize = 1024;

    /// Approximate greedy k-centre coreset (PatchCore paper): project data [count, dim] to projectionDim with a seeded
    /// Gaussian random projection (skip when projectionDim &lt;= 0 or &gt;= dim), start from a seeded random index, then
    /// repeatedly pick the point with the largest min-distance to the selected set. Returns selectCount distinct
    /// indices in pick order. Deterministic for a seed. Cancellation is observed once per batch of centres.
    public static int[] Select(float[] data, int count, int dim, int selectCount, int projectionDim = 128, int seed = 0, CancellationToken cancellation = default)
        => Select(data, count, dim, selectCount, projectionDim, seed, count > 0 ? StartIndex(count, seed) : 0, cancellation: cancellation);

    /// <summary>The seeded start index used by the public overload.</summary>
    internal static int StartIndex(int count, int seed) => SplitMix64.ForSeed(seed, StartStream).NextInt(count);

    /// <summary>Same as the public overload with an explicit first pick.</summary>
    internal static int[] Select(float[] data, int count, int dim, int selectCount, int projectionDim, int seed, int startIndex, int maxThreads = 0,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegative(selectCount);
        if (selectCount > count) throw new ArgumentOutOfRangeException(nameof(selectCount), $"Cannot select {selectCount} of {count} points.");
        if (data.Length < (long)count * dim) throw new ArgumentException($"Data needs {(long)count * dim} floats, has {data.Length}.", nameof(data));
        if (selectCount == 0) return Array.Empty<int>();
        if ((uint)startIndex >= (uint)count) throw new ArgumentOutOfRangeException(nameof(startIndex));

        float[] x = data;
        int d = dim;
        if (projectionDim > 0 && projectionDim < dim)
        {
            var matrix = RandomProjection.CreateMatrix(dim, projectionDim, seed);
            x = RandomProjection.Project(data, count, dim, matrix, projectionDim);
            d = projectionDim;
        }
        using var greedy = new Greedy(x, count, d, Threads.Resolve(maxThreads));
        return greedy.Run(selectCount, startIndex, cancellation);
    }

    private sealed unsafe class Greedy : IDisposable
    {
        private const int Lanes = MicroKernel.NR;          // 32 centres per register tile
        private const int PanelStride = BatchCenters;       // floats per k step in the batch panel [d][BatchCenters]
        private readonly float[] _x;
        private readonly int _n, _d, _threads;
        private readonly float[] _minD;
        private AlignedBuffer _panel;                       // [d][64] batch centres, +inf in unused lanes
        private int _batch;
        private float _theta;
        private readonly PriorityQueue<int, (float V, int I)> _heap = new(HeapSize * 2, HeapOrder.Instance);
        private float[]? _scratch;

        public Greedy(float[] x, int n, int d, int threads)
        {
            _x = x; _n = n; _d = d;
            _threads = (long)n * d < 1 << 16 ? 1 : threads;
            _minD = new float[n];
            _minD.AsSpan().Fill(float.PositiveInfinity);
            _panel = new AlignedBuffer((nint)d * PanelStride);
            ClearPanel();
        }

        public void Dispose() => _panel.Dispose();

        private void ClearPanel()
        {
            new Span<float>(_panel.Pointer, _d * PanelStride).Fill(float.PositiveInfinity);
            _batch = 0;
        }

        public int[] Run(int selectCount, int start, CancellationToken cancellation)
        {
            var picks = new int[selectCount];
            fixed (float* px = _x)
            {
                AddCenter(px, start);
                picks[0] = start;
                for (int t = 1; t < selectCount; t++)
                {
                    if (_batch == BatchCenters)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        Flush(px);
                    }
                    int c;
                    while (!TrySelect(px, out c))
                    {
                        bool hadWork = _batch > 0 || _heap.Count > 0;
                        Flush(px);
                        if (!hadWork && _heap.Count == 0) throw new InvalidOperationException("No unselected points left.");
                    }
                    AddCenter(px, c);
                    picks[t] = c;
                }
            }
            return picks;
        }

        private void AddCenter(float* px, int c)
        {
            float* row = px + (nint)c * _d;
            float* dst = _panel.Pointer + _batch;
            for (int p = 0; p < _d; p++) dst[(nint)p * PanelStride] = row[p];
            _batch++;
            _minD[c] = -1f; // selected: never a candidate again, and min() keeps it there
        }

        /// <summary>Finds the exact farthest point from the heap, or returns false when a flush is needed.</summary>
        private bool TrySelect(float* px, out int chosen)
        {
            chosen = -1;
            while (_heap.TryPeek(out int i, out var key))
            {
                _heap.Dequeue();
                float v = _minD[i];
                if (v < 0f) continue; // selected since it was queued (cannot happen, kept for safety)
                float tv = _batch > 0 ? MathF.Min(v, DistanceToBatch(px + (nint)i * _d)) : v;
                if (tv < v)
                {
                    _minD[i] = tv;
                    _heap.Enqueue(i, (tv, i));
                    continue;
                }
                if (v >= _theta) { chosen = i; return true; }
                _heap.Enqueue(i, (v, i));
                return false;
            }
            return false;
        }

        /// <summary>Min over the batch lanes of sum_p fma(x_p - c_p, ...), in the same order as the flush kernel.</summary>
        private float DistanceToBatch(float* row)
        {
            int vectors = (_batch + 15) / 16;
            float* panel = _panel.Pointer;
            if (Vector512.IsHardwareAccelerated)
            {
                var m = Vector512.Create(float.PositiveInfinity);
                for (int v0 = 0; v0 < vectors; v0 += 2)
                {
                    // Two lane groups at a time; each lane is its own sequential fma chain over p.
                    Vector512<float> a0 = default, a1 = default;
                    float* v = panel + v0 * 16;
                    bool two = v0 + 1 < vectors;
                    for (int p = 0; p < _d; p++)
                    {
                        var b = Vector512.Create(row[p]);
                        var t = b - Vector512.Load(v); a0 = Vector512.FusedMultiplyAdd(t, t, a0);
                        if (two) { t = b - Vector512.Load(v + 16); a1 = Vector512.FusedMultiplyAdd(t, t, a1); }
                        v += PanelStride;
                    }
                    m = Vector512.Min(m, a0);
                    if (two) m = Vector512.Min(m, a1);
                }
                return HorizontalMin(m);
            }
            float best = float.PositiveInfinity;
            for (int l = 0; l < _batch; l++)
            {
                float s = 0f;
                for (int p = 0; p < _d; p++)
                {
                    float t = row[p] - panel[(nint)p * PanelStride + l];
                    s = MathF.FusedMultiplyAdd(t, t, s);
                }
                best = MathF.Min(best, s);
            }
            return best;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float HorizontalMin(Vector512<float> m)
        {
            var h = Vector256.Min(m.GetLower(), m.GetUpper());
            var q = Vector128.Min(h.GetLower(), h.GetUpper());
            q = Vector128.Min(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
            q = Vector128.Min(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2)));
            return q.ToScalar();
        }

        /// <summary>Updates every min distance against the batch, clears it, and rebuilds the candidate heap.</summary>
        private void Flush(float* px)
        {
            if (_batch > 0)
            {
                int panels = (_batch + Lanes - 1) / Lanes;
                int n = _n, d = _d;
                nint xAddr = (nint)px, panelAddr = (nint)_panel.Pointer;
                var minD = _minD;
                int tiles = (n + MicroKernel.MR - 1) / MicroKernel.MR;
                int chunks = _threads == 1 ? 1 : Math.Min(tiles, _threads * 8);
                if (chunks == 1) UpdateRange(px, d, 0, n, _panel.Pointer, panels, minD);
                else
                {
                    Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = _threads }, ch =>
                    {
                        int r0 = (int)Math.Min(n, (long)tiles * ch / chunks * MicroKernel.MR);
                        int r1 = (int)Math.Min(n, (long)tiles * (ch + 1) / chunks * MicroKernel.MR);
                        UpdateRange((float*)xAddr, d, r0, r1, (float*)panelAddr, panels, minD);
                    });
                }
                ClearPanel();
            }
            RebuildHeap();
        }

        private void RebuildHeap()
        {
            _heap.Clear();
            _scratch ??= new float[_n];
            int u = 0;
            foreach (float v in _minD) if (v >= 0f) _scratch[u++] = v;
            if (u == 0) { _theta = float.PositiveInfinity; return; }
            int keep = Math.Min(HeapSize, u);
            _theta = QuickSelect(_scratch.AsSpan(0, u), u - keep); // keep-th largest
            for (int i = 0; i < _n; i++)
            {
                float v = _minD[i];
                if (v >= _theta && v >= 0f) _heap.Enqueue(i, (v, i));
            }
        }

        /// <summary>Returns the element that would be at position <paramref name="k"/> if <paramref name="a"/> were sorted ascending (reorders a).</summary>
        internal static float QuickSelect(Span<float> a, int k)
        {
            int lo = 0, hi = a.Length - 1;
            while (hi > lo)
            {
                int mid = lo + (hi - lo) / 2;
                // Median of three as pivot.
                float x = a[lo], y = a[mid], z = a[hi];
                float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
                int i = lo, j = hi;
                while (i <= j)
                {
                    while (a[i] < pivot) i++;
                    while (a[j] > pivot) j--;
                    if (i <= j) { (a[i], a[j]) = (a[j], a[i]); i++; j--; }
                }
                if (k <= j) hi = j;
                else if (k >= i) lo = i;
                else return a[k];
            }
            return a[k];
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void UpdateRange(float* x, int d, int r0, int r1, float* panel, int panels, float[] minD)
        {
            const int mr = MicroKernel.MR;
            if (r1 <= r0) return;
            float* tile = stackalloc float[MicroKernel.TileFloats + 16];
            tile = (float*)(((nint)tile + 63) & ~(nint)63);
            using var tail = Scratch.Rent(Scratch.RowTail, (nint)mr * d);
            nint rs = (nint)d * sizeof(float);
            for (int row = r0; row < r1; row += mr)
            {
                int rows = Math.Min(mr, r1 - row);
                float* src = x + (nint)row * d;
                if (rows < mr)
                {
                    tail.Clear();
                    Buffer.MemoryCopy(src, tail.Pointer, (long)mr * d * sizeof(float), (long)rows * d * sizeof(float));
                    src = tail.Pointer;
                }
                // The rows are read 4 bytes per k step from 12 rows at once, a pattern the hardware prefetchers
                // follow poorly: fetch the next block of rows while this one is computed.
                if (Sse.IsSupported && row + mr < r1)
                {
                    byte* next = (byte*)(x + (nint)(row + mr) * d);
                    nint bytes = (nint)Math.Min(mr, r1 - row - mr) * rs;
                    for (nint off = 0; off < bytes; off += 64) Sse.Prefetch0(next + off);
                }
                for (int q = 0; q < panels; q++)
                {
                    DistanceKernel(src, rs, panel + q * Lanes, PanelStride, d, tile);
                    for (int r = 0; r < rows; r++)
                    {
                        float m = RowMin(tile + r * Lanes);
                        ref float slot = ref minD[row + r];
                        if (m < slot) slot = m;
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float RowMin(float* t)
        {
            if (Vector512.IsHardwareAccelerated) return HorizontalMin(Vector512.Min(Vector512.Load(t), Vector512.Load(t + 16)));
            float m = t[0];
            for (int l = 1; l < Lanes; l++) m = MathF.Min(m, t[l]);
            return m;
        }

        /// <summary>tile[r, l] = sum_p fma(x_r[p] - c_l[p], same, s) for 12 rows x 32 centres (panel row stride vStride floats).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
        private static void DistanceKernel(float* x, nint rs, float* vp, int vStride, int d, float* tile)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
                Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
                Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
                Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
                Vector512<float> c80 = default, c81 = default, c90 = default, c91 = default;
                Vector512<float> ca0 = default, ca1 = default, cb0 = default, cb1 = default;
                byte* p0 = (byte*)x, p4 = p0 + 4 * rs, p8 = p0 + 8 * rs;
                nint rs2 = 2 * rs, rs3 = 3 * rs;
                for (int p = 0; p < d; p++)
                {
                    var v0 = Vector512.Load(vp);
                    var v1 = Vector512.Load(vp + 16);
                    Vector512<float> b, t;
                    b = Vector512.Create(*(float*)p0);
                    t = b - v0; c00 = Vector512.FusedMultiplyAdd(t, t, c00); t = b - v1; c01 = Vector512.FusedMultiplyAdd(t, t, c01);
                    b = Vector512.Create(*(float*)(p0 + rs));
                    t = b - v0; c10 = Vector512.FusedMultiplyAdd(t, t, c10); t = b - v1; c11 = Vector512.FusedMultiplyAdd(t, t, c11);
                    b = Vector512.Create(*(float*)(p0 + rs2));
                    t = b - v0; c20 = Vector512.FusedMultiplyAdd(t, t, c20); t = b - v1; c21 = Vector512.FusedMultiplyAdd(t, t, c21);
                    b = Vector512.Create(*(float*)(p0 + rs3));
                    t = b - v0; c30 = Vector512.FusedMultiplyAdd(t, t, c30); t = b - v1; c31 = Vector512.FusedMultiplyAdd(t, t, c31);
                    b = Vector512.Create(*(float*)p4);
                    t = b - v0; c40 = Vector512.FusedMultiplyAdd(t, t, c40); t = b - v1; c41 = Vector512.FusedMultiplyAdd(t, t, c41);
                    b = Vector512.Create(*(float*)(p4 + rs));
                    t = b - v0; c50 = Vector512.FusedMultiplyAdd(t, t, c50); t = b - v1; c51 = Vector512.FusedMultiplyAdd(t, t, c51);
                    b = Vector512.Create(*(float*)(p4 + rs2));
                    t = b - v0; c60 = Vector512.FusedMultiplyAdd(t, t, c60); t = b - v1; c61 = Vector512.FusedMultiplyAdd(t, t, c61);
                    b = Vector512.Create(*(float*)(p4 + rs3));
                    t = b - v0; c70 = Vector512.FusedMultiplyAdd(t, t, c70); t = b - v1; c71 = Vector512.FusedMultiplyAdd(t, t, c71);
                    b = Vector512.Create(*(float*)p8);
                    t = b - v0; c80 = Vector512.FusedMultiplyAdd(t, t, c80); t = b - v1; c81 = Vector512.FusedMultiplyAdd(t, t, c81);
                    b = Vector512.Create(*(float*)(p8 + rs));
                    t = b - v0; c90 = Vector512.FusedMultiplyAdd(t, t, c90); t = b - v1; c91 = Vector512.FusedMultiplyAdd(t, t, c91);
                    b = Vector512.Create(*(float*)(p8 + rs2));
                    t = b - v0; ca0 = Vector512.FusedMultiplyAdd(t, t, ca0); t = b - v1; ca1 = Vector512.FusedMultiplyAdd(t, t, ca1);
                    b = Vector512.Create(*(float*)(p8 + rs3));
                    t = b - v0; cb0 = Vector512.FusedMultiplyAdd(t, t, cb0); t = b - v1; cb1 = Vector512.FusedMultiplyAdd(t, t, cb1);
                    p0 += sizeof(float); p4 += sizeof(float); p8 += sizeof(float); vp += vStride;
                }
                c00.Store(tile + 0); c01.Store(tile + 16); c10.Store(tile + 32); c11.Store(tile + 48);
                c20.Store(tile + 64); c21.Store(tile + 80); c30.Store(tile + 96); c31.Store(tile + 112);
                c40.Store(tile + 128); c41.Store(tile + 144); c50.Store(tile + 160); c51.Store(tile + 176);
                c60.Store(tile + 192); c61.Store(tile + 208); c70.Store(tile + 224); c71.Store(tile + 240);
                c80.Store(tile + 256); c81.Store(tile + 272); c90.Store(tile + 288); c91.Store(tile + 304);
                ca0.Store(tile + 320); ca1.Store(tile + 336); cb0.Store(tile + 352); cb1.Store(tile + 368);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                for (int r = 0; r < MicroKernel.MR; r++)
                {
                    float* row = (float*)((byte*)x + r * rs);
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    float* v = vp;
                    for (int p = 0; p < d; p++)
                    {
                        var b = Vector256.Create(row[p]);
                        var t = b - Vector256.Load(v); a0 = Vector256.FusedMultiplyAdd(t, t, a0);
                        t = b - Vector256.Load(v + 8); a1 = Vector256.FusedMultiplyAdd(t, t, a1);
                        t = b - Vector256.Load(v + 16); a2 = Vector256.FusedMultiplyAdd(t, t, a2);
                        t = b - Vector256.Load(v + 24); a3 = Vector256.FusedMultiplyAdd(t, t, a3);
                        v += vStride;
                    }
                    float* o = tile + r * Lanes;
                    a0.Store(o); a1.Store(o + 8); a2.Store(o + 16); a3.Store(o + 24);
                }
                return;
            }
            for (int r = 0; r < MicroKernel.MR; r++)
            {
                float* row = (float*)((byte*)x + r * rs);
                for (int l = 0; l < Lanes; l++)
                {
                    float s = 0f;
                    for (int p = 0; p < d; p++)
                    {
                        float t = row[p] - vp[(nint)p * vStride + l];
                        s = MathF.FusedMultiplyAdd(t, t, s);
                    }
                    tile[r * Lanes + l] = s;
                }
            }
        }

        private sealed class HeapOrder : IComparer<(float V, int I)>
        {
            public static readonly HeapOrder Instance = new();
            // PriorityQueue dequeues the smallest: "smaller" = larger distance, then lower index.
            public int Compare((float V, int I) a, (float V, int I) b)
                => a.V != b.V ? b.V.CompareTo(a.V) : a.I.CompareTo(b.I);
        }
    }
}
