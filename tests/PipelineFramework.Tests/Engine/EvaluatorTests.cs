using System.Globalization;
using System.Text.Json.Nodes;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Engine;

public class EvaluatorTests
{
    [Fact]
    public void Evaluate_on_the_shipped_hazelnut_set_writes_metrics_scores_and_report()
    {
        var result = TestData.PatchcoreEvaluation(TestData.Hazelnut);
        var outDir = result.OutputFolder;

        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))!;
        foreach (var key in new[] { "image_auroc", "pixel_auroc", "fit_seconds", "ms_per_image", "train_images", "test_images" })
            Assert.NotNull(metrics[key]);
        Assert.Equal(28, metrics["train_images"]!.GetValue<int>());
        Assert.Equal(23, metrics["test_images"]!.GetValue<int>());
        Assert.Equal(0, metrics["unlike_image_count"]!.GetValue<int>());
        Assert.True(metrics["image_auroc"]!.GetValue<double>() >= 0.95, $"image AUROC {metrics["image_auroc"]}");
        Assert.True(metrics["pixel_auroc"]!.GetValue<double>() >= 0.9, $"pixel AUROC {metrics["pixel_auroc"]}");

        var lines = File.ReadAllLines(Path.Combine(outDir, "scores.csv"));
        Assert.Equal("path,label,score", lines[0]);
        Assert.Equal(24, lines.Length);
        var rows = lines[1..].Select(l => l.Split(',')).ToList();
        Assert.Equal(17, rows.Count(r => r[1] == "1"));
        Assert.All(rows, r => Assert.True(File.Exists(r[0])));
        // The AUROC in metrics.json is the one the scores in scores.csv give (pair count, ties half).
        var good = rows.Where(r => r[1] == "0").Select(r => double.Parse(r[2], CultureInfo.InvariantCulture)).ToList();
        var bad = rows.Where(r => r[1] == "1").Select(r => double.Parse(r[2], CultureInfo.InvariantCulture)).ToList();
        double pairs = bad.Sum(b => good.Sum(g => b > g ? 1.0 : b == g ? 0.5 : 0.0));
        Assert.Equal(pairs / (good.Count * bad.Count), metrics["image_auroc"]!.GetValue<double>(), 12);
        Assert.Equal(result.Metrics.ImageAuroc, metrics["image_auroc"]!.GetValue<double>());

        Assert.True(new FileInfo(Path.Combine(outDir, "report.html")).Length > 1000);
    }
}

public class DatasetRootEvaluationTests
{
    static void CopyTree(string source, string target)
    {
        foreach (var dir in Directory.GetDirectories(source, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(dir.Replace(source, target));
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(source, target));
    }

    [Fact]
    public void A_test_image_unlike_the_training_images_is_scored_and_listed_with_the_reason()
    {
        var category = Path.Combine(TestData.TempFolder("unlike-test-image"), "hazelnut");
        CopyTree(TestData.Hazelnut, category);
        var good = Directory.GetFiles(Path.Combine(category, "test", "good")).Order().First();
        var thumbnail = TestData.WriteThumbnail(good, Path.ChangeExtension(good, ".png"));
        File.Delete(good);

        var pipeline = AnomalyPipeline.FromJson("""
            { "name": "unlike-test", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim", "reducedDim": 32 } }
            """, TestData.Catalog);
        var outDir = TestData.TempFolder("unlike-test-image-out");
        var result = Evaluator.Run(pipeline, category, outDir).Single();

        Assert.Equal(23, result.TestImages);
        var unlike = Assert.Single(result.UnlikeImages);
        Assert.Equal(thumbnail, unlike.Image);
        Assert.Contains("shorter side", unlike.Warning);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))!;
        Assert.Equal(1, metrics["unlike_image_count"]!.GetValue<int>());
        Assert.Equal(thumbnail, metrics["unlike_images"]![0]!["image"]!.GetValue<string>());
        Assert.Contains("1 test images unlike the good training images", Evaluator.FormatTable([result]));
    }

    [Fact]
    public void Evaluate_over_a_root_writes_one_folder_per_category_and_a_summary_with_the_mean()
    {
        var root = TestData.TempFolder("root");
        CopyTree(TestData.Hazelnut, Path.Combine(root, "hazelnut"));
        // A second category: the same nuts with fewer training images, so its numbers differ.
        CopyTree(TestData.Hazelnut, Path.Combine(root, "nut_small"));
        foreach (var file in Directory.GetFiles(Path.Combine(root, "nut_small", "train", "good")).Order().Skip(8)) File.Delete(file);
        Directory.CreateDirectory(Path.Combine(root, "not_a_category"));

        var pipeline = AnomalyPipeline.FromJson("""
            { "name": "root-test", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim", "reducedDim": 32 } }
            """, TestData.Catalog);
        var outDir = TestData.TempFolder("root-out");
        var results = Evaluator.Run(pipeline, root, outDir);

        Assert.Equal(["hazelnut", "nut_small"], results.Select(r => r.Category));
        foreach (var category in new[] { "hazelnut", "nut_small" })
            foreach (var file in new[] { "metrics.json", "scores.csv", "report.html" })
                Assert.True(File.Exists(Path.Combine(outDir, category, file)), $"{category}/{file}");
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        var rows = summary["categories"]!.AsArray();
        Assert.Equal(2, rows.Count);
        Assert.Equal(8, rows[1]!["train_images"]!.GetValue<int>());
        double mean = (rows[0]!["pixel_auroc"]!.GetValue<double>() + rows[1]!["pixel_auroc"]!.GetValue<double>()) / 2;
        Assert.Equal(mean, summary["mean"]!["pixel_auroc"]!.GetValue<double>(), 12);
        var table = Evaluator.FormatTable(results);
        Assert.Contains("nut_small", table);
        Assert.Contains("mean", table);
    }

    [Fact]
    public void A_folder_without_categories_is_a_clear_error()
    {
        var e = Assert.Throws<PipelineFramework.Abstractions.PipelineException>(() =>
            Evaluator.Run(AnomalyPipeline.FromFile(TestData.Pipeline("padim-mobilenet"), TestData.Catalog), TestData.TempFolder("empty"), TestData.TempFolder("o")));
        Assert.Contains("train/good", e.Message);
    }
}

public class BottleAccuracyTests
{
    /// <summary>The accuracy the PatchCore README claims, re-measured on every CI run (about 10 s on 2 cores).</summary>
    [SharedDataFact]
    public void Patchcore_mobilenet_on_bottle_reaches_the_published_class_accuracy()
    {
        var result = TestData.PatchcoreEvaluation(TestData.Bottle);
        Assert.True(result.Metrics.ImageAuroc >= 0.99, $"image AUROC {result.Metrics.ImageAuroc}");
        Assert.True(result.Metrics.PixelAuroc >= 0.97, $"pixel AUROC {result.Metrics.PixelAuroc}");
        Assert.Equal(83, result.TestImages);
        // Synthetic anomalies made from held-out good images are separated too (no test image involved).
        Assert.True(result.SyntheticAuroc >= 0.9, $"synthetic AUROC {result.SyntheticAuroc}");
    }
}
