using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Engine;

/// <summary>
/// What fitting needs before any stage after the backbone runs: the fit / hold-out split of the good images (copies of
/// one image never on both sides), the backbone's layer maps of both sides, and synthetic anomalies (with masks) made
/// from good images. One prepared set feeds any number of <see cref="AnomalyPipeline.Fit(PreparedSet, IProgress{ProgressUpdate}?, CancellationToken)"/>
/// calls whose pipelines differ only after the backbone (embedding, scoring, map, threshold, logic), so a search over
/// those runs the backbone once per image. Immutable; dispose it (and the models) to free the backbone.
/// </summary>
public sealed class PreparedSet : IDisposable
{
    internal PreparedSet(string key, SharedBackbone backbone)
    {
        Key = key;
        Backbone = backbone;
    }

    /// <summary>Canonical JSON of the sections the set depends on, plus the identity of the images.</summary>
    public string Key { get; }
    internal SharedBackbone Backbone { get; }

    public required IReadOnlyList<string> FitImages { get; init; }
    public required IReadOnlyList<string> HoldoutImages { get; init; }
    /// <summary>Training images that repeat another one's pixels exactly (kept on the same side of the split).</summary>
    public required int DuplicateImages { get; init; }

    public required LayerMaps FitMaps { get; init; }
    public required LayerMaps HoldoutMaps { get; init; }
    /// <summary>
    /// The decoded hold-out images: logic checks fit on them, seen as parts are at inspection. Decoded on first use
    /// (<see cref="DecodeHoldout"/>) and then kept: a pipeline without logic checks never needs them, and with the
    /// whole image before the crop they weigh about 1.4 MB an image at 224/256 pixels (more than their layer maps).
    /// </summary>
    public IReadOnlyList<PreparedImage> Holdout { get => _holdout.Value; init => _holdout = new(value); }
    Lazy<IReadOnlyList<PreparedImage>> _holdout = new(() => []);

    /// <summary>How <see cref="Holdout"/> is made when first asked for.</summary>
    internal Func<IReadOnlyList<PreparedImage>> DecodeHoldout { init => _holdout = new(value, LazyThreadSafetyMode.ExecutionAndPublication); }
    /// <summary>Synthetic anomalies made from hold-out images (threshold calibration, synthetic AUROC).</summary>
    public required LayerMaps? SyntheticHoldoutMaps { get; init; }
    /// <summary>Masks of <see cref="SyntheticHoldoutMaps"/> at the crop size, in the same order (AutoML's pixel-level validation).</summary>
    public IReadOnlyList<Grid2D> SyntheticHoldoutMasks { get; init; } = [];
    /// <summary>Held-out good images photographed a little differently (<see cref="Spec.CalibrationSpec.ShiftedGoods"/>): good parts for AutoML's validation.</summary>
    public LayerMaps? ShiftedHoldoutMaps { get; init; }
    /// <summary>Synthetic anomalies made from fit images and their masks (learned scorers train on them).</summary>
    public required LayerMaps? TrainingSyntheticMaps { get; init; }
    public required IReadOnlyList<Grid2D> TrainingSyntheticMasks { get; init; }
    /// <summary>
    /// Per-pixel statistics of the fitting images, rated on the hold-out, for sizing defects (null with fewer than 2
    /// fitting images). A view on fewer fitting images (<see cref="WithFitImages"/>) keeps those of the whole set.
    /// </summary>
    internal Explain.GoodPixels? GoodPixels { get; init; }

    /// <summary>Sizes of all the good images (fitting and hold-out) as decoded; the model keeps them to flag unlike images.</summary>
    public GoodImageSizes? GoodImageSizes { get; init; }
    /// <summary>Whether all the good images were grey, all in colour, or both; the model keeps it to flag images of the other kind.</summary>
    public GoodImageColour? GoodImageColour { get; init; }
    /// <summary>Brightness range and lowest contrast of all the good images; the model keeps them to flag images lit otherwise or without the part.</summary>
    public GoodImageLevels? GoodImageLevels { get; init; }

    /// <summary>Images the backbone has run on so far, through this set and every model fitted from it.</summary>
    public long BackboneImages => Backbone.ImagesRun;

    /// <summary>Memory held by the layer maps and images (what a cache bounds).</summary>
    public long SizeInBytes =>
        FitMaps.SizeInBytes + HoldoutMaps.SizeInBytes + (SyntheticHoldoutMaps?.SizeInBytes ?? 0) + (ShiftedHoldoutMaps?.SizeInBytes ?? 0) + (TrainingSyntheticMaps?.SizeInBytes ?? 0)
        + HoldoutImageBytes
        + TrainingSyntheticMasks.Sum(m => (long)m.Values.Length * sizeof(float))
        + SyntheticHoldoutMasks.Sum(m => (long)m.Values.Length * sizeof(float))
        + (GoodPixels?.SizeInBytes ?? 0);

    /// <summary>The decoded hold-out images, 0 until a stage asked for them.</summary>
    long HoldoutImageBytes => !_holdout.IsValueCreated ? 0
        : _holdout.Value.Sum(h => (long)h.Image.Pixels.Length * sizeof(float))
          // The whole image before the crop (for logic checks) is a buffer of its own where a crop was taken.
          + _holdout.Value.Sum(h => h.Whole is { } whole && !ReferenceEquals(whole, h.Image) ? (long)whole.Pixels.Length * sizeof(float) : 0);

    /// <summary>
    /// The same set fitted on only some of its fitting images (indices into <see cref="FitImages"/>), with the hold-out,
    /// the synthetic anomalies and the backbone shared, not recomputed: AutoML's successive halving fits cheap rungs on
    /// part of the images and validates every rung on the same hold-out. All indices give a view that copies nothing.
    /// The result holds the backbone on its own (the cache may drop this set meanwhile); the caller disposes it.
    /// </summary>
    public PreparedSet WithFitImages(IReadOnlyList<int> fitIndices)
    {
        ArgumentNullException.ThrowIfNull(fitIndices);
        if (fitIndices.Count == 0) throw new ArgumentException("A fitting set needs at least one image.", nameof(fitIndices));
        if (fitIndices.Any(i => (uint)i >= (uint)FitImages.Count)) throw new ArgumentOutOfRangeException(nameof(fitIndices), $"Fit image indices run from 0 to {FitImages.Count - 1}.");
        bool all = fitIndices.Count == FitImages.Count && fitIndices.Select((v, i) => v == i).All(x => x);
        return new PreparedSet(Key, Backbone.Acquire())
        {
            FitImages = all ? FitImages : fitIndices.Select(i => FitImages[i]).ToArray(),
            HoldoutImages = HoldoutImages,
            DuplicateImages = DuplicateImages,
            GoodImageSizes = GoodImageSizes,
            GoodImageColour = GoodImageColour,
            GoodImageLevels = GoodImageLevels,
            FitMaps = all ? FitMaps : FitMaps.Gather(fitIndices),
            HoldoutMaps = HoldoutMaps,
            SharedHoldout = _holdout,
            SyntheticHoldoutMaps = SyntheticHoldoutMaps,
            ShiftedHoldoutMaps = ShiftedHoldoutMaps,
            SyntheticHoldoutMasks = SyntheticHoldoutMasks,
            TrainingSyntheticMaps = TrainingSyntheticMaps,
            TrainingSyntheticMasks = TrainingSyntheticMasks,
            GoodPixels = GoodPixels,
        };
    }

    /// <summary>A view shares the hold-out images (decoded once, by whichever set asks first).</summary>
    Lazy<IReadOnlyList<PreparedImage>> SharedHoldout { init => _holdout = value; }

    int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Backbone.Release();
    }
}
