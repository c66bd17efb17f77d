using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.Experiment;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Selection;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.AutoML;

/// <summary>Searches on a few shipped hazelnut images: the trial log, resuming, and one backbone pass per image.</summary>
public class AutoMLSearchTests
{

    [Fact]
    public void Fifty_trials_that_differ_after_the_backbone_run_it_once_per_image()
    {
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-cache"), "trials.jsonl"));
        var result = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 50), TestData.Catalog).Run(AutoMLTestData.FewImages, log);

        var trials = log.Read();
        Assert.Equal(50, trials.Count);
        Assert.All(trials, t => Assert.True(t.Succeeded, t.Reason));
        Assert.Equal(50, trials.Select(t => t.Key).Distinct().Count());
        // 8 training images + 8 synthetic anomalies went through the backbone, all in the first trial; none since.
        Assert.Equal(16, trials[0].BackboneImages);
        Assert.All(trials.Skip(1), t => Assert.Equal(0, t.BackboneImages));
        Assert.Equal(16, trials[^1].BackboneImagesTotal);
        Assert.Equal(16, result.BackboneImages);
        // The trials differ: the objective moves with the searched options.
        Assert.True(trials.Select(t => t.Validation!.Objective).Distinct().Count() > 5);
    }

    [Fact]
    public void After_the_search_the_threshold_alternatives_are_judged_on_the_chosen_pipeline_and_best_json_takes_the_choice()
    {
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-threshold"), "trials.jsonl"));
        var result = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 4), TestData.Catalog).Run(AutoMLTestData.FewImages, log);

        var choice = Assert.IsType<ThresholdChoice>(result.Threshold);
        Assert.Equal(["threshold.quantile", "threshold.synthetic-f1"], choice.Candidates.Select(c => c.Threshold["type"]!.ToString()));
        Assert.All(choice.Candidates, c => Assert.InRange(c.ExpectedError, 0, 1));
        Assert.Equal(choice.Candidates.Min(c => c.ExpectedError), choice.Candidates.Single(c => ReferenceEquals(c.Threshold, choice.Threshold)).ExpectedError);
        var best = AutoMLSearch.BestPipeline(result.Chosen!, "automl-test", result.Threshold);
        Assert.True(JsonNode.DeepEquals(choice.Threshold, best["threshold"]));
        Assert.Contains("chosen after the search", best["description"]!.ToString());
        Assert.True(JsonNode.DeepEquals(choice.Threshold, result.ChosenAsWritten!.Pipeline["threshold"]));
        // The log keeps each trial as it ran.
        Assert.Equal(log.Read().Single(t => t.Number == result.Chosen!.Number).Pipeline.ToJsonString(), result.Chosen!.Pipeline.ToJsonString());
    }

    /// <summary>Cancels through the progress callback after a number of trials, as Ctrl-C does between trials.</summary>
    sealed class CancelAfter(int trials, CancellationTokenSource source) : IProgress<SearchProgress>
    {
        public void Report(SearchProgress value)
        {
            if (value.TrialsRun >= trials) source.Cancel();
        }
    }

    [Fact]
    public void A_cancelled_search_resumes_from_the_log_without_redoing_finished_trials()
    {
        var folder = TestData.TempFolder("automl-resume");
        var log = new TrialLog(Path.Combine(folder, "trials.jsonl"));
        using var cancel = new CancellationTokenSource();
        var first = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 8), TestData.Catalog).Run(AutoMLTestData.FewImages, log, new CancelAfter(3, cancel), cancel.Token);
        Assert.Equal("cancelled", first.StopReason);
        Assert.Equal(3, log.Read().Count);
        var finishedBefore = log.Read().Select(t => (t.Key, t.FinishedUtc)).ToList();

        // A run killed while writing leaves a torn last line: it is ignored, and cut off by the next append.
        File.AppendAllText(log.Path, """{"trial":3,"status":"ok","key":"dead""");

        var second = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 8), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        Assert.Equal(3, second.TrialsResumed);
        Assert.Equal(5, second.TrialsRun);
        var all = log.Read();
        Assert.Equal(8, all.Count);
        Assert.Equal(8, File.ReadAllLines(log.Path).Length);
        Assert.Equal(Enumerable.Range(0, 8), all.Select(t => t.Number));
        Assert.Equal(8, all.Select(t => t.Key).Distinct().Count());
        // The first three are the very records of the first run, not rerun.
        Assert.Equal(finishedBefore, all.Take(3).Select(t => (t.Key, t.FinishedUtc)));

        // The resumed run stops at once: the budget is reached from the log alone.
        var third = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 8), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        Assert.Equal(0, third.TrialsRun);
        Assert.Equal("trial budget", third.StopReason);
    }

    [Fact]
    public void A_fault_trace_the_disk_cannot_take_costs_the_trace_not_the_record()
    {
        var folder = TestData.TempFolder("automl-errors-log");
        var log = new TrialLog(Path.Combine(folder, "trials.jsonl"));
        Directory.CreateDirectory(log.ErrorsPath);   // in the way of trials.errors.log
        var record = new TrialRecord
        {
            Number = 7, Status = TrialRecord.Failed, Key = "k", Point = [0.5], Pipeline = new JsonObject { ["name"] = "t" },
            Reason = "the scorer failed", FaultTrace = "System.InvalidOperationException",
        };
        // Before: the IOException of the trace's append ended the search after the record was written.
        log.Append(record);
        Assert.Equal([7], log.Read().Select(t => t.Number));
    }

    [Fact]
    public void A_larger_trial_budget_extends_a_finished_search_however_long_its_log()
    {
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-extend"), "trials.jsonl"));
        new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 8), TestData.Catalog).Run(AutoMLTestData.FewImages, log);

        // The tuner replays the 8 logged trials before it proposes new points; with the repeat limit below the log's
        // length, that replay once ended the run as "search space exhausted" before any new trial.
        var extended = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 10), TestData.Catalog) { MaxRepeats = 5 }
            .Run(AutoMLTestData.FewImages, log);
        Assert.Equal(8, extended.TrialsResumed);
        Assert.Equal(2, extended.TrialsRun);
        Assert.Equal("trial budget", extended.StopReason);
        Assert.Equal(10, log.Read().Count);
    }

    [Fact]
    public void A_damaged_line_inside_the_log_is_named_and_skipped_and_new_trials_never_reuse_a_number()
    {
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-damaged"), "trials.jsonl"));
        new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 4), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        var lines = File.ReadAllLines(log.Path);
        lines[1] = "{\"trial\": 1, \"status\": \"ok\", edited by hand";
        File.WriteAllLines(log.Path, lines);
        log.Read(out var unreadable);
        Assert.Equal([2], unreadable);

        var warnings = new RecordingLog();
        var resumed = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 6), TestData.Catalog, HostServices.None with { Log = warnings })
            .Run(AutoMLTestData.FewImages, log);
        Assert.Contains(warnings.Lines, l => l.Contains("trials.jsonl: line 2 is not a trial record") && l.Contains("skipped"));
        Assert.Equal(3, resumed.TrialsResumed);
        Assert.Equal(3, resumed.TrialsRun);
        var numbers = log.Read().Select(t => t.Number).ToList();
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        Assert.Equal([0, 2, 3, 4, 5, 6], numbers.Order());
    }

    [Fact]
    public void A_log_line_with_numbers_no_trial_measures_is_skipped_like_a_damaged_one()
    {
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-absurd"), "trials.jsonl"));
        new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 3), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        var lines = File.ReadAllLines(log.Path);
        // A hand edit that once won the search (objective 12.04 printed as the best) and one that overflowed the trial
        // numbers after it (the next trial was numbered -2147483648).
        var edited = JsonNode.Parse(lines[1])!.AsObject();
        edited["validation"]!["objective"] = 1e300;
        edited["validation"]!["image_auroc"] = 57;
        lines[1] = edited.ToJsonString();
        var renumbered = JsonNode.Parse(lines[2])!.AsObject();
        renumbered["trial"] = int.MaxValue;
        lines[2] = renumbered.ToJsonString();
        File.WriteAllLines(log.Path, lines);

        var kept = log.Read(out var unreadable);
        Assert.Equal([2, 3], unreadable);
        Assert.Equal([0], kept.Select(t => t.Number));
        var resumed = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 3), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        Assert.All(resumed.Trials, t => Assert.InRange(t.Validation!.Objective, 0, 1));
        Assert.All(resumed.Trials, t => Assert.InRange(t.Number, 0, 10));
    }

    [Fact]
    public void A_folder_where_the_trial_log_belongs_is_named_in_the_error()
    {
        var folder = Path.Combine(TestData.TempFolder("automl-log-folder"), "trials.jsonl");
        Directory.CreateDirectory(folder);
        var e = Assert.Throws<PipelineException>(() =>
            new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 1), TestData.Catalog).Run(AutoMLTestData.FewImages, new TrialLog(folder)));
        Assert.Contains($"'{folder}' is a folder", e.Message);
    }

    [Fact]
    public void A_second_run_into_the_same_output_folder_is_refused_while_the_first_holds_it()
    {
        var folder = TestData.TempFolder("automl-lock");
        using (OutputFolderLock.Acquire(folder))
        {
            var e = Assert.Throws<PipelineException>(() => OutputFolderLock.Acquire(folder));
            Assert.Contains($"Another AutoML run is writing to '{folder}'", e.Message);
        }
        using var again = OutputFolderLock.Acquire(folder);   // released with the first
    }

    [Fact]
    public void Releasing_the_lock_removes_the_folders_it_made_that_hold_nothing_else_and_keeps_every_other()
    {
        var root = Path.Combine(TestData.TempFolder("automl-lock-unused"), "out");
        string searched = Path.Combine(root, "alpha"), failed = Path.Combine(root, "beta"), earlier = Path.Combine(root, "gamma");
        Directory.CreateDirectory(earlier);   // an earlier run's folder, empty as it may be: not made by this run
        using (OutputFolderLock.Acquire(root, searched, failed, earlier))
        {
            Assert.True(File.Exists(Path.Combine(failed, OutputFolderLock.FileName)));
            File.WriteAllText(Path.Combine(searched, "trials.jsonl"), "{}\n");
        }
        // beta (failed before its first trial, or never reached) held only the lock: gone. alpha has a result, gamma was
        // there before, --out holds alpha.
        Assert.False(Directory.Exists(failed));
        Assert.Equal("{}\n", File.ReadAllText(Path.Combine(searched, "trials.jsonl")));
        Assert.True(Directory.Exists(earlier));
        Assert.True(Directory.Exists(root));
        // A single category's --out that the lock made and nothing was written to goes as well.
        var single = Path.Combine(root, "single");
        OutputFolderLock.Acquire(single).Dispose();
        Assert.False(Directory.Exists(single));
    }

    [Fact]
    public void A_run_into_a_category_folder_and_a_run_into_its_root_exclude_each_other_either_way()
    {
        var root = TestData.TempFolder("automl-lock-root");
        string bottle = Path.Combine(root, "bottle"), hazelnut = Path.Combine(root, "hazelnut");

        // The root's run first: it holds every category folder it writes.
        using (OutputFolderLock.Acquire(root, bottle, hazelnut))
        {
            var e = Assert.Throws<PipelineException>(() => OutputFolderLock.Acquire(bottle));
            Assert.Contains($"Another AutoML run is writing to '{bottle}'", e.Message);
            Assert.Contains("a run into a root of categories holds each category's folder too", e.Message);
        }

        // The category's run first: the root's run stops, and holds none of its folders after.
        using (OutputFolderLock.Acquire(bottle))
        {
            var e = Assert.Throws<PipelineException>(() => OutputFolderLock.Acquire(root, bottle, hazelnut));
            Assert.Contains($"Another AutoML run is writing to '{bottle}'", e.Message);
            using var rootFree = OutputFolderLock.Acquire(root);
        }
        using var all = OutputFolderLock.Acquire(root, bottle, hazelnut);
    }

    [Fact]
    public void The_model_written_after_the_search_is_the_one_best_json_fits_from_one_fit_of_the_chosen_scorer()
    {
        var work = TestData.TempFolder("automl-one-fit");
        var category = Path.Combine(work, "hazelnut");
        var good = Directory.CreateDirectory(Path.Combine(category, "train", "good")).FullName;
        foreach (var image in AutoMLTestData.FewImages) File.Copy(image, Path.Combine(good, Path.GetFileName(image)));
        var outcome = CategorySearch.Run(new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 4), TestData.Catalog), category,
            Path.Combine(work, "out"), TestData.Catalog, HostServices.None);

        // The threshold was chosen after the search (so the chosen pipeline's scorer was fitted for it), and the model
        // has the chosen policy: the model pf fit --pipeline best.json gives.
        var choice = Assert.IsType<ThresholdChoice>(outcome.Result.Threshold);
        using var fitted = AnomalyPipeline.FromFile(outcome.BestJsonPath!, TestData.Catalog).Fit(CategorySearch.TrainImages(category));
        Assert.Equal(choice.Threshold["type"]!.ToString(), fitted.Manifest.Threshold.Policy);
        Assert.Equal(ModelContents.Of(fitted), ModelContents.Of(outcome.ModelPath!));
    }

    [Fact]
    public void A_log_of_other_training_images_or_another_validation_is_refused_and_left_as_it_was_and_new_weights_rescore_it()
    {
        var folder = TestData.TempFolder("automl-log-identity");
        var log = new TrialLog(Path.Combine(folder, "trials.jsonl"));
        new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 3), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        var written = File.ReadAllBytes(log.Path);
        Assert.All(log.Read(), t => Assert.Equal(LogCompatibility.TrainingSetId(AutoMLTestData.FewImages), t.TrainingSet));

        // Another category's images into the same --out folder: refused before any trial, the log untouched.
        var otherImages = AutoMLTestData.FewImages.Skip(1).ToList();
        var other = Assert.Throws<PipelineException>(() =>
            new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 4), TestData.Catalog).Run(otherImages, log));
        Assert.Contains("trial 0 was run on other training images than these 7", other.Message);
        Assert.Contains("give another --out folder", other.Message);
        Assert.Equal(written, File.ReadAllBytes(log.Path));

        // Another validation: the difference is named by its search-file path.
        var validation = Assert.Throws<PipelineException>(() =>
            new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 4, syntheticCount: 6), TestData.Catalog).Run(AutoMLTestData.FewImages, log));
        Assert.Contains("$.validation.syntheticCount is 8 in the log, 6 in this search", validation.Message);
        Assert.Equal(written, File.ReadAllBytes(log.Path));

        // Other objective weights are no reason to refuse: the logged terms are recombined with the new ones.
        var imageOnly = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch(trials: 3, objective: """{ "imageAuroc": 1, "pixelAuroc": 0, "aupro": 0 }"""), TestData.Catalog)
            .Run(AutoMLTestData.FewImages, log);
        Assert.Equal(0, imageOnly.TrialsRun);
        Assert.Equal(3, imageOnly.Trials.Count);
        Assert.All(imageOnly.Trials, t => Assert.Equal(t.Validation!.ImageAuroc, t.Validation.Objective, 12));
        Assert.Contains(log.Read(), t => Math.Abs(t.Validation!.Objective - t.Validation.ImageAuroc) > 1e-6);
    }

    [Fact]
    public void Shifted_copies_of_the_held_out_good_images_are_validated_as_good_parts_at_image_level()
    {
        SearchSpec Search(int shiftedGoods) => SearchSpec.Parse($$"""
            {
              "base": "{{TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/")}}",
              "search": { "map.imageScore": ["max", "maxOverLowerQuartile"] },
              "validation": { "holdout": 0.25, "syntheticCount": 8, "shiftedGoods": {{shiftedGoods}} },
              "tuner": "grid"
            }
            """, TestData.Catalog, TestData.RepoRoot);
        var space = Search(2);
        Assert.Equal(2, space.Validation["calibration"]!["shiftedGoods"]!.GetValue<int>());
        var shifted = new AutoMLSearch(space, TestData.Catalog).Run(AutoMLTestData.FewImages,
            new TrialLog(Path.Combine(TestData.TempFolder("automl-shifted"), "trials.jsonl")));
        var plain = new AutoMLSearch(Search(0), TestData.Catalog).Run(AutoMLTestData.FewImages,
            new TrialLog(Path.Combine(TestData.TempFolder("automl-unshifted"), "trials.jsonl")));

        Assert.Equal(2, shifted.Trials.Count);
        // 2 held-out images and 2 shifted copies of each are the good side; the backbone ran over them once, with the
        // 8 training images and 8 synthetic anomalies.
        Assert.All(shifted.Trials, t => Assert.Equal((6, 8), (t.Validation!.GoodImages, t.Validation.SyntheticImages)));
        Assert.All(plain.Trials, t => Assert.Equal((2, 8), (t.Validation!.GoodImages, t.Validation.SyntheticImages)));
        Assert.Equal(8 + 8 + 4, shifted.BackboneImages);
        // They count at image level only: the pixel terms are those of the same pipelines without them.
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(plain.Trials[i].Pipeline["map"]!.ToJsonString(), shifted.Trials[i].Pipeline["map"]!.ToJsonString());
            Assert.Equal(plain.Trials[i].Validation!.PixelAuroc, shifted.Trials[i].Validation!.PixelAuroc);
            Assert.Equal(plain.Trials[i].Validation!.Aupro, shifted.Trials[i].Validation!.Aupro);
        }

        var unknown = Assert.Throws<PipelineException>(() => SearchSpec.Parse($$"""
            { "base": "{{TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/")}}", "validation": { "shiftedGood": 1 } }
            """, TestData.Catalog, TestData.RepoRoot));
        Assert.Contains("shiftedGoods", unknown.Message);
    }

    [Fact]
    public void A_trial_that_fails_is_recorded_with_its_reason_and_the_search_goes_on()
    {
        // synthetic-f1 without synthetic anomalies is refused by the pipeline; patch size 2 is refused by the embedding.
        var space = SearchSpec.Parse($$"""
            {
              "base": "{{TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/")}}",
              "search": { "embedding.patchSize": [2, 3] },
              "validation": { "holdout": 0.25, "syntheticCount": 8 },
              "tuner": "grid"
            }
            """, TestData.Catalog, TestData.RepoRoot);
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-fail"), "trials.jsonl"));
        var result = new AutoMLSearch(space, TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        Assert.Equal("search space exhausted", result.StopReason);
        var failed = Assert.Single(result.Trials, t => !t.Succeeded);
        Assert.Equal(TrialRecord.Failed, failed.Status);
        Assert.Contains("patchSize", failed.Reason);
        Assert.Equal(3, Assert.Single(result.Trials, t => t.Succeeded).Pipeline["embedding"]!["patchSize"]!.GetValue<int>());
        Assert.Equal(3, result.Chosen!.Pipeline["embedding"]!["patchSize"]!.GetValue<int>());
    }
}
