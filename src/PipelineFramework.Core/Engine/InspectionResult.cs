using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// The verdict on one part. <see cref="Score"/> is normalised (threshold = 0.5); <see cref="RawScore"/> and
/// <see cref="RawMap"/> are in the scorer's own units (metrics use them: the normalisation saturates in float).
/// </summary>
public sealed record InspectionResult(string Id, double RawScore, double Score, bool IsAnomaly, Grid2D RawMap)
{
    /// <summary>The heat map on the normalised scale (0.5 = threshold), for display.</summary>
    public Grid2D NormalizedMap(ModelFiles.ScoreNormalization normalization)
    {
        var values = new float[RawMap.Values.Length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)normalization.Apply(RawMap.Values[i]);
        return new Grid2D(RawMap.Height, RawMap.Width, values);
    }
}
