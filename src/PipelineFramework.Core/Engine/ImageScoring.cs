using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Engine;

/// <summary>How an image's score is made from its patch scores (the pipeline's <c>map.imageScore</c>).</summary>
public enum ImageScoreMode
{
    /// <summary>The scorer's own image score: the largest patch score (PatchCore, PaDiM).</summary>
    Max,
    /// <summary>
    /// The largest patch score divided by the image's median patch score: how far the worst patch stands out from the
    /// rest of the same part. A part that differs from the training parts everywhere (another batch, another exposure)
    /// raises all its patch scores and is not rejected for that alone; a local defect still stands out. Needs
    /// non-negative patch scores (distances, as PatchCore's and PaDiM's).
    /// </summary>
    MaxOverMedian,
    /// <summary>
    /// The largest patch score divided by the image's lower-quartile patch score: as <see cref="MaxOverMedian"/>, but a
    /// defect has to cover three quarters of the part before it raises its own denominator (a median is raised by one
    /// covering half).
    /// </summary>
    MaxOverLowerQuartile,
}

/// <summary>Image scores from patch scores, one place for inspection, calibration and AutoML's validation.</summary>
public static class ImageScoring
{
    /// <summary>
    /// The reference patch score is kept at least this far above zero, so a part whose patches all score 0 gets a finite
    /// (large) ratio rather than a division by zero.
    /// </summary>
    const float MinReference = 1e-6f;

    /// <summary>
    /// The scores with their image scores made by <paramref name="mode"/>; <see cref="ImageScoreMode.Max"/> returns them
    /// unchanged. A ratio mode divides every patch score of an image by the same reference (the image's median or lower
    /// quartile patch score), so the heat map, its regions and the logic checks are in the units of the image score and
    /// its threshold: a part that scores high everywhere is not one large region above the threshold.
    /// <paramref name="divideMap"/> false keeps the patch scores as the scorer made them (AutoML's pixel-level
    /// validation terms).
    /// </summary>
    public static PatchScores Apply(PatchScores scores, ImageScoreMode mode, bool divideMap = true)
    {
        if (mode == ImageScoreMode.Max) return scores;
        int positions = scores.Height * scores.Width;
        var imageScores = new float[scores.Count];
        var values = divideMap ? new float[scores.Values.Length] : scores.Values;
        Parallel.For(0, scores.Count, i =>
        {
            var source = scores.Values.AsSpan(i * positions, positions);
            var sorted = source.ToArray();
            // Selection would be O(n), but a sort of one image's few thousand patches is not the cost here.
            Array.Sort(sorted);
            int reference = mode == ImageScoreMode.MaxOverLowerQuartile ? (positions - 1) / 4 : (positions - 1) / 2;
            float divisor = MathF.Max(MinReference, sorted[reference]);
            if (divideMap)
            {
                var target = values.AsSpan(i * positions, positions);
                for (int p = 0; p < positions; p++) target[p] = source[p] / divisor;
            }
            imageScores[i] = sorted[^1] / divisor;
        });
        return new PatchScores(scores.Count, scores.Height, scores.Width, values, imageScores);
    }
}
