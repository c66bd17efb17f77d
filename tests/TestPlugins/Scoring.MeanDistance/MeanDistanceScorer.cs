using PipelineFramework.Abstractions;

namespace TestPlugin.Scoring.MeanDistance;

public sealed record MeanDistanceOptions
{
    /// <summary>Multiplies every score; lets tests see that options reach the plugin.</summary>
    [OptionRange(0, 1000, MinExclusive = true)] public double Scale { get; init; } = 1.0;
    /// <summary>Makes Save throw, to test that a failed save leaves an earlier model file intact.</summary>
    public bool FailOnSave { get; init; }
    /// <summary>Name of a secret the scorer needs at fit and load (as an LLM explainer needs its API key): read from the host, never stored.</summary>
    public string? RequireSecret { get; init; }
    /// <summary>A bug of the kind a third-party plugin can have, for the tests of what the host makes of it.</summary>
    public MeanDistanceFault Fault { get; init; }
}

/// <summary>
/// Faults on purpose. The ones after loading leave the fit (and its calibration) sound, so a model file is written and
/// the fault meets a part being scored, as a plugin that breaks in Load or on some images would.
/// </summary>
public enum MeanDistanceFault
{
    None,
    /// <summary>The constructor throws InvalidOperationException.</summary>
    Constructor,
    /// <summary>Fit throws InvalidOperationException.</summary>
    Fit,
    /// <summary>A loaded scorer's Score throws InvalidOperationException.</summary>
    ScoreAfterLoad,
    /// <summary>A loaded scorer gives NaN image and patch scores.</summary>
    NanAfterLoad,
    /// <summary>A loaded scorer gives scores for one image fewer than it was given.</summary>
    TooFewAfterLoad,
    /// <summary>Every patch scores 1, fitted or loaded: a scorer made blind by its options.</summary>
    Constant,
    /// <summary>
    /// The scorer, fitted or loaded, gives NaN image and patch scores to each image whose largest patch distance is
    /// more than twice the largest over the fitted images (a part unlike the training parts, e.g. one of another colour),
    /// and sound scores to the others: a scorer whose arithmetic breaks on one particular image.
    /// </summary>
    NanOnUnlikeImages,
}

/// <summary>Distance of each patch to the mean good embedding at its position: simple, exact, easy to check by hand.</summary>
[PipelineComponent("test.mean-distance", Description = "Test plugin: distance to the mean good patch at each position")]
public sealed class MeanDistanceScorer : IScorer
{
    readonly MeanDistanceOptions options;

    public MeanDistanceScorer(MeanDistanceOptions options)
    {
        if (options.Fault == MeanDistanceFault.Constructor) throw new InvalidOperationException("test.mean-distance: failing on purpose in the constructor");
        this.options = options;
    }

    public IFittedScorer Fit(ScorerFitInputs inputs, FitContext context)
    {
        CheckSecret(context);
        if (options.Fault == MeanDistanceFault.Fit) throw new InvalidOperationException("test.mean-distance: failing on purpose in Fit");
        var good = inputs.Good;
        int perImage = good.PatchesPerImage * good.Dim;
        var mean = new float[perImage];
        for (int i = 0; i < good.Count; i++)
        {
            var image = good.Image(i);
            for (int j = 0; j < perImage; j++) mean[j] += image[j] / good.Count;
        }
        var fitted = new Fitted(options, good.Height, good.Width, good.Dim, mean, loaded: false, fittedMax: float.PositiveInfinity);
        var goodScores = fitted.Score(good).ImageScores;
        return new Fitted(options, good.Height, good.Width, good.Dim, mean, loaded: false, fittedMax: goodScores.Max());
    }

    void CheckSecret(FitContext context)
    {
        if (options.RequireSecret is { } name && string.IsNullOrEmpty(context.Services.Secrets.Get(name)))
            throw new PipelineException($"test.mean-distance: the secret '{name}' is not set; set the environment variable {name} or add it to the user secrets file.");
    }

    public IFittedScorer Load(IModelReader state, FitContext context)
    {
        CheckSecret(context);
        var mean = state.ReadTensor("mean", out var shape);
        return new Fitted(options, shape[0], shape[1], shape[2], mean, loaded: true, fittedMax: state.ReadTensor("fittedMax", out _)[0]);
    }

    sealed class Fitted(MeanDistanceOptions options, int height, int width, int dim, float[] mean, bool loaded, float fittedMax) : IFittedScorer
    {
        public PatchScores Score(FeatureBatch features)
        {
            var fault = loaded ? options.Fault : MeanDistanceFault.None;
            if (fault == MeanDistanceFault.ScoreAfterLoad) throw new InvalidOperationException("test.mean-distance: failing on purpose in Score");
            if (features.Height != height || features.Width != width || features.Dim != dim)
                throw new PipelineException($"test.mean-distance: embeddings are {features.Height}x{features.Width}x{features.Dim}; the model was fitted on {height}x{width}x{dim}.");
            int positions = height * width;
            var values = new float[features.PatchCount];
            var imageScores = new float[features.Count];
            for (int p = 0; p < features.PatchCount; p++)
            {
                var patch = features.Patch(p);
                var centre = mean.AsSpan(p % positions * dim, dim);
                double sum = 0;
                for (int d = 0; d < dim; d++) { double diff = patch[d] - centre[d]; sum += diff * diff; }
                values[p] = (float)(Math.Sqrt(sum) * options.Scale);
                imageScores[p / positions] = Math.Max(imageScores[p / positions], values[p]);
            }
            if (options.Fault == MeanDistanceFault.Constant)
            {
                Array.Fill(values, 1f);
                Array.Fill(imageScores, 1f);
            }
            if (fault == MeanDistanceFault.NanAfterLoad)
            {
                Array.Fill(values, float.NaN);
                Array.Fill(imageScores, float.NaN);
            }
            if (options.Fault == MeanDistanceFault.NanOnUnlikeImages)
                for (int i = 0; i < features.Count; i++)
                    if (imageScores[i] > 2 * fittedMax)
                    {
                        imageScores[i] = float.NaN;
                        values.AsSpan(i * positions, positions).Fill(float.NaN);
                    }
            if (fault == MeanDistanceFault.TooFewAfterLoad && features.Count > 0)
                return new PatchScores(features.Count - 1, height, width, values[..^positions], imageScores[..^1]);
            return new PatchScores(features.Count, height, width, values, imageScores);
        }

        public void Save(IModelWriter state)
        {
            state.WriteTensor("mean", mean, height, width, dim);
            state.WriteTensor("fittedMax", [fittedMax], 1);
            if (options.FailOnSave) throw new IOException("test.mean-distance: failing on purpose (failOnSave)");
        }
    }
}
