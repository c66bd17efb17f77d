using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Compute;

/// Exact k-nearest-neighbour search (Euclidean) over a bank of row-major vectors [count, dim].
/// <remarks>
/// Ranking uses ||b||^2 - 2 q.b (the query norm is constant per query). Queries are packed into 32-wide panels
/// [dim][32] (the vector operand of the shared 12x32 micro-kernel); bank rows are read in place, 12 at a time, as the
/// broadcast operand, so the bank is never copied. The bank is walked in L2-sized chunks; each 12x32 tile of dot
/// products is folded straight into per-query top-k lists (a SIMD compare against each query's current k-th best,
/// scalar insertion only on a hit), so no [queries x bank] matrix is ever materialised. The k reported distances are
/// recomputed exactly as sqrt(sum (q - b)^2) and the k neighbours re-sorted by them.
/// </remarks>
public sealed class NearestNeighbourIndex
{
    private const int ChunkBytes = 256 * 1024;
    private readonly float[] _norms;

    public NearestNeighbourIndex(float[] bank, int count, int dim)
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (bank.Length < (long)count * dim) throw new ArgumentException($"Bank needs {(long)count * dim} floats, has {bank.Length}.", nameof(bank));
        Bank = bank;
        Count = count;
        Dim = dim;
        _norms = new float[count];
        var norms = _norms;
        if ((long)count * dim > 1 << 20)
        {
            int parts = Environment.ProcessorCount * 4;
            Parallel.For(0, parts, part =>
            {
                int r0 = (int)((long)count * part / parts), r1 = (int)((long)count * (part + 1) / parts);
                for (int r = r0; r < r1; r++) norms[r] = TensorPrimitives.SumOfSquares(bank.AsSpan(r * dim, dim));
            });
        }
        else
        {
            for (int r = 0; r < count; r++) norms[r] = TensorPrimitives.SumOfSquares(bank.AsSpan(r * dim, dim));
        }
    }

    public int Count { get; }
    public int Dim { get; }
    public float[] Bank { get; }

    /// <summary>Squared norms of the bank rows (the ranking term), shared with the GPU back end.</summary>
    internal float[] Norms => _norms;

    /// queries: [queryCount, dim] row-major. distances/indices: [queryCount, k], ascending by distance, Euclidean distance (sqrt of max(0, squared)).
    /// Thread-safe (read-only state); parallelises over query blocks internally with Parallel.For, maxThreads &lt;= 0 means Environment.ProcessorCount.
    /// When k exceeds Count the extra slots get index -1 and distance +infinity.
    public unsafe void Search(ReadOnlySpan<float> queries, int queryCount, int k, Span<float> distances, Span<int> indices, int maxThreads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queryCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        int dim = Dim;
        if (queries.Length < (long)queryCount * dim) throw new ArgumentException($"Queries need {(long)queryCount * dim} floats, have {queries.Length}.", nameof(queries));
        if (distances.Length < (long)queryCount * k) throw new ArgumentException($"Distances need {(long)queryCount * k} slots.", nameof(distances));
        if (indices.Length < (long)queryCount * k) throw new ArgumentException($"Indices need {(long)queryCount * k} slots.", nameof(indices));
        if (queryCount == 0) return;
        int kEff = Math.Min(k, Count);
        if (kEff == 0)
        {
            distances[..(queryCount * k)].Fill(float.PositiveInfinity);
            indices[..(queryCount * k)].Fill(-1);
            return;
        }

        const int nr = MicroKernel.NR, mr = MicroKernel.MR;
        int threads = Threads.Resolve(maxThreads);
        int panels = (queryCount + nr - 1) / nr;
        if ((double)queryCount * Count * dim < 2e6) threads = 1;

        // Work split: contiguous query blocks when they balance well, otherwise split the bank and merge.
        int qBlocks, splits;
        if (threads == 1) { qBlocks = 1; splits = 1; }
        else if (panels % threads == 0 || panels >= 16 * threads) { qBlocks = Math.Min(threads, panels); splits = 1; }
        else { qBlocks = 1; splits = Math.Max(1, Math.Min(threads, Count / (4 * mr))); }

        using var packedQ = Scratch.Rent(Scratch.KnnQueries, (nint)panels * dim * nr);
        var vals = new float[splits * queryCount * kEff];
        var idxs = new int[splits * queryCount * kEff];
        var thr = new float[splits * panels * nr];
        for (int s = 0; s < splits; s++)
        {
            var t = thr.AsSpan(s * panels * nr, panels * nr);
            t[..queryCount].Fill(float.PositiveInfinity);
            t[queryCount..].Fill(float.NegativeInfinity); // padding lanes never accept a neighbour
        }
        vals.AsSpan().Fill(float.PositiveInfinity);
        idxs.AsSpan().Fill(-1);

        fixed (float* pq = queries)
        fixed (float* pbank = Bank)
        fixed (float* pnorm = _norms)
        {
            nint packAddr = (nint)packedQ.Pointer, bankAddr = (nint)pbank, normAddr = (nint)pnorm;
            for (int p = 0; p < panels; p++)
                Gemm.TransposeRowsToPanel(pq, dim, p * nr, Math.Min(nr, queryCount - p * nr), packedQ.Pointer + (nint)p * dim * nr, dim);

            var path = MicroKernel.ActivePath;
            int items = qBlocks * splits;
            int count = Count;
            // Split boundaries on multiples of 12 rows.
            int tilesTotal = (count + mr - 1) / mr;

            void Item(int item)
            {
                int qb = item / splits, s = item % splits;
                int p0 = (int)((long)panels * qb / qBlocks), p1 = (int)((long)panels * (qb + 1) / qBlocks);
                int b0 = (int)Math.Min(count, (long)tilesTotal * s / splits * mr);
                int b1 = (int)Math.Min(count, (long)tilesTotal * (s + 1) / splits * mr);
                fixed (float* pv = vals)
                fixed (int* pi = idxs)
                fixed (float* pt = thr)
                {
                    var state = new TopKState
                    {
                        Values = pv + (nint)s * queryCount * kEff,
                        Indices = pi + (nint)s * queryCount * kEff,
                        Thresholds = pt + (nint)s * panels * nr,
                        K = kEff,
                    };
                    ScanRange(path, (float*)bankAddr, (float*)normAddr, dim, b0, b1, (float*)packAddr, p0, p1, state);
                }
            }

            if (items > 1) Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = threads }, Item);
            else Item(0);

            // Merge splits, recompute exact distances, write out.
            var outD = distances;
            var outI = indices;
            Span<float> candV = kEff <= 64 ? stackalloc float[kEff] : new float[kEff];
            Span<int> candI = kEff <= 64 ? stackalloc int[kEff] : new int[kEff];
            Span<int> cursor = splits <= 64 ? stackalloc int[splits] : new int[splits];
            for (int q = 0; q < queryCount; q++)
            {
                // k-way merge of the split lists by (value, index).
                cursor.Clear();
                for (int t = 0; t < kEff; t++)
                {
                    int bestS = -1; float bestV = 0; int bestI = 0;
                    for (int s = 0; s < splits; s++)
                    {
                        int c = cursor[s];
                        if (c >= kEff) continue;
                        int o = (s * queryCount + q) * kEff + c;
                        int ix = idxs[o];
                        if (ix < 0) continue;
                        float v = vals[o];
                        if (bestS < 0 || v < bestV || (v == bestV && ix < bestI)) { bestS = s; bestV = v; bestI = ix; }
                    }
                    if (bestS < 0) { candI[t] = -1; continue; }
                    cursor[bestS]++;
                    candI[t] = bestI;
                }
                CompleteQuery(pq + (nint)q * dim, pbank, dim, candI, candV, k, outD.Slice(q * k, k), outI.Slice(q * k, k));
            }
        }
    }

    private unsafe struct TopKState
    {
        public float* Values;     // [queryCount, K] ascending partial distances ||b||^2 - 2 q.b
        public int* Indices;      // [queryCount, K]
        public float* Thresholds; // [panels * 32]: current K-th best per query (-inf for padding lanes)
        public int K;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ScanRange(KernelPath path, float* bank, float* norms, int dim, int b0, int b1,
        float* packedQ, int p0, int p1, TopKState state)
    {
        const int nr = MicroKernel.NR, mr = MicroKernel.MR;
        if (b1 <= b0 || p1 <= p0) return;
        int chunkRows = Math.Max(mr, ChunkBytes / (dim * sizeof(float)) / mr * mr);
        float* tile = stackalloc float[MicroKernel.TileFloats + 16];
        tile = (float*)(((nint)tile + 63) & ~(nint)63);
        using var tail = Scratch.Rent(Scratch.RowTail, (nint)mr * dim);
        nint rowStride = (nint)dim * sizeof(float);

        for (int c0 = b0; c0 < b1; c0 += chunkRows)
        {
            int c1 = Math.Min(b1, c0 + chunkRows);
            for (int p = p0; p < p1; p++)
            {
                float* vp = packedQ + (nint)p * dim * nr;
                for (int r0 = c0; r0 < c1; r0 += mr)
                {
                    int rows = Math.Min(mr, c1 - r0);
                    float* src = bank + (nint)r0 * dim;
                    if (rows < mr)
                    {
                        // Short tail: copy the rows (the kernel always reads 12).
                        tail.Clear();
                        Buffer.MemoryCopy(src, tail.Pointer, (long)mr * dim * sizeof(float), (long)rows * dim * sizeof(float));
                        src = tail.Pointer;
                    }
                    if (p == p0 && Sse.IsSupported && r0 + mr < c1)
                    {
                        // First pass over this chunk reads it from memory 12 rows x 4 bytes at a time, which the
                        // hardware prefetchers follow poorly: fetch the next tile's rows ahead.
                        byte* next = (byte*)(bank + (nint)(r0 + mr) * dim);
                        nint bytes = (nint)Math.Min(mr, c1 - r0 - mr) * rowStride;
                        for (nint off = 0; off < bytes; off += 64) Sse.Prefetch0(next + off);
                    }
                    MicroKernel.Run(path, (byte*)src, rowStride, sizeof(float), vp, dim, tile);
                    Fold(tile, norms + r0, r0, rows, p, state);
                }
            }
        }
    }

    /// <summary>Folds a 12x32 tile of dot products (rows = bank r0.., lanes = queries of panel p) into the top-k lists.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Fold(float* tile, float* norms, int r0, int rows, int panel, TopKState state)
    {
        const int nr = MicroKernel.NR;
        float* thr = state.Thresholds + panel * nr;
        if (Vector512.IsHardwareAccelerated)
        {
            var t0 = Vector512.Load(thr);
            var t1 = Vector512.Load(thr + 16);
            var minus2 = Vector512.Create(-2f);
            for (int r = 0; r < rows; r++)
            {
                var nb = Vector512.Create(norms[r]);
                var d0 = Vector512.FusedMultiplyAdd(Vector512.Load(tile + r * nr), minus2, nb);
                var d1 = Vector512.FusedMultiplyAdd(Vector512.Load(tile + r * nr + 16), minus2, nb);
                ulong hit = Vector512.LessThan(d0, t0).ExtractMostSignificantBits()
                          | (Vector512.LessThan(d1, t1).ExtractMostSignificantBits() << 16);
                if (hit == 0) continue;
                InsertHits(tile + r * nr, norms[r], r0 + r, (uint)hit, panel, state);
                t0 = Vector512.Load(thr);
                t1 = Vector512.Load(thr + 16);
            }
        }
        else
        {
            for (int r = 0; r < rows; r++)
            {
                float nb = norms[r];
                uint hit = 0;
                for (int l = 0; l < nr; l++)
                    if (MathF.FusedMultiplyAdd(tile[r * nr + l], -2f, nb) < thr[l]) hit |= 1u << l;
                if (hit != 0) InsertHits(tile + r * nr, nb, r0 + r, hit, panel, state);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe void InsertHits(float* tileRow, float norm, int bankIndex, uint hit, int panel, TopKState state)
    {
        const int nr = MicroKernel.NR;
        int k = state.K;
        while (hit != 0)
        {
            int lane = BitOperations.TrailingZeroCount(hit);
            hit &= hit - 1;
            int q = panel * nr + lane;
            float d = MathF.FusedMultiplyAdd(tileRow[lane], -2f, norm);
            float* v = state.Values + (nint)q * k;
            int* ix = state.Indices + (nint)q * k;
            // Insert after every entry <= d (earlier bank rows win ties).
            int pos = k - 1;
            while (pos > 0 && v[pos - 1] > d)
            {
                v[pos] = v[pos - 1];
                ix[pos] = ix[pos - 1];
                pos--;
            }
            v[pos] = d;
            ix[pos] = bankIndex;
            state.Thresholds[q] = v[k - 1];
        }
    }

    /// <summary>
    /// Finishes one query from its kEff = candidates.Length candidate rows (-1 = none): exact squared distances
    /// sqrt(sum (q - b)^2), re-sorted (ties by index), written as Euclidean distances; slots past kEff get -1 and
    /// +infinity. Shared by every search back end, so equal candidates give bit-identical results.
    /// </summary>
    internal static unsafe void CompleteQuery(float* query, float* bank, int dim, Span<int> candI, Span<float> candV, int k, Span<float> outD, Span<int> outI)
    {
        int kEff = candI.Length;
        for (int t = 0; t < kEff; t++)
            candV[t] = candI[t] < 0 ? float.PositiveInfinity : ExactSquaredDistance(query, bank + (nint)candI[t] * dim, dim);
        // Re-sort by the exact distance (stable on index for ties); k is small.
        for (int a = 1; a < kEff; a++)
        {
            float v = candV[a]; int ix = candI[a]; int b = a - 1;
            while (b >= 0 && (candV[b] > v || (candV[b] == v && (uint)candI[b] > (uint)ix))) { candV[b + 1] = candV[b]; candI[b + 1] = candI[b]; b--; }
            candV[b + 1] = v; candI[b + 1] = ix;
        }
        for (int t = 0; t < kEff; t++)
        {
            outD[t] = candI[t] < 0 ? float.PositiveInfinity : MathF.Sqrt(MathF.Max(0f, candV[t]));
            outI[t] = candI[t];
        }
        for (int t = kEff; t < k; t++) { outD[t] = float.PositiveInfinity; outI[t] = -1; }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float ExactSquaredDistance(float* a, float* b, int dim)
    {
        double s = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= dim - 8; i += 8)
            {
                var d = Vector256.Load(a + i) - Vector256.Load(b + i);
                acc += d * d;
            }
            s = Vector256.Sum(acc);
        }
        for (; i < dim; i++)
        {
            float d = a[i] - b[i];
            s += d * d;
        }
        return (float)s;
    }
}
