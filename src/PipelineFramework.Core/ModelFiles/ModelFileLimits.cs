namespace PipelineFramework.Core.ModelFiles;

/// <summary>
/// What one model file may hold. Checked against the lengths entries declare before anything is allocated, and again
/// while reading, since a damaged or hostile file can declare one length and decompress to another.
/// </summary>
public static class ModelFileLimits
{
    /// <summary>
    /// 1 GiB uncompressed per entry. The largest real entries are a PatchCore memory bank on a large training set
    /// (a few hundred MB) and an fp32 WideResNet-50 backbone (~270 MB); a 5 MB file claiming gigabytes is a zip bomb.
    /// </summary>
    public const long MaxEntryBytes = 1L << 30;

    /// <summary>Values in one tensor: as many float32 as fit in <see cref="MaxEntryBytes"/>.</summary>
    public const long MaxTensorValues = MaxEntryBytes / sizeof(float);

    /// <summary>Dimensions of one tensor; the built-in scorers use at most 3.</summary>
    public const int MaxTensorRank = 8;

    /// <summary>manifest.json, uncompressed: real ones are a few KB; parsing is bounded before it starts.</summary>
    public const long MaxManifestBytes = 16L << 20;
}
