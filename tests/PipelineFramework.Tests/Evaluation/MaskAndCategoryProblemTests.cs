using System.Text.Json.Nodes;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Evaluation;

/// <summary>
/// An evaluation over a data-set root holding the shipped hazelnut set with one mask of the wrong size and one mask
/// missing, a category whose train/good is empty and one whose training images are unreadable.
/// </summary>
public class MaskAndCategoryProblemTests
{
    static readonly Lazy<(string Root, string Out, EvaluationResults Results)> Evaluation = new(() =>
    {
        var root = TestData.TempFolder("problem-root");
        var hazelnut = Path.Combine(root, "hazelnut");
        CopyTree(TestData.Hazelnut, hazelnut);
        var masks = Path.Combine(hazelnut, "ground_truth", "colour");
        SaveDownscaledMask(Path.Combine(masks, "03.png"), 256, 256);
        File.Delete(Path.Combine(masks, "05.png"));
        MakeBrokenCategories(root);

        var pipeline = AnomalyPipeline.FromJson("""
            { "name": "problems-test", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim", "reducedDim": 32 } }
            """, TestData.Catalog);
        var outDir = TestData.TempFolder("problem-out");
        return (root, outDir, Evaluator.Run(pipeline, root, outDir));
    });

    internal static void MakeBrokenCategories(string root)
    {
        var goodTest = Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "good")).Order(StringComparer.Ordinal).First();
        var empty = Path.Combine(root, "empty_train");
        Directory.CreateDirectory(Path.Combine(empty, "train", "good"));
        Directory.CreateDirectory(Path.Combine(empty, "test", "good"));
        File.Copy(goodTest, Path.Combine(empty, "test", "good", "00.jpg"));

        var unreadable = Path.Combine(root, "unreadable");
        Directory.CreateDirectory(Path.Combine(unreadable, "train", "good"));
        for (int i = 0; i < 3; i++) File.WriteAllText(Path.Combine(unreadable, "train", "good", $"0{i}.png"), "this is not a PNG");
        Directory.CreateDirectory(Path.Combine(unreadable, "test", "good"));
        File.Copy(goodTest, Path.Combine(unreadable, "test", "good", "00.jpg"));
        // A defective test image too: a test set of one class is refused before the fit, which this category must reach.
        Directory.CreateDirectory(Path.Combine(unreadable, "test", "colour"));
        File.Copy(Path.Combine(TestData.Hazelnut, "test", "colour", "03.jpg"), Path.Combine(unreadable, "test", "colour", "03.jpg"));
    }

    static void CopyTree(string source, string target)
    {
        foreach (var dir in Directory.GetDirectories(source, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(dir.Replace(source, target));
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(source, target));
    }

    static void SaveDownscaledMask(string path, int width, int height)
    {
        using var original = SKBitmap.Decode(path);
        using var small = original.Resize(new SKImageInfo(width, height, SKColorType.Gray8), SKSamplingOptions.Default);
        using var data = small.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void Failed_categories_are_recorded_and_the_others_still_evaluated()
    {
        var (root, outDir, results) = Evaluation.Value;
        Assert.Equal(["hazelnut"], results.Select(r => r.Category));
        Assert.Equal(["empty_train", "unreadable"], results.Failures.Select(f => f.Category));
        Assert.Contains("train/good holds no PNG, JPEG or BMP images", results.Failures[0].Error);
        Assert.Contains("00.png", results.Failures[1].Error);

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal(2, summary["failed_count"]!.GetValue<int>());
        var failed = summary["failed_categories"]!.AsArray();
        Assert.Equal(["empty_train", "unreadable"], failed.Select(f => f!["category"]!.GetValue<string>()));
        Assert.Equal(results.Failures[1].Error, failed[1]!["error"]!.GetValue<string>());
        Assert.Single(summary["categories"]!.AsArray());
        Assert.Equal(results[0].Metrics.ImageAuroc, summary["mean"]!["image_auroc"]!.GetValue<double>());

        var table = Evaluator.FormatTable(results);
        Assert.Contains("empty_train      FAILED: ", table);
        Assert.Contains("unreadable       FAILED: ", table);
        Assert.True(File.Exists(Path.Combine(outDir, "hazelnut", "report.html")));
    }

    [Fact]
    public void Wrong_size_and_missing_masks_are_reported_per_image_and_left_out_of_pixel_metrics()
    {
        var (root, outDir, results) = Evaluation.Value;
        var hazelnut = results[0];
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "hazelnut", "metrics.json")))!;

        Assert.Equal(2, metrics["mask_problem_count"]!.GetValue<int>());
        var problems = metrics["mask_problems"]!.AsArray().ToDictionary(p => Path.GetFileName(p!["image"]!.GetValue<string>()), p => p!);
        Assert.Equal(["03.jpg", "05.jpg"], problems.Keys.Order());
        Assert.Equal("mask is 256 x 256 pixels but its image is 512 x 512; a mask must have its image's size", problems["03.jpg"]["problem"]!.GetValue<string>());
        Assert.EndsWith(Path.Combine("ground_truth", "colour", "03.png"), problems["03.jpg"]["mask"]!.GetValue<string>());
        Assert.Contains("no mask: none of ground_truth/colour/05_mask.png, 05.png or 05.jpg exists", problems["05.jpg"]["problem"]!.GetValue<string>());
        Assert.Null(problems["05.jpg"]["mask"]);

        // 23 test images, two without a usable mask: pixel metrics over the other 21, which metrics.json says.
        Assert.Equal(23, metrics["test_images"]!.GetValue<int>());
        Assert.Equal(21, metrics["pixel_metric_images"]!.GetValue<int>());
        Assert.Equal(21, hazelnut.Metrics.PixelMetricImages);
        Assert.True(metrics["pixel_auroc"]!.GetValue<double>() > 0.9, $"pixel AUROC {metrics["pixel_auroc"]}");
        // Image metrics still count every image.
        Assert.Equal(17, hazelnut.Metrics.DefectiveImages);

        var html = File.ReadAllText(Path.Combine(outDir, "hazelnut", "report.html"));
        Assert.Contains("Mask problems: 2 defective images left out of the pixel metrics", html);
        Assert.Contains("mask is 256 x 256 pixels but its image is 512 x 512", html);
        Assert.Contains("21 of 23 images", html);
        Assert.Contains("hazelnut: 2 defective images without a usable mask, left out of the pixel metrics (21 of 23 images counted)",
            Evaluator.FormatTable(results));
    }

    [Fact]
    public void Pf_evaluate_exits_1_when_a_category_fails_after_writing_the_summary()
    {
        var root = TestData.TempFolder("cli-broken-root");
        MakeBrokenCategories(root);
        var outDir = TestData.TempFolder("cli-broken-out");
        var (exitCode, stdout, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);

        Assert.Equal(1, exitCode);
        Assert.Contains("empty_train      FAILED: ", stdout);
        Assert.Contains("error: 2 of 2 categories failed (empty_train, unreadable)", stderr);
        Assert.DoesNotContain("   at ", stderr);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        Assert.Equal(2, summary["failed_count"]!.GetValue<int>());
    }
}
