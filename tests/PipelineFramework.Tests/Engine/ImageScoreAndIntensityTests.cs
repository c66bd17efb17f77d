using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;
using Xunit;

namespace PipelineFramework.Tests.Engine;

/// <summary>
/// <c>input.intensity: "mean"</c> (per-image exposure normalisation) and <c>map.imageScore: "maxOverMedian"</c> (the
/// worst patch relative to the part's own median): the two options that lift KolektorSDD, whose test parts come from
/// commutators the training set barely has.
/// </summary>
public class ImageScoreAndIntensityTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);

    [Fact]
    public void Max_over_median_divides_the_largest_patch_and_the_map_by_the_images_median()
    {
        // Two images of 5 patches: the second is the first scaled by 3 (a part that is "different everywhere").
        float[] values = [1, 2, 2, 3, 8, 3, 6, 6, 9, 24];
        var scores = new PatchScores(2, 1, 5, values, [8, 24]);
        var ratio = ImageScoring.Apply(scores, ImageScoreMode.MaxOverMedian);
        Assert.Equal([4f, 4f], ratio.ImageScores);
        // The map is divided by the same median, so the second part's map is the first's: both in the ratio's units.
        Assert.Equal([0.5f, 1, 1, 1.5f, 4, 0.5f, 1, 1, 1.5f, 4], ratio.Values);
        Assert.Equal([1f, 2, 2, 3, 8, 3, 6, 6, 9, 24], values);
        Assert.Same(scores, ImageScoring.Apply(scores, ImageScoreMode.Max));

        // All patches 0: a finite score, not a division by zero.
        var flat = ImageScoring.Apply(new PatchScores(1, 1, 3, [0, 0, 0], [0]), ImageScoreMode.MaxOverMedian);
        Assert.True(float.IsFinite(flat.ImageScores[0]));
    }

    [Fact]
    public void Max_over_lower_quartile_is_not_raised_by_a_defect_covering_half_the_part()
    {
        // 8 patches, the worst 10; half the part (4 patches) scores 5: the median is raised to 5, the lower quartile stays 1.
        float[] values = [5, 1, 5, 1, 10, 5, 1, 5];
        var scores = new PatchScores(1, 2, 4, values, [10]);
        Assert.Equal(2f, ImageScoring.Apply(scores, ImageScoreMode.MaxOverMedian).ImageScores[0]);
        Assert.Equal(10f, ImageScoring.Apply(scores, ImageScoreMode.MaxOverLowerQuartile).ImageScores[0]);
        Assert.Equal(values, ImageScoring.Apply(scores, ImageScoreMode.MaxOverLowerQuartile).Values);   // divided by 1
    }

    [Fact]
    public void Mean_intensity_removes_an_exposure_offset_keeps_contrast_and_leaves_masks_alone()
    {
        var dark = new float[3 * 2 * 2];
        for (int i = 0; i < dark.Length; i++) dark[i] = 0.1f + 0.05f * (i % 4);
        var bright = dark.Select(v => v + 0.3f).ToArray();
        var preprocessing = new Preprocessing(2, 2) with { Intensity = IntensityMode.Mean };
        var a = preprocessing.Apply(new ImageTensor(3, 2, 2, dark)).Pixels;
        var b = preprocessing.Apply(new ImageTensor(3, 2, 2, bright)).Pixels;
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 5);
        Assert.Equal(Preprocessing.MeanIntensity, a.Average(), 5);
        Assert.Equal(0.15f, a[3] - a[0], 5);                 // contrast kept

        var mask = preprocessing.ApplyToMask(new Grid2D(2, 2, [1, 0, 0, 0]));
        Assert.Equal([1f, 0f, 0f, 0f], mask.Values);
    }

    [Fact]
    public void A_model_with_both_options_is_calibrated_in_ratio_units_and_scores_the_same_after_saving()
    {
        var pipeline = AnomalyPipeline.FromJson("""
            {
              "name": "ratio", "seed": 7,
              "input": { "size": 224, "crop": 224, "intensity": "mean" },
              "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
              "scoring": { "type": "scoring.padim", "reducedDim": 40 },
              "map": { "imageScore": "maxOverMedian" }
            }
            """, TestData.Catalog);
        var train = Hazelnut.Train.Take(10).Select(t => t.Path).ToList();
        var test = Hazelnut.Test.Where((_, i) => i % 3 == 0).ToList();
        using var fitted = pipeline.Fit(train);
        Assert.Equal("mean", fitted.Manifest.Preprocessing.Intensity);

        var results = fitted.Inspect(test.Select(t => t.Path).ToList());
        // A ratio of the worst patch to the median patch is above 1, and the threshold, calibrated on held-out good
        // images through the same image score, is in the same units (a raw Mahalanobis threshold would be far off).
        Assert.All(results, r => Assert.True(r.RawScore > 1));
        Assert.InRange(fitted.Threshold, 1, 2 * results.Max(r => r.RawScore));
        // The heat map is in the same units: its largest value is at most the image score (smoothing only lowers a
        // peak), so regions are found against the ratio threshold, not a raw distance that is above it everywhere.
        Assert.All(results, r => Assert.InRange(r.RawMap.Values.Max(), 0.5 * r.RawScore, r.RawScore * 1.0001));
        Assert.True(results.Select(r => r.RawScore).Distinct().Count() > 1);

        var path = Path.Combine(TestData.TempFolder("ratio-model"), "m.pfmodel");
        fitted.Save(path);
        using var loaded = AnomalyModel.Load(path, TestData.Catalog);
        var again = loaded.Inspect(test.Select(t => t.Path).ToList());
        for (int i = 0; i < results.Count; i++) Assert.Equal(results[i].RawScore, again[i].RawScore);
    }

    [Theory]
    [InlineData("""{ "imageScore": "maxOverMedain" }""", "\"maxOverMedian\"")]
    [InlineData("""{ "imagScore": "max" }""", "imageScore")]
    public void Image_score_mistakes_are_named(string map, string expected)
    {
        var e = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson($$"""
            { "name": "x", "map": {{map}}, "backbone": { "type": "backbone.onnx" }, "scoring": { "type": "scoring.patchcore" } }
            """, TestData.Catalog));
        Assert.Contains("$.map.", e.Message);
        Assert.Contains(expected, e.Message);
    }

    static AnomalyPipeline WithHoldoutGroups(string grouping) => AnomalyPipeline.FromJson($$"""
        { "name": "g", "calibration": { "holdout": 0.3, "holdoutGroups": "{{grouping}}" },
          "backbone": { "type": "backbone.onnx" }, "scoring": { "type": "scoring.patchcore" } }
        """, TestData.Catalog);

    [Fact]
    public void Name_prefix_holdout_keeps_every_batch_on_one_side_and_changes_nothing_without_shared_prefixes()
    {
        // 6 batches of 4 (kos01_Part0 ... as KolektorSDD names them), one copy pair across two batches.
        var paths = Enumerable.Range(0, 24).Select(i => $"/data/kos{i / 4:00}_Part{i % 4}.jpg").ToList();
        var fingerprints = paths.Select(p => p).ToArray();
        fingerprints[5] = fingerprints[9];
        var (fit, holdout, duplicates) = WithHoldoutGroups("namePrefix").Split(paths, fingerprints, 3);
        Assert.Equal(1, duplicates);
        var held = holdout.Select(i => AnomalyPipeline.NamePrefix(paths[i])).ToHashSet();
        Assert.DoesNotContain(fit, i => held.Contains(AnomalyPipeline.NamePrefix(paths[i])));
        Assert.Equal(24, fit.Length + holdout.Length);
        Assert.InRange(holdout.Length, 4, 12);
        Assert.Equal(holdout.Contains(5), holdout.Contains(9));     // copies still together

        // MVTec-style names (000.png) share no prefix: the split is the plain one.
        var mvtec = Enumerable.Range(0, 20).Select(i => $"/data/{i:000}.png").ToList();
        var distinct = mvtec.ToArray();
        Assert.Equal(WithHoldoutGroups("copies").Split(mvtec, distinct, 3).Holdout, WithHoldoutGroups("namePrefix").Split(mvtec, distinct, 3).Holdout);
        Assert.Equal("kos01", AnomalyPipeline.NamePrefix("/x/kos01_Part3.jpg"));
        Assert.Equal("lot7", AnomalyPipeline.NamePrefix("lot7-0001.png"));
        Assert.Equal("000", AnomalyPipeline.NamePrefix("000.png"));
    }
}
