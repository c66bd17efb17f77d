using System.Text.Json.Nodes;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Cli;

/// <summary>
/// Options at the edges of their ranges, with the real `pf` on the shipped hazelnut set: a setting that makes the model's
/// verdicts meaningless (every part passes, every score the same) is refused, at validation where the options alone
/// show it and at fit where it takes the data; a legal but weak setting fits with a warning that says what to change.
/// docs/reliability.md ("Options at the edges") has the measurements.
/// </summary>
public class EdgeOptionTests
{
    /// <summary>The default pipeline without synthesis (faster), with <paramref name="change"/> applied.</summary>
    static string WritePipeline(string folder, Action<JsonObject> change)
    {
        var pipeline = JsonNode.Parse("""
            {
              "name": "edge", "seed": 42,
              "input": { "size": 256, "crop": 224 },
              "backbone": { "type": "backbone.onnx", "model": "builtin:mobilenetv2-int8",
                            "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch", "feat_f13_s16_96ch"] },
              "embedding": { "type": "embedding.patch", "patchSize": 3 },
              "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.1, "projectionDim": 128 },
              "map": { "sigma": 4 },
              "threshold": { "type": "threshold.quantile", "quantile": 0.99 },
              "calibration": { "holdout": 0.2 }
            }
            """)!.AsObject();
        change(pipeline);
        var path = Path.Combine(folder, "pipeline.json");
        File.WriteAllText(path, pipeline.ToJsonString());
        return path;
    }

    static (int ExitCode, string Out, string Err, bool Written) Fit(string name, Action<JsonObject> change, params string[] extra)
    {
        var folder = TestData.TempFolder(name);
        var model = Path.Combine(folder, "m.pfmodel");
        var run = PfProcess.Run(["fit", "--pipeline", WritePipeline(folder, change), "--data", TestData.Hazelnut, "--model", model, .. extra]);
        return (run.ExitCode, run.Out, run.Err, File.Exists(model));
    }

    static void AssertRefused((int ExitCode, string Out, string Err, bool Written) run, params string[] expected)
    {
        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}; stderr: {run.Err}");
        Assert.False(run.Written, "a refused fit wrote a model file");
        foreach (var e in expected) Assert.Contains(e, run.Err);
        Assert.DoesNotContain("bug", run.Err);
        Assert.DoesNotContain("   at ", run.Err);
    }

    [Fact]
    public void Reweighting_over_a_neighbourhood_of_one_patch_is_refused_before_any_work()
    {
        // It scored every image 0 (the softmax of one neighbour is 1), so the threshold was 0 and every part passed.
        var run = Fit("edge-reweight1", p => { p["scoring"]!["reweight"] = true; p["scoring"]!["reweightNeighbours"] = 1; });
        AssertRefused(run, "$.scoring.reweightNeighbours: 1 is out of range; allowed [2, 1000]");
        Assert.DoesNotContain("backbone", run.Out);
    }

    [Fact]
    public void A_quantile_below_the_median_is_refused_before_any_work()
    {
        // 0 put the threshold at the lowest held-out good score and rejected 4 of the 6 good test parts.
        var run = Fit("edge-quantile0", p => p["threshold"]!["quantile"] = 0);
        AssertRefused(run, "$.threshold.quantile: 0 is out of range; allowed [0.5, 1]");
    }

    [Fact]
    public void A_memory_bank_of_one_patch_is_refused_at_fit()
    {
        // It gave image AUROC 0.47 on the test set, every part passing.
        var run = Fit("edge-coreset1", p => p["scoring"]!["coresetRatio"] = 1e-9);
        AssertRefused(run, "coresetRatio 1E-09 keeps 1 of 17248 good patches", "Raise coresetRatio to at least 0.00012");
    }

    [Fact]
    public void A_hold_out_of_one_image_fits_with_a_warning_and_a_small_bank_without_one()
    {
        var run = Fit("edge-weak", p =>
        {
            p["scoring"]!["coresetRatio"] = 0.001;
            p["calibration"]!["holdout"] = 0.001;
        });
        Assert.True(run.ExitCode == 0, run.Err);
        Assert.True(run.Written);
        // 27 fitting images of 784 patches each: a bank of 21 patches, which fits as the paper's settings do (no warning).
        Assert.DoesNotContain("scoring.patchcore", run.Err);
        Assert.Contains("warning: The threshold is calibrated on 1 held-out good image (calibration.holdout 0.001 of 28 training images): " +
            "with so few, expect about 1 in 2 good parts to score above it.", run.Err);
    }

    [Fact]
    public void The_default_pipeline_fits_without_these_warnings()
    {
        var run = Fit("edge-default", _ => { });
        Assert.True(run.ExitCode == 0, run.Err);
        Assert.DoesNotContain("warning:", run.Err);
    }

    [Fact]
    public void PaDiM_without_regularisation_and_more_channels_than_images_is_refused_with_what_to_change()
    {
        // It ended in "This is a bug in PipelineFramework" (exit 2): a Cholesky failure on a singular covariance.
        var run = Fit("edge-padim", p =>
        {
            p["scoring"] = new JsonObject { ["type"] = "scoring.padim", ["reducedDim"] = 0, ["epsilon"] = 0 };
            p["embedding"]!["patchSize"] = 1;
        });
        AssertRefused(run, "scoring.padim: the covariance of the good patches has no inverse (22 fitting images for 192 channels, epsilon 0, shrinkage 0)",
            "Raise epsilon");
    }

    [Fact]
    public void A_scorer_that_gives_every_image_the_same_score_is_refused_at_fit()
    {
        var run = Fit("edge-constant", p => p["scoring"] = new JsonObject { ["type"] = "test.mean-distance", ["fault"] = "constant" },
            "--plugins", TestData.TestPluginsFolder);
        AssertRefused(run, "The scorer gave all 6 held-out good images the same score (1)", "Nothing was fitted");
    }

    [Fact]
    public void A_SimpleNet_that_trains_nothing_fits_with_a_warning_and_the_shipped_SimpleNet_without_one()
    {
        // learningRate 1e-12 with a frozen adaptor gave hazelnut image AUROC 0.63 (12 of 17 defects missed), bottle 0.54,
        // KolektorSDD 0.51, without a word; their synthetic AUROC was 0.54, 0.38, 0.49 against 0.90, 0.89, 0.76 trained.
        static void SimpleNet(JsonObject p, double learningRate, double adaptorLearningRate)
        {
            p["synthesis"] = new JsonArray(new JsonObject { ["type"] = "synthesis.cutpaste" }, new JsonObject { ["type"] = "synthesis.perlin" });
            p["scoring"] = new JsonObject
            {
                ["type"] = "scoring.simplenet", ["noiseSigma"] = 0.5, ["epochs"] = 10,
                ["learningRate"] = learningRate, ["adaptorLearningRate"] = adaptorLearningRate,
            };
            p["calibration"]!["syntheticCount"] = 40;
        }
        var untrained = Fit("edge-simplenet-untrained", p => SimpleNet(p, 1e-12, 0));
        Assert.True(untrained.ExitCode == 0, untrained.Err);
        Assert.True(untrained.Written);
        Assert.Contains("warning: The model tells the 40 synthetic defects from the 6 held-out good images little better than chance (synthetic AUROC 0.5", untrained.Err);
        Assert.Contains("scoring.simplenet options", untrained.Err);

        var trained = Fit("edge-simplenet-shipped", p => SimpleNet(p, 2e-4, 1e-4));
        Assert.True(trained.ExitCode == 0, trained.Err);
        Assert.DoesNotContain("warning:", trained.Err);
    }

    [Fact]
    public void A_fit_input_smaller_than_the_backbone_says_its_width_and_height_by_name()
    {
        // "width": 1000, "height": 60 was reported as "the pipeline's input is 60x1000", which reads as 60 wide.
        var run = Fit("edge-strip-input", p => p["input"] = new JsonObject { ["resize"] = "fit", ["width"] = 1000, ["height"] = 60 });
        AssertRefused(run, "the backbone takes images 224 wide and 224 high and the pipeline's input is 1000 wide and 60 high",
            "set \"input\" to at least 224 high and 224 wide");
    }

    [Fact]
    public void A_synthetic_F1_threshold_from_defects_too_small_to_see_is_refused_at_fit()
    {
        // 1-pixel CutPaste patches: synthetic AUROC 0.51, and F1 was highest with every image called defective, so the
        // threshold rejected 5 of hazelnut's 6 good test parts (image AUROC 1.0: the scores were fine, the threshold not).
        var run = Fit("edge-synthetic-f1-tiny", p =>
        {
            p["synthesis"] = new JsonArray(new JsonObject { ["type"] = "synthesis.cutpaste", ["mode"] = "rectangle", ["areaRatioMin"] = 1e-9, ["areaRatioMax"] = 1e-9 });
            p["threshold"] = new JsonObject { ["type"] = "threshold.synthetic-f1" };
            p["calibration"]!["syntheticCount"] = 40;
        });
        AssertRefused(run, "threshold.synthetic-f1 sets the threshold where it best tells the synthetic defects from good images, and the model tells " +
            "the 40 synthetic defects from the 6 held-out good images little better than chance (synthetic AUROC 0.5", "Nothing was fitted", "use threshold.quantile");
    }
}
