using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Compute.Gpu;

namespace PipelineFramework.Scoring.Padim;

public sealed record PadimOptions
{
    /// <summary>Channels kept, chosen at random with the pipeline seed (the paper keeps 100 of 448 for ResNet18); 0 = all.</summary>
    [OptionRange(0, 8192, LogScale = true, SearchMin = 16, SearchMax = 512)] public int ReducedDim { get; init; } = 100;
    /// <summary>Ledoit-Wolf-style shrinkage of each covariance towards a scaled identity, in [0, 1).</summary>
    [OptionRange(0, 1, MaxExclusive = true, SearchMax = 0.5)] public double Shrinkage { get; init; } = 0.0;
    /// <summary>Added to the covariance diagonal (the paper's 0.01 I).</summary>
    [OptionRange(0, 1000, LogScale = true, SearchMin = 1e-4, SearchMax = 1)] public double Epsilon { get; init; } = 0.01;
}

/// <summary>
/// PaDiM (Defard et al., ICPR 2020): one multivariate Gaussian per patch position over good images; a patch's score is
/// its Mahalanobis distance to the Gaussian of its position.
/// </summary>
[PipelineComponent("scoring.padim", Description = "PaDiM: per-position Gaussian, Mahalanobis distance")]
public sealed class PadimScorer(PadimOptions options) : IScorer
{
    public PadimOptions Options { get; } = options;

    public IFittedScorer Fit(ScorerFitInputs inputs, FitContext context)
    {
        var good = inputs.Good;
        if (good.Count < 2) throw new PipelineException("PaDiM needs at least 2 good images to estimate a covariance.");
        var channels = ChooseChannels(good.Dim, Options.ReducedDim, context.Seed);
        int dim = channels.Length, positions = good.PatchesPerImage;
        var samples = new float[(long)good.Count * positions * dim];
        for (int patch = 0; patch < good.PatchCount; patch++)
        {
            var source = good.Patch(patch);
            var target = samples.AsSpan(patch * dim, dim);
            for (int j = 0; j < dim; j++) target[j] = source[channels[j]];
        }
        context.Progress?.Report(new ProgressUpdate("gaussian", 0, positions));
        float[] mean, inverse;
        try
        {
            (mean, inverse) = GaussianStatistics.Estimate(samples, good.Count, positions, dim, (float)Options.Shrinkage, (float)Options.Epsilon, context.Cancellation);
        }
        catch (InvalidOperationException)
        {
            // Without regularisation a covariance of more channels than fitting images (or of a channel that never
            // changes) is singular and has no inverse: epsilon 0 with all 192 channels of 22 hazelnut images.
            throw new PipelineException($"scoring.padim: the covariance of the good patches has no inverse ({good.Count} fitting images for {dim} channels, " +
                $"epsilon {Options.Epsilon.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}, shrinkage {Options.Shrinkage.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}). Nothing was fitted. " +
                "Raise epsilon (the paper uses 0.01) or shrinkage, or lower reducedDim below the number of fitting images.");
        }
        context.Progress?.Report(new ProgressUpdate("gaussian", positions, positions));
        return new FittedPadim(channels, good.Dim, good.Height, good.Width, mean, inverse, ComputeBackend.For(context.Services));
    }

    /// <summary>The kept channels of every patch, then per position a mean and an inverse covariance (float).</summary>
    public long FitBytes(long images, int positions, int dim)
    {
        long kept = Options.ReducedDim > 0 ? Math.Min(Options.ReducedDim, dim) : dim;
        return (images * positions * kept + positions * (kept + kept * kept)) * sizeof(float);
    }

    public IFittedScorer Load(IModelReader state, FitContext context)
    {
        var channelValues = state.ReadTensor("channels", out var channelShape);
        var mean = state.ReadTensor("mean", out var meanShape);
        var inverse = state.ReadTensor("inverse_covariance", out var inverseShape);
        var input = state.ReadTensor("input_shape", out var inputShape);
        // The four tensors index each other (channel numbers into embeddings, positions into the mean and covariances);
        // one disagreeing would read the wrong numbers or past an array's end while scoring.
        if (inputShape is not [3] || !input.All(v => v >= 1 && v <= int.MaxValue && v == MathF.Round(v)))
            throw Inconsistent($"input_shape is [{string.Join(", ", input)}]; expected [height, width, dim] as positive integers");
        int height = (int)input[0], width = (int)input[1], inputDim = (int)input[2];
        if (channelShape is not [> 0])
            throw Inconsistent($"channels has shape [{string.Join(", ", channelShape)}]; expected one or more channel numbers");
        if (!channelValues.All(c => c >= 0 && c < inputDim && c == MathF.Round(c)))
            throw Inconsistent($"channels holds a value that is not a channel number below {inputDim} (input_shape's dim)");
        int dim = channelValues.Length;
        if (meanShape is not [var h, var w, var d] || h != height || w != width || d != dim)
            throw Inconsistent($"mean has shape [{string.Join(", ", meanShape)}]; input_shape [{height}, {width}, {inputDim}] and {dim} channels need [{height}, {width}, {dim}]");
        if (inverseShape is not [var positions, var rows, var columns] || positions != (long)height * width || rows != dim || columns != dim)
            throw Inconsistent($"inverse_covariance has shape [{string.Join(", ", inverseShape)}]; mean needs [{(long)height * width}, {dim}, {dim}]");
        return new FittedPadim(channelValues.Select(c => (int)c).ToArray(), inputDim, height, width, mean, inverse, ComputeBackend.For(context.Services));
    }

    static PipelineException Inconsistent(string detail) =>
        new($"PaDiM state is inconsistent: {detail}. The model file is damaged; fit the model again.");

    /// <summary>Random channel subset, sorted, deterministic for a seed (PaDiM's random dimensionality reduction).</summary>
    static int[] ChooseChannels(int dim, int reducedDim, int seed)
    {
        var all = Enumerable.Range(0, dim).ToArray();
        if (reducedDim == 0 || reducedDim >= dim) return all;
        SeededRandom.Create(seed, 0x5041_4449_4D00_0000UL).Shuffle(all.AsSpan()); // "PADIM"
        return all[..reducedDim].Order().ToArray();
    }
}

sealed class FittedPadim(int[] channels, int inputDim, int height, int width, float[] mean, float[] inverse, ComputeBackend compute) : IFittedScorer
{
    public PatchScores Score(FeatureBatch features)
    {
        if (features.Dim != inputDim || features.Height != height || features.Width != width)
            throw new PipelineException($"PaDiM: embeddings are {features.Height}x{features.Width}x{features.Dim}; the model was fitted on {height}x{width}x{inputDim}.");
        int positions = height * width;
        var values = compute.Mahalanobis(features.Data, features.Count, positions, inputDim, channels, mean, inverse);
        var imageScores = new float[features.Count];
        for (int i = 0; i < features.Count; i++)
        {
            float max = float.MinValue;
            foreach (var v in values.AsSpan(i * positions, positions)) max = MathF.Max(max, v);
            imageScores[i] = max;
        }
        return new PatchScores(features.Count, height, width, values, imageScores);
    }

    public void Save(IModelWriter state)
    {
        int dim = channels.Length;
        state.WriteTensor("channels", channels.Select(c => (float)c).ToArray(), dim);
        state.WriteTensor("input_shape", [height, width, inputDim], 3);
        state.WriteTensor("mean", mean, height, width, dim);
        state.WriteTensor("inverse_covariance", inverse, height * width, dim, dim);
    }
}
