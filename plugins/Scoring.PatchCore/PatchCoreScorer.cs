using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Compute.Gpu;

namespace PipelineFramework.Scoring.PatchCore;

public sealed record PatchCoreOptions
{
    /// <summary>Share of good patches kept in the memory bank by greedy k-centre selection (the paper uses 0.01 to 0.25).</summary>
    [OptionRange(0, 1, MinExclusive = true, LogScale = true, SearchMin = 0.01, SearchMax = 0.25)] public double CoresetRatio { get; init; } = 0.1;
    /// <summary>
    /// Dimension of the random projection the coreset selection works in (the paper's approximate greedy); 0 = exact.
    /// A speed setting, not searched.
    /// </summary>
    [OptionRange(0, 4096), NotSearched] public int ProjectionDim { get; init; } = 128;
    /// <summary>Image score re-weighting from the paper (eq. 7); off = image score is the max patch score.</summary>
    public bool Reweight { get; init; }
    /// <summary>
    /// Neighbourhood size b of the re-weighting. At least 2: the neighbourhood includes the nearest bank patch itself,
    /// so with b = 1 the softmax weight is always 1 and every image score is 0 (every part passes).
    /// </summary>
    [OptionRange(2, 1000, SearchMax = 27)] public int ReweightNeighbours { get; init; } = 9;
}

/// <summary>
/// PatchCore (Roth et al., CVPR 2022): a coreset memory bank of good patch embeddings; a patch's score is the distance to
/// its nearest neighbour in the bank.
/// </summary>
[PipelineComponent("scoring.patchcore", Description = "PatchCore: coreset memory bank, nearest-neighbour patch distance")]
public sealed class PatchCoreScorer(PatchCoreOptions options) : IScorer
{
    public PatchCoreOptions Options { get; } = options;

    /// <summary>The smallest memory bank fitted; see <see cref="Fit"/>.</summary>
    const int MinBank = 2;

    public IFittedScorer Fit(ScorerFitInputs inputs, FitContext context)
    {
        var good = inputs.Good;
        var compute = ComputeBackend.For(context.Services);
        int count = good.PatchCount, dim = good.Dim;
        int keep = Math.Max(1, (int)Math.Round(Options.CoresetRatio * count));
        // The distance to a single patch measures how far a patch lies from one point, not whether anything like it was
        // seen: with a bank of 1 patch hazelnut's image AUROC fell to 0.47 and every test part passed (2 patches: 1.0).
        if (keep < MinBank && count >= MinBank)
            throw new PipelineException($"scoring.patchcore: coresetRatio {Options.CoresetRatio.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)} keeps {keep} of {count} good patches, " +
                $"and a memory bank of one patch cannot tell good patches from others. Nothing was fitted. Raise coresetRatio to at least " +
                $"{(MinBank / (double)count).ToString("G2", System.Globalization.CultureInfo.InvariantCulture)} (the paper uses 0.01 to 0.25).");
        float[] bank;
        if (keep >= count)
        {
            bank = (float[])good.Data.Clone();
        }
        else
        {
            context.Progress?.Report(new ProgressUpdate("coreset", 0, keep));
            var selected = compute.SelectCoreset(good.Data, count, dim, keep, Options.ProjectionDim, context.Seed, context.Cancellation);
            bank = new float[(long)keep * dim];
            for (int i = 0; i < keep; i++) good.Patch(selected[i]).CopyTo(bank.AsSpan(i * dim, dim));
            context.Progress?.Report(new ProgressUpdate("coreset", keep, keep));
        }
        return new FittedPatchCore(Options, new NearestNeighbourIndex(bank, bank.Length / dim, dim), compute);
    }

    /// <summary>
    /// The projected copy the coreset selection works in, its distance to the nearest centre per patch, and the bank.
    /// </summary>
    public long FitBytes(long images, int positions, int dim)
    {
        long goodPatches = images * positions;
        int projected = Options.ProjectionDim > 0 && Options.ProjectionDim < dim ? Options.ProjectionDim : 0;
        long bank = Math.Max(1, (long)Math.Round(Options.CoresetRatio * goodPatches)) * dim;
        return (goodPatches * (projected + 1) + bank) * sizeof(float);
    }

    public IFittedScorer Load(IModelReader state, FitContext context)
    {
        var bank = state.ReadTensor("memory_bank", out var shape);
        if (shape is not [_, > 0])
            throw new PipelineException($"PatchCore memory_bank has shape [{string.Join(",", shape)}]; expected [patches, dim]. The model file is damaged; fit the model again.");
        // Nearest-neighbour search in an empty bank has no answer; scoring would fail on the first image instead of here.
        if (shape[0] == 0)
            throw new PipelineException($"PatchCore memory_bank is empty (0 patches of {shape[1]} dimensions). The model file is damaged; fit the model again.");
        return new FittedPatchCore(Options, new NearestNeighbourIndex(bank, shape[0], shape[1]), ComputeBackend.For(context.Services));
    }
}

sealed class FittedPatchCore(PatchCoreOptions options, NearestNeighbourIndex index, ComputeBackend compute) : IFittedScorer
{
    public PatchScores Score(FeatureBatch features)
    {
        if (features.Dim != index.Dim)
            throw new PipelineException($"PatchCore: embeddings have {features.Dim} dimensions, the memory bank {index.Dim}; the features stage changed since fitting.");
        int patches = features.PatchCount;
        var distances = new float[patches];
        var nearest = new int[patches];
        compute.Search(index, features.Data, patches, 1, distances, nearest);

        int perImage = features.PatchesPerImage;
        var imageScores = new float[features.Count];
        for (int i = 0; i < features.Count; i++)
        {
            var map = distances.AsSpan(i * perImage, perImage);
            int worst = 0;
            for (int p = 1; p < map.Length; p++) if (map[p] > map[worst]) worst = p;
            float score = map[worst];
            if (options.Reweight)
                score *= ReweightFactor(features.Patch(i * perImage + worst), nearest[i * perImage + worst]);
            imageScores[i] = score;
        }
        return new PatchScores(features.Count, features.Height, features.Width, distances, imageScores);
    }

    /// <summary>
    /// Paper eq. 7: w = 1 - exp(|m_test - m*|) / sum over the b nearest bank neighbours m of m* of exp(|m_test - m|).
    /// A test patch whose nearest bank patch sits in a sparse region of the bank is less trusted.
    /// </summary>
    float ReweightFactor(ReadOnlySpan<float> testPatch, int nearestBankIndex)
    {
        int b = Math.Min(options.ReweightNeighbours, index.Count);
        var neighbourDistances = new float[b];
        var neighbours = new int[b];
        index.Search(index.Bank.AsSpan(nearestBankIndex * index.Dim, index.Dim), 1, b, neighbourDistances, neighbours, maxThreads: 1);
        Span<double> distances = stackalloc double[b];
        double max = 0;
        for (int j = 0; j < b; j++)
        {
            distances[j] = Math.Sqrt(SquaredDistance(testPatch, index.Bank.AsSpan(neighbours[j] * index.Dim, index.Dim)));
            max = Math.Max(max, distances[j]);
        }
        // Softmax over distances; shifting by the max keeps exp finite and cancels in the ratio.
        double sum = 0;
        for (int j = 0; j < b; j++) sum += Math.Exp(distances[j] - max);
        double star = Math.Sqrt(SquaredDistance(testPatch, index.Bank.AsSpan(nearestBankIndex * index.Dim, index.Dim)));
        return (float)(1.0 - Math.Exp(star - max) / sum);
    }

    static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; sum += d * d; }
        return sum;
    }

    public void Save(IModelWriter state) => state.WriteTensor("memory_bank", index.Bank.AsSpan(0, index.Count * index.Dim), index.Count, index.Dim);
}
