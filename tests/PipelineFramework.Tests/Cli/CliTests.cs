using System.Text.Json.Nodes;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Cli;

/// <summary>The real `pf` executable, as users and CI scripts run it.</summary>
public class CliTests
{
    static (int ExitCode, string Out, string Err) Pf(params string[] args) => PfProcess.Run(args);

    [Fact]
    public void Plugins_lists_the_shipped_components()
    {
        var (code, output, _) = Pf("plugins");
        Assert.Equal(0, code);
        foreach (var type in new[] { "backbone.onnx", "embedding.patch", "scoring.patchcore", "scoring.padim", "scoring.simplenet", "synthesis.cutpaste", "threshold.quantile" })
            Assert.Contains(type, output);
    }

    [Fact]
    public void User_errors_are_one_clear_line_and_exit_code_1()
    {
        var (code, _, err) = Pf("evaluate", "--pipeline", "/nowhere/p.json", "--data", TestData.Hazelnut, "--out", TestData.TempFolder("cli"));
        Assert.Equal(1, code);
        Assert.Contains("error: Pipeline file not found: /nowhere/p.json", err);
        Assert.DoesNotContain("   at ", err);

        var bad = Path.Combine(TestData.TempFolder("cli"), "bad.json");
        File.WriteAllText(bad, """{ "name": "x", "features": { "type": "features.onnx", "layer": [] }, "scoring": { "type": "scoring.padim" } }""");
        (code, _, err) = Pf("fit", "--pipeline", bad, "--data", TestData.Hazelnut, "--model", Path.Combine(TestData.TempFolder("cli"), "m.pfmodel"));
        Assert.Equal(1, code);
        Assert.Contains("$.features.layer", err);
        Assert.Contains("layers", err);
    }

    [Fact]
    public void Paths_that_are_not_what_the_option_takes_are_refused_before_any_work()
    {
        var folder = TestData.TempFolder("cli-paths");
        var model = Path.Combine(folder, "m.pfmodel");
        // A FIFO as a model or pipeline blocked pf in open(2), where neither Ctrl+C nor SIGTERM reached it.
        if (OperatingSystem.IsLinux())
        {
            var fifo = Path.Combine(folder, "fifo.pfmodel");
            System.Diagnostics.Process.Start("mkfifo", fifo)!.WaitForExit();
            var (code, _, err) = Pf("score", "--model", fifo, "--images", Path.Combine(TestData.Hazelnut, "test", "good"));
            Assert.Equal(1, code);
            Assert.Contains($"Model file '{fifo}' is a FIFO (named pipe), not a regular file", err);
            (code, _, err) = Pf("fit", "--pipeline", fifo, "--data", TestData.Hazelnut, "--model", model);
            Assert.Equal(1, code);
            Assert.Contains($"Pipeline file '{fifo}' is a FIFO (named pipe)", err);
        }
        var (exit, _, error) = Pf("fit", "--pipeline", folder, "--data", TestData.Hazelnut, "--model", model);
        Assert.Equal(1, exit);
        Assert.Contains($"Pipeline file '{folder}' is a folder, not a regular file", error);   // was "not found"
        (exit, _, error) = Pf("evaluate", "--pipeline", "patchcore-mobilenet", "--data", Path.Combine(TestData.Hazelnut, "train", "good", "00.jpg"), "--out", folder);
        Assert.Equal(1, exit);
        Assert.Contains("00.jpg' is a file, not a folder", error);   // was "does not exist"
        // A legal 245-character name failed only after the fit, when its temporary (the name + .tmp-<pid>-<hex>) was too long.
        (exit, var output, error) = Pf("fit", "--pipeline", "patchcore-mobilenet", "--data", TestData.Hazelnut, "--model", Path.Combine(folder, new string('c', 245) + ".pfmodel"));
        Assert.Equal(1, exit);
        Assert.Contains("is longer than 231 bytes; choose a shorter one", error);
        Assert.DoesNotContain("Fitting", output);
        Assert.DoesNotContain(Directory.GetFiles(folder, "*.pfmodel*"), f => !f.EndsWith("fifo.pfmodel"));
    }

    [Fact]
    public void Evaluate_fit_and_score_work_end_to_end()
    {
        var outDir = TestData.TempFolder("cli-eval");
        var (code, output, err) = Pf("evaluate", "--pipeline", "padim-mobilenet", "--data", TestData.Hazelnut, "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("hazelnut", output);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))!;
        Assert.True(metrics["image_auroc"]!.GetValue<double>() > 0.9);
        Assert.Equal("path,label,score", File.ReadLines(Path.Combine(outDir, "scores.csv")).First());

        var model = Path.Combine(outDir, "padim.pfmodel");
        (code, _, err) = Pf("fit", "--pipeline", "padim-mobilenet", "--data", TestData.Hazelnut, "--model", model);
        Assert.True(code == 0, err);
        var results = Path.Combine(outDir, "results.json");
        var maps = Path.Combine(outDir, "maps");
        (code, output, err) = Pf("score", "--model", model, "--images", Path.Combine(TestData.Hazelnut, "test", "colour"), "--out", results, "--maps", maps);
        Assert.True(code == 0, err);
        var rows = JsonNode.Parse(File.ReadAllText(results))!["results"]!.AsArray();
        Assert.Equal(17, rows.Count);
        Assert.True(rows.Count(r => r!["is_anomaly"]!.GetValue<bool>()) >= 15, "most colour defects are flagged");
        Assert.Equal(17, Directory.GetFiles(maps, "*.map.png").Length);

        // A damaged file among the parts costs its own result only: the rest are scored and written, the exit code says 1.
        var shift = TestData.TempFolder("cli-score-damaged");
        foreach (var image in Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "colour")).Order().Take(2))
            File.Copy(image, Path.Combine(shift, Path.GetFileName(image)));
        var damaged = Path.Combine(shift, "03-cut.jpg");
        File.WriteAllBytes(damaged, File.ReadAllBytes(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "colour")).Order().First())[..300]);
        var partial = Path.Combine(outDir, "partial.json");
        (code, output, err) = Pf("score", "--model", model, "--images", shift, "--out", partial);
        Assert.Equal(1, code);
        Assert.Contains("UNREAD    " + damaged, output);
        Assert.Contains("03-cut.jpg", err);
        Assert.Contains("1 of 3 images could not be read (above); the other 2 were scored", err);
        var written = JsonNode.Parse(File.ReadAllText(partial))!["results"]!.AsArray();
        Assert.Equal(3, written.Count);
        Assert.Equal(2, written.Count(r => r!["score"] is not null));
        Assert.Contains("03-cut.jpg", written.Single(r => r!["error"] is not null)!["error"]!.GetValue<string>());
    }

    [Fact]
    public void Synth_writes_images_masks_and_a_contact_sheet()
    {
        var outDir = TestData.TempFolder("cli-synth");
        var (code, _, err) = Pf("synth", "--pipeline", "patchcore-synthetic-f1", "--data", TestData.Hazelnut, "--out", outDir, "--count", "4");
        Assert.True(code == 0, err);
        Assert.Equal(4, Directory.GetFiles(outDir, "*_mask.png").Length);
        Assert.Equal(9, Directory.GetFiles(outDir, "*.png").Length);
        Assert.True(File.Exists(Path.Combine(outDir, "contact_sheet.png")));
        foreach (var mask in Directory.GetFiles(outDir, "*_mask.png"))
            Assert.Contains(PipelineFramework.Core.Images.ImageLoader.LoadGrey(mask).Values, v => v > 0.5f);

        (code, _, err) = Pf("synth", "--pipeline", "padim-mobilenet", "--data", TestData.Hazelnut, "--out", outDir, "--count", "0");
        Assert.Equal(1, code);
        Assert.Contains("--count", err);
    }
}
