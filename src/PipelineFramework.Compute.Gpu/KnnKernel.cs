// The 8 x 8 register tile is spelled out (64 named accumulators, not an array) so the PTX keeps it in registers.
using ILGPU;
using ILGPU.Runtime;

namespace PipelineFramework.Compute.Gpu;

/// <summary>Shape of one kNN launch (public only because ILGPU's CPU accelerator emits a dynamic type that reads it).</summary>
public struct KnnArgs
{
    public int QueryCount;
    public int BankCount;
    public int Dim;
    public int K;
    public int RowsPerSplit;
    public int IndexOffset;
}

/// <summary>
/// The group's thread layout: <see cref="ThreadsX"/> x ThreadsY threads, each an 8 x 8 tile, so a group covers
/// 8 ThreadsY queries x 8 ThreadsX bank rows per step, over <see cref="Depth"/> dimensions per shared-memory panel.
/// </summary>
public readonly record struct KnnTiling(int ThreadsX, int ThreadsY, int Depth)
{
    /// <summary>The GPU layout: 16 x 16 threads, 128 x 128 tiles, panels of 8 dimensions.</summary>
    public static KnnTiling Gpu => new(16, 16, 8);
    /// <summary>
    /// ILGPU's CPU accelerator runs every simulated thread as an OS thread and pays for each barrier: 4 x 4 threads,
    /// 32 x 32 tiles and panels of 32 dimensions keep the same code affordable there.
    /// </summary>
    public static KnnTiling CpuAccelerator => new(4, 4, 32);
    public int GroupSize => ThreadsX * ThreadsY;
    public int QueriesPerGroup => ThreadsY * KnnKernel.TM;
    public int RowsPerStep => ThreadsX * KnnKernel.TN;
}

public static class KnnKernel
{
    public const int TM = 8, TN = 8, KMax = 16;
    /// <summary>Shared-memory panel size in floats (depth x tile side), the same for both tilings.</summary>
    public const int PanelFloats = 1024;

    /// <summary>
    /// Group (query tile x, bank split y): each thread computes an 8 x 8 register tile of q.b per step (shared-memory
    /// panels of depth dims), then folds ||b||^2 - 2 q.b into its own top-k list per query (a register compare against
    /// the list's k-th value; local-memory insertion on a hit). No [queries x bank] matrix exists anywhere; each thread
    /// writes its k candidates per query at the end (threadsX candidate lists per query and split). threadsX and depth
    /// are specialised: the compiler sees them as constants.
    /// </summary>
    public static void Run(ArrayView<float> queries, ArrayView<float> bank, ArrayView<float> norms, KnnArgs args,
        SpecializedValue<int> threadsXValue, SpecializedValue<int> depthValue, ArrayView<float> outValues, ArrayView<int> outIndices)
    {
        int threadsX = threadsXValue.Value, depth = depthValue.Value;
        var qs = SharedMemory.Allocate<float>(PanelFloats);
        var bs = SharedMemory.Allocate<float>(PanelFloats);
        var listV = LocalMemory.Allocate<float>(TM * KMax);
        var listI = LocalMemory.Allocate<int>(TM * KMax);
        int groupSize = Group.DimX;
        int tid = Group.IdxX;
        int tx = tid % threadsX, ty = tid / threadsX;
        int bm = groupSize / threadsX * TM, bn = threadsX * TN;
        int rowA = ty * TM;
        int q0 = Grid.IdxX * bm;
        int split = Grid.IdxY;
        int k = args.K, dim = args.Dim;
        int rowBegin = split * args.RowsPerSplit;
        int rowEnd = rowBegin + args.RowsPerSplit;
        if (rowEnd > args.BankCount) rowEnd = args.BankCount;
        for (int e = 0; e < TM * KMax; e++) { listV[e] = float.PositiveInfinity; listI[e] = -1; }
        float t0 = float.PositiveInfinity, t1 = float.PositiveInfinity, t2 = float.PositiveInfinity, t3 = float.PositiveInfinity, t4 = float.PositiveInfinity, t5 = float.PositiveInfinity, t6 = float.PositiveInfinity, t7 = float.PositiveInfinity;
        for (int n0 = rowBegin; n0 < rowEnd; n0 += bn)
        {
            float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c04 = 0f, c05 = 0f, c06 = 0f, c07 = 0f;
            float c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c14 = 0f, c15 = 0f, c16 = 0f, c17 = 0f;
            float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c24 = 0f, c25 = 0f, c26 = 0f, c27 = 0f;
            float c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c34 = 0f, c35 = 0f, c36 = 0f, c37 = 0f;
            float c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c44 = 0f, c45 = 0f, c46 = 0f, c47 = 0f;
            float c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c54 = 0f, c55 = 0f, c56 = 0f, c57 = 0f;
            float c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c64 = 0f, c65 = 0f, c66 = 0f, c67 = 0f;
            float c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f, c74 = 0f, c75 = 0f, c76 = 0f, c77 = 0f;
            for (int k0 = 0; k0 < dim; k0 += depth)
            {
                for (int e = tid; e < depth * bm; e += groupSize)
                {
                    int row = e / depth, kk = e - row * depth;
                    int p = k0 + kk, q = q0 + row;
                    qs[kk * bm + row] = q < args.QueryCount && p < dim ? queries[(long)q * dim + p] : 0f;
                }
                for (int e = tid; e < depth * bn; e += groupSize)
                {
                    int row = e / depth, kk = e - row * depth;
                    int p = k0 + kk, nr = n0 + row;
                    bs[kk * bn + row] = nr < rowEnd && p < dim ? bank[(long)nr * dim + p] : 0f;
                }
                Group.Barrier();
                for (int kk = 0; kk < depth; kk++)
                {
                    float a0 = qs[kk * bm + rowA + 0];
                    float a1 = qs[kk * bm + rowA + 1];
                    float a2 = qs[kk * bm + rowA + 2];
                    float a3 = qs[kk * bm + rowA + 3];
                    float a4 = qs[kk * bm + rowA + 4];
                    float a5 = qs[kk * bm + rowA + 5];
                    float a6 = qs[kk * bm + rowA + 6];
                    float a7 = qs[kk * bm + rowA + 7];
                    float b0 = bs[kk * bn + tx + 0 * threadsX];
                    float b1 = bs[kk * bn + tx + 1 * threadsX];
                    float b2 = bs[kk * bn + tx + 2 * threadsX];
                    float b3 = bs[kk * bn + tx + 3 * threadsX];
                    float b4 = bs[kk * bn + tx + 4 * threadsX];
                    float b5 = bs[kk * bn + tx + 5 * threadsX];
                    float b6 = bs[kk * bn + tx + 6 * threadsX];
                    float b7 = bs[kk * bn + tx + 7 * threadsX];
                    c00 = a0 * b0 + c00; c01 = a0 * b1 + c01; c02 = a0 * b2 + c02; c03 = a0 * b3 + c03; c04 = a0 * b4 + c04; c05 = a0 * b5 + c05; c06 = a0 * b6 + c06; c07 = a0 * b7 + c07;
                    c10 = a1 * b0 + c10; c11 = a1 * b1 + c11; c12 = a1 * b2 + c12; c13 = a1 * b3 + c13; c14 = a1 * b4 + c14; c15 = a1 * b5 + c15; c16 = a1 * b6 + c16; c17 = a1 * b7 + c17;
                    c20 = a2 * b0 + c20; c21 = a2 * b1 + c21; c22 = a2 * b2 + c22; c23 = a2 * b3 + c23; c24 = a2 * b4 + c24; c25 = a2 * b5 + c25; c26 = a2 * b6 + c26; c27 = a2 * b7 + c27;
                    c30 = a3 * b0 + c30; c31 = a3 * b1 + c31; c32 = a3 * b2 + c32; c33 = a3 * b3 + c33; c34 = a3 * b4 + c34; c35 = a3 * b5 + c35; c36 = a3 * b6 + c36; c37 = a3 * b7 + c37;
                    c40 = a4 * b0 + c40; c41 = a4 * b1 + c41; c42 = a4 * b2 + c42; c43 = a4 * b3 + c43; c44 = a4 * b4 + c44; c45 = a4 * b5 + c45; c46 = a4 * b6 + c46; c47 = a4 * b7 + c47;
                    c50 = a5 * b0 + c50; c51 = a5 * b1 + c51; c52 = a5 * b2 + c52; c53 = a5 * b3 + c53; c54 = a5 * b4 + c54; c55 = a5 * b5 + c55; c56 = a5 * b6 + c56; c57 = a5 * b7 + c57;
                    c60 = a6 * b0 + c60; c61 = a6 * b1 + c61; c62 = a6 * b2 + c62; c63 = a6 * b3 + c63; c64 = a6 * b4 + c64; c65 = a6 * b5 + c65; c66 = a6 * b6 + c66; c67 = a6 * b7 + c67;
                    c70 = a7 * b0 + c70; c71 = a7 * b1 + c71; c72 = a7 * b2 + c72; c73 = a7 * b3 + c73; c74 = a7 * b4 + c74; c75 = a7 * b5 + c75; c76 = a7 * b6 + c76; c77 = a7 * b7 + c77;
                }
                Group.Barrier();
            }
            int n;
            float v;
            n = n0 + tx + 0 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c00; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c10; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c20; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c30; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c40; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c50; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c60; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c70; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 1 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c01; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c11; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c21; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c31; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c41; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c51; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c61; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c71; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 2 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c02; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c12; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c22; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c32; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c42; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c52; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c62; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c72; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 3 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c03; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c13; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c23; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c33; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c43; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c53; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c63; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c73; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 4 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c04; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c14; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c24; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c34; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c44; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c54; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c64; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c74; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 5 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c05; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c15; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c25; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c35; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c45; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c55; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c65; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c75; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 6 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c06; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c16; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c26; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c36; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c46; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c56; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c66; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c76; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
            n = n0 + tx + 7 * threadsX;
            if (n < rowEnd)
            {
                float nb = norms[n];
                v = nb - 2f * c07; if (v < t0) t0 = Insert(listV, listI, 0 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c17; if (v < t1) t1 = Insert(listV, listI, 1 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c27; if (v < t2) t2 = Insert(listV, listI, 2 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c37; if (v < t3) t3 = Insert(listV, listI, 3 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c47; if (v < t4) t4 = Insert(listV, listI, 4 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c57; if (v < t5) t5 = Insert(listV, listI, 5 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c67; if (v < t6) t6 = Insert(listV, listI, 6 * KMax, k, v, n + args.IndexOffset);
                v = nb - 2f * c77; if (v < t7) t7 = Insert(listV, listI, 7 * KMax, k, v, n + args.IndexOffset);
            }
        }
        int slots = Grid.DimY * threadsX;
        int slot = split * threadsX + tx;
        for (int i = 0; i < TM; i++)
        {
            int q = q0 + rowA + i;
            if (q >= args.QueryCount) break;
            for (int t = 0; t < k; t++)
            {
                long o = ((long)q * slots + slot) * k + t;
                outValues[o] = listV[i * KMax + t];
                outIndices[o] = listI[i * KMax + t];
            }
        }
    }

    /// <summary>Inserts after every entry &lt;= d (earlier rows win ties); returns the list's new k-th value.</summary>
    static float Insert(ArrayView<float> values, ArrayView<int> indices, int start, int k, float d, int index)
    {
        int pos = k - 1;
        while (pos > 0 && values[start + pos - 1] > d)
        {
            values[start + pos] = values[start + pos - 1];
            indices[start + pos] = indices[start + pos - 1];
            pos--;
        }
        values[start + pos] = d;
        indices[start + pos] = index;
        return values[start + k - 1];
    }
}
