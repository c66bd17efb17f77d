using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Tests.ModelFiles;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Engine;

/// <summary>
/// An image far darker or brighter than the good images a model was fitted on, or nearly flat (the empty fixture, the
/// part missing), still gets a verdict, and the result says the verdict compares it with parts seen otherwise.
/// </summary>
public class UnlikeLevelsTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);
    static string GoodPart => Hazelnut.Test.First(t => t.Label == 0).Path;

    /// <summary>
    /// The fixture without the part: the top-left 100 x 100 px of a good photo (background only) enlarged to the photo's
    /// size. Every patch of it is background the model has seen, so the default model passes it (0.013 before the check).
    /// </summary>
    static string WriteEmptyFixture(string target)
    {
        var part = ImageLoader.LoadRgb(GoodPart);
        const int side = 100;
        var corner = new float[3 * side * side];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < side; y++)
                Array.Copy(part.Pixels, (c * part.Height + y) * part.Width, corner, (c * side + y) * side, side);
        ImageLoader.SavePng(Resample.Resize(new ImageTensor(3, side, side, corner), part.Height, part.Width), target);
        return target;
    }

    /// <summary>A good part with every pixel times <paramref name="factor"/> (clipped): under- or overexposed.</summary>
    static string WriteExposed(float factor, string target)
    {
        var part = ImageLoader.LoadRgb(GoodPart);
        var pixels = part.Pixels.Select(v => Math.Min(1f, v * factor)).ToArray();
        ImageLoader.SavePng(new ImageTensor(3, part.Height, part.Width, pixels), target);
        return target;
    }

    [Fact]
    public void Pf_score_flags_the_empty_fixture_and_a_dark_or_bright_part_but_none_of_the_test_parts()
    {
        var folder = TestData.TempFolder("unlike-levels");
        var model = Path.Combine(folder, "m.pfmodel");
        var (code, _, err) = PfProcess.Run("fit", "--pipeline", TestData.Pipeline("patchcore-mobilenet"), "--data", TestData.Hazelnut, "--model", model);
        Assert.True(code == 0, err);
        var levels = JsonNode.Parse(ModelFileEntries.ReadText(model, "manifest.json"))!["training"]!["imageLevels"]!;
        double minBrightness = levels["minBrightness"]!.GetValue<double>(), minContrast = levels["minContrast"]!.GetValue<double>();
        Assert.InRange(minBrightness, 100, levels["maxBrightness"]!.GetValue<double>());

        var odd = Path.Combine(folder, "odd");
        Directory.CreateDirectory(odd);
        var empty = WriteEmptyFixture(Path.Combine(odd, "empty.png"));
        Assert.True(ImageLevels.Measure(ImageLoader.LoadRgb(empty)).Contrast < minContrast / 2);
        WriteExposed(0.4f, Path.Combine(odd, "dark.png"));
        WriteExposed(2.5f, Path.Combine(odd, "bright.png"));
        var json = Path.Combine(folder, "odd.json");
        (code, var stdout, err) = PfProcess.Run("score", "--model", model, "--images", odd, "--out", json);
        Assert.True(code == 0, err);
        Assert.Equal(3, stdout.Split('\n').Count(l => l.Contains("(unlike the fitted images)")));
        Assert.Contains("empty.png: The image's brightness hardly varies", err);
        Assert.Contains("dark.png: The image's mean brightness", err);
        Assert.Contains("is far below that of the good images the model was fitted on", err);
        Assert.Contains("bright.png: The image's mean brightness", err);
        Assert.Contains("is far above", err);
        var rows = JsonNode.Parse(File.ReadAllText(json))!["results"]!.AsArray();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Contains("Its score compares it with parts seen otherwise", r!["input_warning"]!.GetValue<string>()));

        // Every test part, good or defective (the colour defects are the brightest), is lit as the training parts were.
        foreach (var type in new[] { "good", "colour" })
        {
            (code, stdout, err) = PfProcess.Run("score", "--model", model, "--images", Path.Combine(TestData.Hazelnut, "test", type));
            Assert.True(code == 0, err);
            Assert.Contains("score verdict", stdout);
            Assert.DoesNotContain("unlike", stdout + err);
        }
    }

    [Fact]
    public void Pf_fit_names_an_empty_fixture_among_the_good_images_and_leaves_it_out_of_the_kept_levels()
    {
        var folder = TestData.TempFolder("unlike-levels-train");
        var good = Path.Combine(folder, "good");
        Directory.CreateDirectory(good);
        foreach (var t in Hazelnut.Train.Take(10)) File.Copy(t.Path, Path.Combine(good, Path.GetFileName(t.Path)));
        var empty = WriteEmptyFixture(Path.Combine(good, "misfire.png"));
        var model = Path.Combine(folder, "m.pfmodel");
        var (code, _, err) = PfProcess.Run("fit", "--pipeline", TestData.Pipeline("patchcore-mobilenet"), "--data", good, "--model", model);
        Assert.True(code == 0, err);
        Assert.Contains("warning: 1 of 11 good images is unlike the others (", err);
        Assert.Contains("misfire.png: its brightness hardly varies", err);
        var levels = JsonNode.Parse(ModelFileEntries.ReadText(model, "manifest.json"))!["training"]!["imageLevels"]!;
        var fixture = ImageLevels.Measure(ImageLoader.LoadRgb(empty));
        Assert.True(levels["minContrast"]!.GetValue<double>() > 2 * fixture.Contrast);

        // The model has fitted the empty fixture as good, so it passes; the warning still says what it is.
        var (_, stdout, scoreErr) = PfProcess.Run("score", "--model", model, "--images", empty);
        Assert.Contains("(unlike the fitted images)", stdout);
        Assert.Contains("hardly varies", scoreErr);

        // The good images alone: nothing named.
        File.Delete(empty);
        (code, _, err) = PfProcess.Run("fit", "--pipeline", TestData.Pipeline("patchcore-mobilenet"), "--data", good, "--model", model);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("unlike", err);
    }

    [Fact]
    public void A_pipeline_that_moves_each_images_mean_brightness_compares_contrast_only()
    {
        var folder = TestData.TempFolder("unlike-levels-mean");
        var json = File.ReadAllText(TestData.Pipeline("patchcore-mobilenet")).Replace("\"crop\": 224 }", "\"crop\": 224, \"intensity\": \"mean\" }");
        var pipeline = AnomalyPipeline.FromJson(json, TestData.Catalog);
        Assert.Equal(IntensityMode.Mean, pipeline.Spec.Preprocessing.Intensity);
        using var fitted = pipeline.Fit(Hazelnut.Train.Take(6).Select(t => t.Path).ToList());
        var results = fitted.Inspect([WriteExposed(1.3f, Path.Combine(folder, "bright.png")), WriteEmptyFixture(Path.Combine(folder, "empty.png"))]);
        Assert.Null(results[0].InputWarning);
        Assert.Contains("hardly varies", results[1].InputWarning);
    }

    [Fact]
    public void Levels_that_cannot_be_in_a_model_file_are_refused_and_a_file_without_them_flags_nothing()
    {
        var pipeline = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog);
        using var fitted = pipeline.Fit(Hazelnut.Train.Take(6).Select(t => t.Path).ToList());
        var folder = TestData.TempFolder("unlike-levels-edited");
        var modelPath = Path.Combine(folder, "m.pfmodel");
        fitted.Save(modelPath);
        var manifest = JsonNode.Parse(ModelFileEntries.ReadText(modelPath, "manifest.json"))!;
        manifest["training"]!["imageLevels"]!["minBrightness"] = 300;
        ModelFileEntries.ReplaceText(modelPath, new Dictionary<string, string> { ["manifest.json"] = manifest.ToJsonString() });
        var error = Assert.Throws<PipelineException>(() => AnomalyModel.Load(modelPath, TestData.Catalog));
        Assert.Contains("training.imageLevels (brightness 300-", error.Message);

        using var old = AnomalyModel.Load(ModelFileSurgery.Format1Path, TestData.Catalog);
        Assert.Null(old.Manifest.Training.ImageLevels);
        Assert.Null(old.Inspect([WriteEmptyFixture(Path.Combine(folder, "empty.png"))])[0].InputWarning);
    }

    [Fact]
    public void Brightness_within_the_margin_passes_and_contrast_under_half_the_lowest_is_flagged()
    {
        var good = GoodImageLevels.Of([new ImageLevels(172, 20), new ImageLevels(186, 16.2)])!;
        Assert.Equal(new GoodImageLevels(172, 186, 16.2), good);
        Assert.Null(good.Difference(new ImageLevels(147.5, 14.1), compareBrightness: true));    // KolektorSDD-like spread
        Assert.Null(good.Difference(new ImageLevels(211, 8.2), compareBrightness: true));
        Assert.Contains("far below", good.Difference(new ImageLevels(146, 20), compareBrightness: true));
        Assert.Contains("far above", good.Difference(new ImageLevels(212, 20), compareBrightness: true));
        Assert.Null(good.Difference(new ImageLevels(212, 20), compareBrightness: false));
        Assert.Contains("hardly varies", good.Difference(new ImageLevels(180, 8), compareBrightness: true));
        // Among good images: compared with their median, with twice the margins.
        var outliers = GoodImageLevels.Outliers([new(180, 20), new(185, 18), new(175, 22), new(180, 2.4), new(120, 15), new(231, 20), new(229, 20)]);
        Assert.Equal([3, 4, 5], outliers.Select(o => o.Index));
        Assert.Contains("hardly varies", outliers[0].Reason);
        Assert.Contains("mean brightness 120 of 255, where the good images' median is 180", outliers[1].Reason);
        Assert.Empty(GoodImageLevels.Outliers([new(180, 20), new(10, 1)]));                     // two images: no majority
        // A uniform image has no spread at all.
        var flat = ImageLevels.Measure(new ImageTensor(3, 10, 10, Enumerable.Repeat(0.5f, 300).ToArray()));
        Assert.Equal(127.5, flat.Brightness, 3);
        Assert.Equal(0, flat.Contrast, 3);
    }
}
