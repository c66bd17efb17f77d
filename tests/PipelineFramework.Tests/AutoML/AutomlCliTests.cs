using System.Text.Json.Nodes;
using PipelineFramework.AutoML.Experiment;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.AutoML;

/// <summary>`pf automl` as users run it.</summary>
public class AutomlCliTests
{
    static (int ExitCode, string Out, string Err) Pf(params string[] args) => PfProcess.Run(args);

    static void CopyFolder(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(dir.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(file, file.Replace(from, to));
    }

    [Fact]
    public void The_search_never_reads_test_or_ground_truth_and_its_best_pipeline_scores_as_well_as_the_default()
    {
        var work = TestData.TempFolder("automl-garbage");
        var data = Path.Combine(work, "hazelnut");
        CopyFolder(TestData.Hazelnut, data);
        int garbled = 0;
        var random = new Random(7);
        foreach (var folder in new[] { "test", "ground_truth" })
            foreach (var file in Directory.GetFiles(Path.Combine(data, folder), "*", SearchOption.AllDirectories))
            {
                var bytes = new byte[1000];
                random.NextBytes(bytes);
                File.WriteAllBytes(file, bytes);
                garbled++;
            }
        Assert.True(garbled > 10);
        var outDir = Path.Combine(work, "out");
        // A small search (the shipped default's scorers and tiled inputs take minutes per trial on a loaded 2-core machine):
        // two input modes, patch size, coreset ratio and smoothing around the default pipeline.
        var search = Path.Combine(work, "search.json");
        File.WriteAllText(search, $$"""
            {
              "base": "patchcore-mobilenet",
              "search": {
                "input": [ { "size": 256, "crop": 224 }, { "size": 224, "crop": 224 } ],
                "embedding.patchSize": [1, 3, 5],
                "scoring.coresetRatio": "auto",
                "map.sigma": "auto"
              },
              "validation": { "syntheticCount": 30 }
            }
            """);

        var (code, stdout, stderr) = Pf("automl", "--search", search, "--data", data, "--out", outDir, "--trials", "6", "--budget", "3m");
        Assert.True(code == 0, $"pf automl failed ({code}):\n{stderr}");
        Assert.Contains("[hazelnut] trial 5 (6 done", stderr);
        Assert.Contains("hazelnut", stdout);
        Assert.Equal(6, File.ReadAllLines(Path.Combine(outDir, "trials.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(outDir, "model.pfmodel")));
        Assert.Contains("Pareto", File.ReadAllText(Path.Combine(outDir, "report.html")));

        // The garbage is real: evaluating on that copy fails on the first test image.
        var (evalCode, _, evalErr) = Pf("evaluate", "--data", data, "--out", Path.Combine(work, "eval-garbage"));
        Assert.Equal(1, evalCode);
        Assert.Contains("test", evalErr);

        // best.json is a plain pipeline that evaluates on the real test set as well as the shipped default.
        var best = AnomalyPipeline.FromFile(Path.Combine(outDir, "best.json"), TestData.Catalog);
        var chosen = Evaluator.Run(best, TestData.Hazelnut, Path.Combine(work, "eval-best"), new EvaluationOptions { GallerySize = 0 })[0].Metrics;
        var baseline = TestData.PatchcoreEvaluation(TestData.Hazelnut).Metrics;
        Assert.True(chosen.ImageAuroc >= baseline.ImageAuroc,
            $"best.json image AUROC {chosen.ImageAuroc:F4} is below the default's {baseline.ImageAuroc:F4} (pixel {chosen.PixelAuroc:F4} vs {baseline.PixelAuroc:F4})");
    }

    [Fact]
    public void Parallel_and_tuner_options_are_refused_with_what_to_write_before_any_search()
    {
        var outDir = Path.Combine(TestData.TempFolder("automl-options"), "out");
        var (code, _, stderr) = Pf("automl", "--data", TestData.Hazelnut, "--out", outDir, "--parallel", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("--parallel: '0' is not a number of trials at once", stderr);
        (code, _, stderr) = Pf("automl", "--data", TestData.Hazelnut, "--out", outDir, "--tuner", "halvin");
        Assert.NotEqual(0, code);
        Assert.Contains("cfo, random, grid, halving", stderr);
        (code, _, stderr) = Pf("automl", "--data", TestData.Hazelnut, "--out", outDir, "--trials", "99999999999");
        Assert.Equal(1, code);
        Assert.Contains("for option '--trials' as a whole number (at most 2147483647)", stderr);   // not "System.Nullable`1[System.Int32]"
        Assert.DoesNotContain("System.", stderr);
        // Before: "error: unexpected OverflowException: TimeSpan overflowed because the duration is too long ... please report this bug".
        (code, _, stderr) = Pf("automl", "--data", TestData.Hazelnut, "--out", outDir, "--budget", "99999999999h");
        Assert.Equal(1, code);
        Assert.Contains("error: --budget: '99999999999h' is longer than the longest budget, 100000h", stderr);
        // Before: "error: unexpected IOException: The file '<out>/hazelnut' already exists ... please report this bug", exit 2.
        var root = Path.Combine(TestData.TempFolder("automl-file-in-the-way"), "out");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "hazelnut"), "not a folder");
        (code, _, stderr) = Pf("automl", "--data", Path.GetDirectoryName(TestData.Hazelnut)!, "--out", root, "--parallel", "1000");
        Assert.Equal(1, code);
        Assert.Contains($"note: 1000 trials at once is more than this machine's {Environment.ProcessorCount} cores; {Environment.ProcessorCount} run at once", stderr);
        Assert.Contains($"error: Cannot create the folder {root}/hazelnut: {root}/hazelnut is a file, in the way. Move it away or choose another output folder.", stderr);
        (code, _, stderr) = Pf("automl", "--data", Path.Combine(TestData.Hazelnut, "train", "good", "00.jpg"), "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("00.jpg' is a file, not a folder. Point --data at a category folder", stderr);
        (code, _, stderr) = Pf("automl", "--data", TestData.Hazelnut, "--out", outDir, "--pick", "fastest:-5");
        Assert.Equal(1, code);
        Assert.Contains("--pick 'fastest:-5': the milliseconds per image must be 0 or more", stderr);
        Assert.False(File.Exists(Path.Combine(outDir, "trials.jsonl")));
    }

    [Fact]
    public void A_run_into_a_root_stops_before_any_trial_while_another_run_writes_one_of_its_category_folders()
    {
        var work = TestData.TempFolder("automl-lock-category");
        var good = Directory.CreateDirectory(Path.Combine(work, "data", "hazelnut", "train", "good")).FullName;
        foreach (var image in AutoMLTestData.FewImages) File.Copy(image, Path.Combine(good, Path.GetFileName(image)));
        var root = Path.Combine(work, "out");
        var category = Path.Combine(root, "hazelnut");

        // What `pf automl --out <root>/hazelnut` holds while it runs.
        using (OutputFolderLock.Acquire(category))
        {
            var (code, _, stderr) = Pf("automl", "--data", Path.Combine(work, "data"), "--out", root, "--trials", "1");
            Assert.Equal(1, code);
            Assert.Contains($"Another AutoML run is writing to '{category}'", stderr);
            Assert.DoesNotContain("System.", stderr);
            Assert.False(File.Exists(Path.Combine(category, "trials.jsonl")));
            Assert.False(File.Exists(Path.Combine(root, "summary.json")));
        }
    }

    [Fact]
    public async Task A_run_into_a_root_killed_on_the_way_leaves_a_summary_that_says_it_is_incomplete_and_not_the_earlier_one()
    {
        var work = TestData.TempFolder("automl-killed-root");
        var data = Path.Combine(work, "data");
        foreach (var name in new[] { "alpha", "beta" })
        {
            var good = Directory.CreateDirectory(Path.Combine(data, name, "train", "good")).FullName;
            foreach (var image in AutoMLTestData.FewImages.Take(6)) File.Copy(image, Path.Combine(good, Path.GetFileName(image)));
        }
        Directory.CreateDirectory(Path.Combine(data, "empty"));
        var outDir = Path.Combine(work, "out");
        static JsonNode Summary(string outDir) => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!;
        static IEnumerable<string> Names(JsonNode? list) => list!.AsArray().Select(n => n!.GetValue<string>());

        var (code, _, stderr) = Pf("automl", "--data", data, "--out", outDir, "--trials", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains($"warning: {data}: left out, not category folders (no train/good inside): empty.", stderr);
        var finished = Summary(outDir);
        Assert.True(finished["complete"]!.GetValue<bool>());
        Assert.Empty(finished["pending_categories"]!.AsArray());
        Assert.Equal(["empty"], Names(finished["left_out_folders"]));
        Assert.Equal(["alpha", "beta"], finished["categories"]!.AsArray().Select(c => c!["category"]!.GetValue<string>()));

        // One trial more per category, killed (SIGKILL) once alpha's second trial is logged.
        using (var run = PfProcess.Start(null, "automl", "--data", data, "--out", outDir, "--trials", "2"))
        {
            var stderrOfRun = run.StandardError.ReadToEndAsync();   // read while it runs: a full pipe would stall pf
            _ = run.StandardOutput.ReadToEndAsync();
            var trials = Path.Combine(outDir, "alpha", "trials.jsonl");
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (File.ReadAllLines(trials).Length < 2)
            {
                if (run.HasExited) Assert.Fail("pf finished before it could be killed: " + await stderrOfRun);
                Assert.True(DateTime.UtcNow < deadline, "alpha's second trial was not logged within 3 minutes");
                await Task.Delay(20);
            }
            run.Kill();
            run.WaitForExit();
        }

        // Before: the earlier run's summary, complete as far as a reader could tell, with 1 trial per category.
        var summary = Summary(outDir);
        Assert.False(summary["complete"]!.GetValue<bool>());
        Assert.Contains("beta", Names(summary["pending_categories"]));
        // Alpha is pending too, unless pf got as far as writing its results before the kill: then its row is this run's.
        foreach (var row in summary["categories"]!.AsArray())
            Assert.Equal(("alpha", 2), (row!["category"]!.GetValue<string>(), row["trials"]!.GetValue<int>()));
    }

    [Fact]
    public void A_category_that_fails_before_any_trial_leaves_no_folder_and_an_earlier_runs_results_in_its_folder_stay()
    {
        var work = TestData.TempFolder("automl-failed-folder");
        var data = Path.Combine(work, "data");
        string Good(string name) => Directory.CreateDirectory(Path.Combine(data, name, "train", "good")).FullName;
        foreach (var image in AutoMLTestData.FewImages.Take(6)) File.Copy(image, Path.Combine(Good("alpha"), Path.GetFileName(image)));
        // Two images: AutoML needs 3 (fit, hold-out, synthetic anomalies), so beta fails before its first trial.
        foreach (var image in AutoMLTestData.FewImages.Take(2)) File.Copy(image, Path.Combine(Good("beta"), Path.GetFileName(image)));
        var outDir = Path.Combine(work, "out");
        JsonNode Row(string category) => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "summary.json")))!["categories"]!.AsArray()
            .Single(c => c!["category"]!.GetValue<string>() == category)!;
        var beta = Path.Combine(outDir, "beta");

        var (code, _, stderr) = Pf("automl", "--data", data, "--out", outDir, "--trials", "1");
        // Before: out/beta was left behind holding only .automl.lock, and summary.json named it as beta's folder.
        Assert.True(code == 1, stderr);
        Assert.Contains("[beta] failed: AutoML needs at least 3 good training images", stderr);
        Assert.False(Directory.Exists(beta));
        Assert.Null(Row("beta")["folder"]);
        Assert.StartsWith("AutoML needs at least 3", Row("beta")["error"]!.GetValue<string>());

        // Fixed, beta is searched; alpha resumes from its trials.jsonl.
        foreach (var image in AutoMLTestData.FewImages.Skip(2).Take(4)) File.Copy(image, Path.Combine(Good("beta"), Path.GetFileName(image)));
        (code, _, stderr) = Pf("automl", "--data", data, "--out", outDir, "--trials", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("[alpha] search ended (trial budget) after 1 trials (0 this run, 1 from trials.jsonl)", stderr);
        Assert.True(File.Exists(Path.Combine(beta, "model.pfmodel")));
        var results = FolderBytes.Read(beta);

        // Broken again: its earlier results stay byte for byte, and summary.json says why this run has none.
        foreach (var image in Directory.GetFiles(Good("beta")).Order(StringComparer.Ordinal).Skip(2)) File.Delete(image);
        (code, _, stderr) = Pf("automl", "--data", data, "--out", outDir, "--trials", "1");
        Assert.True(code == 1, stderr);
        FolderBytes.AssertUnchanged(results, beta);
        Assert.Equal(beta, Row("beta")["folder"]!.GetValue<string>());
        Assert.StartsWith("AutoML needs at least 3", Row("beta")["error"]!.GetValue<string>());
    }

    [Fact]
    public void Out_as_the_parent_of_a_root_holding_a_category_of_its_own_name_is_refused_before_any_trial()
    {
        var work = TestData.TempFolder("automl-out-parent");
        var root = Path.Combine(work, "hazelnut");
        var good = Directory.CreateDirectory(Path.Combine(root, "hazelnut", "train", "good")).FullName;
        foreach (var image in AutoMLTestData.FewImages) File.Copy(image, Path.Combine(good, Path.GetFileName(image)));
        var before = Directory.GetFileSystemEntries(work, "*", SearchOption.AllDirectories).Order().ToList();

        var (code, stdout, stderr) = Pf("automl", "--data", root, "--out", Path.Combine(root, ".."), "--trials", "1");
        // Before: exit 0, and trials.jsonl, best.json, model.pfmodel, report.html and .automl.lock written into the data root.
        Assert.True(code == 1, stderr);
        Assert.Equal($"error: --out {work}: over a data-set root each category's results go to <out>/<category>, and {root} is the data folder (--data); " +
            $"outputs would mix with the inputs. Choose another folder, e.g. {root}-results.", stderr.Trim());
        Assert.Equal("", stdout);
        Assert.Equal(before, Directory.GetFileSystemEntries(work, "*", SearchOption.AllDirectories).Order());
    }
}
