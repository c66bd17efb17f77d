using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace PipelineFramework.Compute.Gpu;

/// <summary>The device does not have the memory for this work even in the smallest chunks; the caller runs it on the CPU.</summary>
public sealed class GpuMemoryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Host side of the kernels: chunking to the memory budget, uploads, launches, and the merges the CPU does (exact
/// kNN distances are recomputed on the host by the CPU kernel's own code, so equal neighbours give equal numbers).
/// Out of device memory halves the chunks and tries again; below the smallest chunk it throws
/// <see cref="GpuMemoryException"/>.
/// </summary>
internal static class GpuOperations
{
    const int MinBankRows = 512;
    const int MinQueryRows = 128;

    static void Upload<T>(ArrayView1D<T, Stride1D.Dense> view, ReadOnlySpan<T> data) where T : unmanaged
    {
        if (data.Length > 0) view.SubView(0, data.Length).CopyFromCPU(ref MemoryMarshal.GetReference(data), data.Length);
    }

    static void Download<T>(ArrayView1D<T, Stride1D.Dense> view, Span<T> data) where T : unmanaged
    {
        if (data.Length > 0) view.SubView(0, data.Length).CopyToCPU(ref MemoryMarshal.GetReference(data), data.Length);
    }

    // ---------------------------------------------------------------- kNN

    /// <summary>Same contract as <see cref="NearestNeighbourIndex.Search"/> (k &lt;= <see cref="KnnKernel.KMax"/>).</summary>
    public static unsafe void Search(GpuRuntime runtime, NearestNeighbourIndex index, ReadOnlySpan<float> queries, int queryCount, int k,
        Span<float> distances, Span<int> indices)
    {
        if (k > KnnKernel.KMax) throw new ArgumentOutOfRangeException(nameof(k), $"The GPU kNN keeps at most {KnnKernel.KMax} neighbours.");
        int dim = index.Dim, n = index.Count, kEff = Math.Min(k, n);
        if (queryCount == 0) return;
        var listV = new float[(long)queryCount * kEff];
        var listI = new int[(long)queryCount * kEff];
        if (kEff > 0)
        {
            listV.AsSpan().Fill(float.PositiveInfinity);
            listI.AsSpan().Fill(-1);
            // Plan: the whole bank and all queries at once when they fit, else bank chunks x query chunks.
            int slotsGuess = 16 * runtime.KnnTiling.ThreadsX;
            long budget = runtime.MemoryBudgetBytes;
            long bankBytes = (long)n * (dim + 1) * sizeof(float);
            int bankRows = bankBytes <= budget / 2 ? n : (int)Math.Max(MinBankRows, budget / 2 / ((dim + 1) * sizeof(float)) / MinBankRows * MinBankRows);
            long perQuery = (long)dim * sizeof(float) + (long)slotsGuess * kEff * 8;
            int queryRows = (int)Math.Clamp((budget - (long)Math.Min(bankRows, n) * (dim + 1) * sizeof(float)) / perQuery, Math.Min(MinQueryRows, queryCount), queryCount);
            while (true)
            {
                try
                {
                    using (runtime.Enter())
                        SearchChunks(runtime, index, queries, queryCount, kEff, bankRows, queryRows, listV, listI);
                    break;
                }
                catch (Exception e) when (GpuRuntime.IsOutOfMemory(e))
                {
                    if (bankRows <= MinBankRows && queryRows <= MinQueryRows)
                        throw new GpuMemoryException($"kNN of {queryCount} queries against {n} x {dim} does not fit in device memory even in the smallest chunks", e);
                    bankRows = Math.Max(MinBankRows, bankRows / 2 / MinBankRows * MinBankRows);
                    queryRows = Math.Max(MinQueryRows, queryRows / 2);
                    listV.AsSpan().Fill(float.PositiveInfinity);
                    listI.AsSpan().Fill(-1);
                    runtime.ReleaseResidentBank();
                }
            }
        }
        fixed (float* pq = queries)
        fixed (float* pbank = index.Bank)
        {
            nint qAddr = (nint)pq, bAddr = (nint)pbank;
            var outD = distances.Length >= (long)queryCount * k ? distances : throw new ArgumentException("distances too short");
            var outI = indices.Length >= (long)queryCount * k ? indices : throw new ArgumentException("indices too short");
            var dArr = new float[(long)queryCount * k];
            var iArr = new int[(long)queryCount * k];
            Parallel.For(0, queryCount, () => (new int[kEff], new float[kEff]), (q, _, scratch) =>
            {
                var (candI, candV) = scratch;
                listI.AsSpan(q * kEff, kEff).CopyTo(candI);
                NearestNeighbourIndex.CompleteQuery((float*)qAddr + (nint)q * dim, (float*)bAddr, dim, candI, candV, k,
                    dArr.AsSpan(q * k, k), iArr.AsSpan(q * k, k));
                return scratch;
            }, _ => { });
            dArr.CopyTo(outD);
            iArr.CopyTo(outI);
        }
    }

    static void SearchChunks(GpuRuntime runtime, NearestNeighbourIndex index, ReadOnlySpan<float> queries, int queryCount, int kEff,
        int bankRows, int queryRows, float[] listV, int[] listI)
    {
        var accelerator = runtime.Accelerator;
        int dim = index.Dim, n = index.Count;
        var tiling = runtime.KnnTiling;
        int groupsWanted = Math.Max(1, accelerator.NumMultiprocessors) * 4;
        using var queryBuffer = accelerator.Allocate1D<float>((long)Math.Min(queryRows, queryCount) * dim);
        for (int b0 = 0; b0 < n; b0 += bankRows)
        {
            int rows = Math.Min(bankRows, n - b0);
            var (bank, norms, owned) = runtime.BankChunk(index, b0, rows);
            try
            {
                int bankTiles = (rows + tiling.RowsPerStep - 1) / tiling.RowsPerStep;
                for (int q0 = 0; q0 < queryCount; q0 += queryRows)
                {
                    int qc = Math.Min(queryRows, queryCount - q0);
                    int queryTiles = (qc + tiling.QueriesPerGroup - 1) / tiling.QueriesPerGroup;
                    int splits = Math.Clamp((groupsWanted + queryTiles - 1) / queryTiles, 1, bankTiles);
                    int rowsPerSplit = (bankTiles + splits - 1) / splits * tiling.RowsPerStep;
                    splits = (rows + rowsPerSplit - 1) / rowsPerSplit;
                    int slots = splits * tiling.ThreadsX;
                    Upload(queryBuffer.View, queries.Slice(q0 * dim, qc * dim));
                    using var outValues = accelerator.Allocate1D<float>((long)qc * slots * kEff);
                    using var outIndices = accelerator.Allocate1D<int>((long)qc * slots * kEff);
                    var args = new KnnArgs { QueryCount = qc, BankCount = rows, Dim = dim, K = kEff, RowsPerSplit = rowsPerSplit, IndexOffset = b0 };
                    runtime.Kernels.Knn(new KernelConfig(new Index2D(queryTiles, splits), new Index2D(tiling.GroupSize, 1)),
                        queryBuffer.View, bank, norms, args, SpecializedValue.New(tiling.ThreadsX), SpecializedValue.New(tiling.Depth), outValues.View, outIndices.View);
                    accelerator.Synchronize();
                    var values = outValues.GetAsArray1D();
                    var found = outIndices.GetAsArray1D();
                    int chunkStart = q0;
                    Parallel.For(0, qc, q => MergeSlots(values, found, q * slots * kEff, slots * kEff, listV, listI, (chunkStart + q) * kEff, kEff));
                }
            }
            finally
            {
                owned?.Dispose();
            }
        }
    }

    /// <summary>Folds candidates (value, index; -1 = none) into a sorted top-k list, ties to the lower index.</summary>
    static void MergeSlots(float[] values, int[] found, int start, int count, float[] listV, int[] listI, int listStart, int k)
    {
        for (int c = start; c < start + count; c++)
        {
            int ix = found[c];
            if (ix < 0) continue;
            float v = values[c];
            int last = listStart + k - 1;
            if (v > listV[last] || (v == listV[last] && (uint)ix >= (uint)listI[last])) continue;
            int pos = last;
            while (pos > listStart && (listV[pos - 1] > v || (listV[pos - 1] == v && (uint)listI[pos - 1] > (uint)ix)))
            {
                listV[pos] = listV[pos - 1];
                listI[pos] = listI[pos - 1];
                pos--;
            }
            listV[pos] = v;
            listI[pos] = ix;
        }
    }

    // ---------------------------------------------------------------- coreset

    /// <summary>
    /// Greedy k-centre on already projected points x [n, d]: same picks as <see cref="KCenterGreedy"/> except where two
    /// candidates' distances agree to the last bits (the CPU kernel fuses multiply-adds; the device may not).
    /// The points stay on the device; each pick is two launches and no host round trip.
    /// </summary>
    public static int[] Coreset(GpuRuntime runtime, float[] x, int n, int d, int selectCount, int start)
    {
        long bytes = (long)n * d * sizeof(float) + (long)n * sizeof(float) + (long)selectCount * sizeof(int);
        if (bytes > runtime.MemoryBudgetBytes)
            throw new GpuMemoryException($"the coreset needs {bytes >> 20} MiB on the device, over the budget of {runtime.MemoryBudgetBytes >> 20} MiB ({GpuRuntime.MemoryBudgetVariable})");
        // Transposed [d][n] so that a warp's threads read consecutive points.
        var xt = new float[(long)n * d];
        Parallel.For(0, (n + 1023) / 1024, block =>
        {
            int i0 = block * 1024, i1 = Math.Min(n, i0 + 1024);
            for (int p = 0; p < d; p++)
                for (int i = i0; i < i1; i++) xt[(long)p * n + i] = x[(long)i * d + p];
        });
        var minD = new float[n];
        minD.AsSpan().Fill(float.PositiveInfinity);
        minD[start] = -1f;
        try
        {
            using var lease = runtime.Enter();
            var accelerator = runtime.Accelerator;
            int groupSize = runtime.CoresetGroupSize;
            int groups = Math.Clamp((n + groupSize - 1) / groupSize, 1, runtime.OnCpuAccelerator ? 1 : Math.Max(1, accelerator.NumMultiprocessors) * 8);
            using var xtBuffer = accelerator.Allocate1D(xt);
            using var minBuffer = accelerator.Allocate1D(minD);
            using var picks = accelerator.Allocate1D<int>(selectCount);
            using var blockMax = accelerator.Allocate1D<float>(groups);
            using var blockArg = accelerator.Allocate1D<int>(groups);
            Upload(picks.View, new[] { start });
            var update = new KernelConfig(new Index1D(groups), new Index1D(groupSize));
            var pick = new KernelConfig(new Index1D(1), new Index1D(groupSize));
            for (int t = 0; t + 1 < selectCount; t++)
            {
                runtime.Kernels.CoresetUpdate(update, xtBuffer.View, minBuffer.View, picks.View, t, n, d, blockMax.View, blockArg.View);
                runtime.Kernels.CoresetPick(pick, blockMax.View, blockArg.View, groups, minBuffer.View, picks.View, t);
            }
            accelerator.Synchronize();
            return picks.GetAsArray1D();
        }
        catch (Exception e) when (GpuRuntime.IsOutOfMemory(e))
        {
            throw new GpuMemoryException($"the coreset of {n} x {d} points did not fit in device memory", e);
        }
    }

    // ---------------------------------------------------------------- PaDiM

    /// <summary>Mahalanobis distance of every patch of features [images, positions, inputDim] (channels picked) to its position's Gaussian.</summary>
    public static float[] Mahalanobis(GpuRuntime runtime, float[] features, int images, int positions, int inputDim, int[] channels,
        float[] mean, float[] inverse)
    {
        int dim = channels.Length;
        var result = new float[(long)images * positions];
        long statsBytes = ((long)mean.Length + inverse.Length + channels.Length) * sizeof(float);
        long perImage = (long)positions * (inputDim + 1) * sizeof(float);
        if (statsBytes + perImage > runtime.MemoryBudgetBytes)
            throw new GpuMemoryException($"PaDiM's statistics ({statsBytes >> 20} MiB) and one image do not fit the device budget of {runtime.MemoryBudgetBytes >> 20} MiB");
        int chunk = (int)Math.Clamp((runtime.MemoryBudgetBytes - statsBytes) / perImage, 1, Math.Max(1, images));
        while (true)
        {
            try
            {
                using var lease = runtime.Enter();
                var accelerator = runtime.Accelerator;
                using var channelBuffer = accelerator.Allocate1D(channels);
                using var meanBuffer = accelerator.Allocate1D(mean);
                using var inverseBuffer = accelerator.Allocate1D(inverse);
                using var featureBuffer = accelerator.Allocate1D<float>((long)chunk * positions * inputDim);
                using var output = accelerator.Allocate1D<float>((long)chunk * positions);
                for (int i0 = 0; i0 < images; i0 += chunk)
                {
                    int count = Math.Min(chunk, images - i0);
                    Upload(featureBuffer.View, features.AsSpan((int)((long)i0 * positions * inputDim), count * positions * inputDim));
                    var args = new MahalanobisArgs { Images = count, Positions = positions, InputDim = inputDim, Dim = dim };
                    runtime.Kernels.Mahalanobis(runtime.Spread((long)count * positions), featureBuffer.View, channelBuffer.View, meanBuffer.View, inverseBuffer.View, args, output.View);
                    accelerator.Synchronize();
                    Download(output.View, result.AsSpan(i0 * positions, count * positions));
                }
                return result;
            }
            catch (Exception e) when (GpuRuntime.IsOutOfMemory(e))
            {
                if (chunk == 1) throw new GpuMemoryException("PaDiM scoring did not fit in device memory", e);
                chunk = Math.Max(1, chunk / 2);
            }
        }
    }

    // ---------------------------------------------------------------- maps

    /// <summary>Patch maps [count][h][w] upsampled (bilinear) to outHeight x outWidth and blurred (Gaussian sigma, reflect): MapOps per image.</summary>
    public static float[][] AnomalyMaps(GpuRuntime runtime, ReadOnlySpan<float> patchMaps, int count, int h, int w, int outHeight, int outWidth, float sigma)
    {
        var weights = sigma > 0f ? MapOps.GaussianWeights(sigma) : [1f];
        int plane = outHeight * outWidth;
        long perImage = (long)(h * w + 3 * plane) * sizeof(float);
        int chunk = (int)Math.Clamp(runtime.MemoryBudgetBytes / perImage, 1, Math.Max(1, count));
        var maps = new float[count][];
        while (true)
        {
            try
            {
                using var lease = runtime.Enter();
                var accelerator = runtime.Accelerator;
                using var weightBuffer = accelerator.Allocate1D(weights);
                using var source = accelerator.Allocate1D<float>((long)chunk * h * w);
                using var upsampled = accelerator.Allocate1D<float>((long)chunk * plane);
                using var rows = accelerator.Allocate1D<float>((long)chunk * plane);
                using var blurred = accelerator.Allocate1D<float>((long)chunk * plane);
                var host = new float[(long)chunk * plane];
                for (int i0 = 0; i0 < count; i0 += chunk)
                {
                    int c = Math.Min(chunk, count - i0);
                    Upload(source.View, patchMaps.Slice(i0 * h * w, c * h * w));
                    var spread = runtime.Spread((long)c * plane);
                    runtime.Kernels.Resize(spread, c * plane, source.View, h, w, outHeight, outWidth, upsampled.View);
                    runtime.Kernels.BlurRows(spread, c * plane, upsampled.View, outHeight, outWidth, weightBuffer.View, rows.View);
                    runtime.Kernels.BlurColumns(spread, c * plane, rows.View, outHeight, outWidth, weightBuffer.View, blurred.View);
                    accelerator.Synchronize();
                    Download(blurred.View, host.AsSpan(0, c * plane));
                    for (int i = 0; i < c; i++) maps[i0 + i] = host.AsSpan(i * plane, plane).ToArray();
                }
                return maps;
            }
            catch (Exception e) when (GpuRuntime.IsOutOfMemory(e))
            {
                if (chunk == 1) throw new GpuMemoryException("anomaly maps did not fit in device memory", e);
                chunk = Math.Max(1, chunk / 2);
            }
        }
    }
}
