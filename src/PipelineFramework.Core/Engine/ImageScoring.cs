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
}

/// <summary>Image scores from patch scores, one place for inspection, calibration and AutoML's validation.</summary>
public static class ImageScoring
{
    /// <summary>
    /// The median patch score is kept at least this far above zero, so a part whose patches all score 0 gets a finite
    /// (large) ratio rather than a division by zero.
    /// </summary>
    const float MinMedian = 1e-6f;

    /// <summary>The scores with their image scores made by <paramref name="mode"/>; <see cref="ImageScoreMode.Max"/> returns them unchanged.</summary>
    public static PatchScores Apply(PatchScores scores, ImageScoreMode mode)
    {
        if (mode == ImageScoreMode.Max) return scores;
        int positions = scores.Height * scores.Width;
        var imageScores = new float[scores.Count];
        Parallel.For(0, scores.Count, i =>
        {
            var patch = scores.Values.AsSpan(i * positions, positions).ToArray();
            float max = patch.Max();
            // Median by selection would be O(n), but a sort of one image's few thousand patches is not the cost here.
            Array.Sort(patch);
            imageScores[i] = max / MathF.Max(MinMedian, patch[(positions - 1) / 2]);
        });
        return new PatchScores(scores.Count, scores.Height, scores.Width, scores.Values, imageScores);
    }
}
