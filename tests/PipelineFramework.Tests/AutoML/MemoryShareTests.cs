using PipelineFramework.AutoML.Experiment;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.AutoML;

/// <summary>
/// The memory share measures this process's working set: other tests allocating beside it would be counted too, and
/// the monitor's full garbage collections would pause them. So these run on their own.
/// </summary>
[CollectionDefinition(nameof(MemoryShareTests), DisableParallelization = true)]
public class MemoryShareCollection;

[Collection(nameof(MemoryShareTests))]
public class MemoryShareTests
{
    [Fact]
    public void A_setting_whose_fit_grows_past_the_share_is_stopped_part_way_while_smaller_settings_fit_under_it()
    {
        var images = ImageDataset.ListImages(Path.Combine(TestData.Hazelnut, "train", "good")).Take(8).ToList();
        // PaDiM's inverse covariances: 784 positions × d² floats. d = 192 (all channels) needs 116 MB, written position by
        // position; d = 8 and 16 need under 1 MB. Grid order: the start (8), then 16, then 192. (The big one comes last: memory
        // it touched before it was stopped is not all handed back to the OS at once, and the working set counts it.)
        var space = SearchSpec.Parse($$"""
            {
              "base": "{{TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/")}}",
              "search": { "scoring": [ { "type": "scoring.padim", "reducedDim": [8, 16, 192] } ] },
              "validation": { "holdout": 0.25, "syntheticCount": 8 },
              "budget": { "parallel": 1 },
              "tuner": "grid"
            }
            """, TestData.Catalog, TestData.RepoRoot);
        using var cache = new PreparedSetCache(1L << 30);
        cache.GetOrPrepare(AnomalyPipeline.FromJson(space.Pipeline(space.StartPoint).ToJsonString(), TestData.Catalog, "warm", null), images);

        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // 80 MB of head room: the small settings' own growth (code paths met the first time, buffers) stays under it.
        long share = Environment.WorkingSet + (80L << 20);
        var search = new AutoMLSearch(space, TestData.Catalog);
        search.Budget = search.Budget with { MemoryBytes = share };
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-mem-share"), "trials.jsonl"));
        var result = search.Run(images, log, cache: cache);

        var trials = log.Read();
        int Dim(TrialRecord t) => t.Pipeline["scoring"]!["reducedDim"]!.GetValue<int>();
        Assert.Equal([8, 16, 192], trials.Select(Dim));
        Assert.All(trials.Take(2), t => Assert.True(t.Succeeded, t.Reason));
        var stopped = trials[2];
        Assert.Equal(TrialRecord.OverMemory, stopped.Status);
        Assert.StartsWith("stopped during fit: the working set reached", stopped.Reason);
        Assert.True(stopped.MemoryBytes > share, $"peak {stopped.MemoryBytes >> 20} MB, share {share >> 20} MB");
        Assert.Null(stopped.Validation);
        Assert.Contains(Dim(result.Chosen!), new[] { 8, 16 });
    }

    [Fact]
    public void A_trial_above_its_memory_share_is_stopped_mid_fit_logged_with_its_peak_and_the_search_goes_on()
    {
        using var cache = new PreparedSetCache(1L << 30);
        // The prepared set is made under an ordinary share first, so the low share below meets the trials in their fit.
        var warm = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch("random", 1), TestData.Catalog).Run(AutoMLTestData.FewImages, new TrialLog(Path.Combine(TestData.TempFolder("automl-mem-warm"), "t.jsonl")), cache: cache);
        Assert.True(warm.Trials[0].Succeeded, warm.Trials[0].Reason);

        const long share = 1L << 20; // 1 MB: far below what the process holds, so the monitor's first sample stops the trial
        var search = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch("random", 3), TestData.Catalog);
        search.Budget = search.Budget with { MemoryBytes = share };
        var log = new TrialLog(Path.Combine(TestData.TempFolder("automl-mem"), "trials.jsonl"));
        var result = search.Run(AutoMLTestData.FewImages, log, cache: cache);

        Assert.Equal("trial budget", result.StopReason);
        var trials = log.Read();
        Assert.Equal(3, trials.Count); // the search went on after each stopped trial
        Assert.All(trials, t =>
        {
            Assert.Equal(TrialRecord.OverMemory, t.Status);
            Assert.StartsWith("stopped during fit: the working set reached", t.Reason);
            Assert.Contains("above the memory share 1 MB", t.Reason);
            Assert.True(t.MemoryBytes > share, $"peak {t.MemoryBytes}");
            Assert.Contains($"{t.MemoryBytes >> 20} MB", t.Reason);
            // Stopped before the fit finished: no validation, no model saved.
            Assert.Null(t.Validation);
            Assert.Equal(0, t.ModelBytes);
            Assert.Equal(6, t.FitImages);
        });
        Assert.Null(result.Chosen);
    }
}
