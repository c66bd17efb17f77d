using System.Text.Json.Nodes;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Evaluation;

/// <summary>
/// `pf evaluate` over a data-set root (a real `pf` process, categories cut from the shipped hazelnuts): killed (SIGKILL)
/// after its first category, the summary.json it leaves is this run's and says it is incomplete, never the earlier
/// run's numbers beside this run's category folders; a subfolder that is not a category is named, not left out silently.
/// </summary>
public class RootRunTests
{
    /// <summary>The first <paramref name="train"/> good training images and <paramref name="test"/> good and defective test images (with masks) of the shipped hazelnuts.</summary>
    static void Category(string folder, int train, int test)
    {
        void Copy(string from, string to, int count)
        {
            Directory.CreateDirectory(Path.Combine(folder, to));
            foreach (var file in Directory.GetFiles(Path.Combine(TestData.Hazelnut, from)).Order(StringComparer.Ordinal).Take(count))
                File.Copy(file, Path.Combine(folder, to, Path.GetFileName(file)));
        }
        Copy("train/good", "train/good", train);
        Copy("test/good", "test/good", test);
        Copy("test/colour", "test/colour", test);
        Copy("ground_truth/colour", "ground_truth/colour", test);
    }

    static JsonNode Json(string path) => JsonNode.Parse(File.ReadAllText(path))!;

    [Fact]
    public async Task A_root_run_killed_after_its_first_category_leaves_a_summary_that_says_it_is_incomplete_and_not_the_earlier_one()
    {
        var work = TestData.TempFolder("killed-root");
        var root = Path.Combine(work, "data");
        Category(Path.Combine(root, "alpha"), 5, 2);
        // All the shipped hazelnuts: seconds to evaluate, so the run is surely killed before beta, however loaded the machine.
        Category(Path.Combine(root, "beta"), int.MaxValue, int.MaxValue);
        var outDir = Path.Combine(work, "out");

        var (code, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);
        Assert.True(code == 0, stderr);
        var finished = Json(Path.Combine(outDir, "summary.json"));
        Assert.True(finished["complete"]!.GetValue<bool>());
        Assert.Empty(finished["pending_categories"]!.AsArray());
        Assert.Equal(["alpha", "beta"], finished["categories"]!.AsArray().Select(c => c!["category"]!.GetValue<string>()));

        // Another pipeline over the same output, killed once alpha holds its results.
        using (var run = PfProcess.Start(null, "evaluate", "--pipeline", "patchcore-mobilenet", "--data", root, "--out", outDir))
        {
            var stderrOfRun = run.StandardError.ReadToEndAsync();   // read while it runs: a full pipe would stall pf
            _ = run.StandardOutput.ReadToEndAsync();
            var alphaMetrics = Path.Combine(outDir, "alpha", "metrics.json");
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (Json(alphaMetrics)["pipeline"]!.GetValue<string>() != "patchcore-mobilenet")
            {
                if (run.HasExited) Assert.Fail("pf finished before it could be killed after its first category: " + await stderrOfRun);
                Assert.True(DateTime.UtcNow < deadline, "alpha was not evaluated within 3 minutes");
                await Task.Delay(20);
            }
            run.Kill();   // SIGKILL: no handler runs
            run.WaitForExit();
        }
        Assert.Equal("padim-mobilenet", Json(Path.Combine(outDir, "beta", "metrics.json"))["pipeline"]!.GetValue<string>());

        // Before: the earlier run's summary (padim-mobilenet, both categories, its numbers) beside alpha's new results.
        var summary = Json(Path.Combine(outDir, "summary.json"));
        Assert.Equal("patchcore-mobilenet", summary["pipeline"]!.GetValue<string>());
        Assert.False(summary["complete"]!.GetValue<bool>());
        // Killed between alpha's files and the summary after them, alpha is still listed as pending; beta always is.
        Assert.Contains("beta", summary["pending_categories"]!.AsArray().Select(p => p!.GetValue<string>()));
        foreach (var row in summary["categories"]!.AsArray())
        {
            var category = row!["category"]!.GetValue<string>();
            Assert.Equal("alpha", category);
            Assert.Equal(Json(Path.Combine(outDir, category, "metrics.json"))["pixel_auroc"]!.GetValue<double>(), row["pixel_auroc"]!.GetValue<double>());
        }
    }

    [Fact]
    public void Subfolders_of_a_root_that_are_not_categories_are_named_in_a_warning()
    {
        var root = Path.Combine(TestData.TempFolder("root-not-categories"), "data");
        Category(Path.Combine(root, "alpha"), 5, 2);
        Category(Path.Combine(root, "one"), 1, 2);                                    // a category that cannot be fitted
        Directory.CreateDirectory(Path.Combine(root, "empty"));                       // a copy that went wrong
        Directory.CreateDirectory(Path.Combine(root, "bravo", "Train", "good"));      // train/ in another case
        Directory.CreateDirectory(Path.Combine(root, ".ipynb_checkpoints"));          // hidden: not data, not named

        var outDir = Path.Combine(Path.GetDirectoryName(root)!, "out");
        var (code, stdout, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);

        // Before: only alpha was evaluated, without a word about the other two.
        Assert.True(code == 1, stderr);
        Assert.Contains($"warning: {root}: left out, not category folders (no train/good inside): bravo, empty.", stderr);
        Assert.Contains("one              FAILED: one: train/good holds 1 image; at least 2 are needed.", stdout);   // before: "1 images"
        var summary = Json(Path.Combine(outDir, "summary.json"));
        Assert.Equal(["alpha"], summary["categories"]!.AsArray().Select(c => c!["category"]!.GetValue<string>()));
        // The file says so too, for a reader that never saw the terminal.
        Assert.Equal(["bravo", "empty"], summary["left_out_folders"]!.AsArray().Select(f => f!.GetValue<string>()));
    }

    [Fact]
    public void A_file_where_a_categorys_folder_goes_fails_that_category_by_name_and_the_others_are_evaluated()
    {
        var work = TestData.TempFolder("root-file-in-the-way");
        var root = Path.Combine(work, "data");
        Category(Path.Combine(root, "alpha"), 5, 2);
        Category(Path.Combine(root, "beta"), 5, 2);
        var outDir = Directory.CreateDirectory(Path.Combine(work, "out")).FullName;
        File.WriteAllText(Path.Combine(outDir, "alpha"), "not a folder");

        var (code, stdout, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);

        // Before: "error: unexpected IOException: The file '<out>/alpha' already exists. ... please report this bug", exit 2, beta not evaluated.
        Assert.True(code == 1, stderr);
        Assert.Contains($"alpha            FAILED: Cannot create the folder {outDir}/alpha: {outDir}/alpha is a file, in the way. Move it away or choose another output folder.", stdout);
        Assert.Contains("error: 1 of 2 categories failed (alpha)", stderr);
        Assert.DoesNotContain("unexpected", stderr);
        Assert.Equal("not a folder", File.ReadAllText(Path.Combine(outDir, "alpha")));
        Assert.Equal("padim-mobilenet", Json(Path.Combine(outDir, "beta", "metrics.json"))["pipeline"]!.GetValue<string>());
    }

    [Fact]
    public void Out_as_the_parent_of_a_root_holding_a_category_of_its_own_name_is_refused_before_any_work()
    {
        var work = TestData.TempFolder("root-out-parent");
        // A data-set root named like one of its categories: over a root, results go to <out>/<category>, so --out work
        // put hazelnut's results into work/hazelnut, the data folder itself.
        var root = Path.Combine(work, "hazelnut");
        Category(Path.Combine(root, "hazelnut"), 5, 2);
        Category(Path.Combine(root, "other"), 5, 2);
        var link = Path.Combine(TestData.TempFolder("root-out-parent-link"), "link");
        Directory.CreateSymbolicLink(link, work);
        var before = FolderBytes.Read(work);

        foreach (var outDir in new[] { work, Path.Combine(root, ".."), link })
        {
            var (code, stdout, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);
            // Before: exit 0, and metrics.json, scores.csv, explanations.json and report.html written into the data root.
            Assert.True(code == 1, stderr);
            Assert.Equal($"error: --out {outDir}: over a data-set root each category's results go to <out>/<category>, and {Path.Combine(outDir, "hazelnut")} is " +
                $"the data folder (--data); outputs would mix with the inputs. Choose another folder, e.g. {root}-results.", stderr.Trim());
            Assert.Equal("", stdout);
        }
        FolderBytes.AssertUnchanged(before, work);

        // The folder suggested is accepted, and the results go beside the data.
        var suggested = root + "-results";
        var (okCode, _, okErr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", suggested);
        Assert.True(okCode == 0, okErr);
        Assert.True(File.Exists(Path.Combine(suggested, "hazelnut", "metrics.json")));
        FolderBytes.AssertUnchanged(before.Where(f => f.Key.StartsWith(root + Path.DirectorySeparatorChar)).ToDictionary(), root);
    }

    [Fact]
    public void Out_as_another_ancestor_of_the_data_is_accepted_and_the_results_land_beside_the_data_never_in_it()
    {
        var work = TestData.TempFolder("root-out-ancestor");
        var root = Path.Combine(work, "data");
        var category = Path.Combine(root, "alpha");
        Category(category, 5, 2);
        var before = FolderBytes.Read(root);

        // A category with --out the root that holds it: its results are files in the root, which no run reads as data.
        var (code, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", category, "--out", root);
        Assert.True(code == 0, stderr);
        Assert.Equal(["explanations.json", "metrics.json", "report.html", "scores.csv"], Directory.GetFiles(root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        FolderBytes.AssertUnchanged(before, category);
        // ... and that root read as data afterwards holds the same one category, without a warning about the files.
        (code, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", work);
        Assert.True(code == 0, stderr);
        // (5 training images hold out 1, which the fit warns about; that warning is not about the files.)
        Assert.DoesNotContain(stderr.Split('\n'), l => l.StartsWith("warning:") && !l.Contains("held-out good image"));
        Assert.Equal(["alpha"], Json(Path.Combine(work, "summary.json"))["categories"]!.AsArray().Select(c => c!["category"]!.GetValue<string>()));
        Assert.True(File.Exists(Path.Combine(work, "alpha", "metrics.json")));
        FolderBytes.AssertUnchanged(before, category);
    }

    [Fact]
    public void A_category_that_fails_leaves_no_folder_and_an_earlier_runs_results_in_its_folder_stay_as_they_were()
    {
        var work = TestData.TempFolder("root-failed-folder");
        var root = Path.Combine(work, "data");
        Category(Path.Combine(root, "alpha"), 5, 2);
        Category(Path.Combine(root, "beta"), 5, 2);
        // Unreadable training images fail beta in its fit, after its output folder was made.
        var garbled = Path.Combine(root, "garbled");
        Category(garbled, 5, 2);
        foreach (var image in Directory.GetFiles(Path.Combine(garbled, "train", "good"))) File.WriteAllText(image, "not an image");
        var outDir = Path.Combine(work, "out");

        var (code, stdout, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);
        // Before: an empty out/garbled beside alpha's and beta's results.
        Assert.True(code == 1, stderr);
        Assert.Contains("garbled          FAILED: Cannot decode image", stdout);
        Assert.False(Directory.Exists(Path.Combine(outDir, "garbled")));
        Assert.Equal(["alpha", "beta", "summary.json"], Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("garbled", Json(Path.Combine(outDir, "summary.json"))["failed_categories"]![0]!["category"]!.GetValue<string>());

        // beta's results from this run; then beta fails: they stay, byte for byte.
        var betaResults = FolderBytes.Read(Path.Combine(outDir, "beta"));
        foreach (var image in Directory.GetFiles(Path.Combine(root, "beta", "train", "good"))) File.WriteAllText(image, "not an image");
        (code, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);
        Assert.True(code == 1, stderr);
        Assert.Contains("error: 2 of 3 categories failed (beta, garbled)", stderr);
        FolderBytes.AssertUnchanged(betaResults, Path.Combine(outDir, "beta"));
        Assert.False(Directory.Exists(Path.Combine(outDir, "garbled")));
    }
}
