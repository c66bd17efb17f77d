using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.Experiment;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Compute;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.AutoML;

/// <summary>Successive halving, parallel trials and the memory share enforced during a trial, on shipped hazelnut images.</summary>
public class HalvingParallelMemoryTests
{
    static SearchSpec ParseOnly(string body) => SearchSpec.Parse(
        $$"""{ "base": "{{TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/")}}", {{body}} }""", TestData.Catalog, TestData.RepoRoot, source: "s.json");

    [Fact]
    public void Rung_fractions_grow_geometrically_to_all_images_and_a_bracket_promotes_the_best_third()
    {
        Assert.Equal(new[] { 0.25, 0.5, 1.0 }, HalvingTuner.RungFractions(0.25, 3));
        Assert.Equal(new[] { 0.1, 0.215443, 0.464159, 1.0 }, HalvingTuner.RungFractions(0.1, 3));
        Assert.Equal(new[] { 1.0 }, HalvingTuner.RungFractions(1, 3));

        var space = ParseOnly("""  "search": { "map.sigma": "auto", "scoring.coresetRatio": "auto" }  """);
        var tuner = new HalvingTuner(new HalvingOptions { MinFraction = 0.25, Eta = 3 }, new RandomTuner(space, 5));
        Assert.Equal(9, tuner.FirstRungSize);
        var rung0 = Enumerable.Range(0, 9).Select(_ => tuner.ProposeTrial()!).ToList();
        Assert.All(rung0, p => Assert.Equal((0, 0.25), (p.Rung, p.Fraction)));
        // The whole rung is proposed ahead (parallel trials may take it at once); then it waits for its results.
        Assert.False(tuner.ProposesAhead);
        Assert.Throws<InvalidOperationException>(() => tuner.ProposeTrial());
        // One failure (null) is never promoted, even though its point has the highest coordinate sum.
        var failed = rung0.MaxBy(p => p.Point.Sum())!;
        foreach (var p in rung0) tuner.Tell(p, p == failed ? null : p.Point.Sum());

        var expected = rung0.Where(p => p != failed).OrderByDescending(p => p.Point.Sum()).Take(3).Select(p => p.Point).ToList();
        var rung1 = Enumerable.Range(0, 3).Select(_ => tuner.ProposeTrial()!).ToList();
        Assert.All(rung1, p => Assert.Equal((1, 0.5), (p.Rung, p.Fraction)));
        Assert.Equal(expected, rung1.Select(p => p.Point));
        // At the middle rung the objective ranks them the other way round: the last one goes on to all images.
        foreach (var (p, i) in rung1.Select((p, i) => (p, i))) tuner.Tell(p, i);
        var full = tuner.ProposeTrial()!;
        Assert.Equal((2, 1.0), (full.Rung, full.Fraction));
        Assert.Equal(expected[2], full.Point);
        tuner.Tell(full, 1.0);
        // Then the next bracket starts at the cheapest rung with new points.
        var next = tuner.ProposeTrial()!;
        Assert.Equal(0, next.Rung);
        Assert.DoesNotContain(rung0, p => p.Point.SequenceEqual(next.Point));
    }

    [Fact]
    public void Halving_and_parallel_settings_are_read_from_the_search_file_and_mistakes_are_refused_with_the_path()
    {
        var space = ParseOnly(""" "halving": { "minFraction": 0.1, "eta": 4 }, "budget": { "parallel": 2 } """);
        Assert.Equal(new HalvingOptions { MinFraction = 0.1, Eta = 4 }, space.Halving);
        Assert.Equal(2, space.Budget.Parallel);
        Assert.Null(ParseOnly(""" "budget": { "parallel": "auto" } """).Budget.Parallel);
        // At most one trial per core: before, 1000 ran up to 1000 at once (12 on 2 cores: twice the time, ms/image 2.6-8.7 times a trial's own).
        Assert.Equal(2, (space.Budget with { Parallel = 1000 }).ResolveParallel(2));
        Assert.Equal(2, space.Budget.ResolveParallel(16));

        Assert.Contains("$.halving.eta", Assert.Throws<PipelineException>(() => ParseOnly(""" "halving": { "eta": 1 } """)).Message);
        Assert.Contains("did you mean 'minFraction'", Assert.Throws<PipelineException>(() => ParseOnly(""" "halving": { "minFracton": 0.5 } """)).Message);
        Assert.Contains("$.halving.minFraction", Assert.Throws<PipelineException>(() => ParseOnly(""" "halving": { "minFraction": 0 } """)).Message);
        Assert.Contains("$.budget.parallel", Assert.Throws<PipelineException>(() => ParseOnly(""" "budget": { "parallel": 0 } """)).Message);
        Assert.Contains("did you mean 'parallel'", Assert.Throws<PipelineException>(() => ParseOnly(""" "budget": { "paralel": 2 } """)).Message);

        // auto: one trial per 4 cores and 2 GB of the share; the 2-core machine gets one.
        var budget = new SearchBudget { MemoryBytes = 6L << 30 };
        Assert.Equal(1, budget.AutoParallel(2));
        Assert.Equal(3, budget.AutoParallel(16));
        Assert.Equal(1, (budget with { MemoryBytes = 3L << 30 }).AutoParallel(16));
    }

    [Fact]
    public void A_halving_search_fits_rungs_on_subsets_of_the_prepared_images_and_resumes_without_redoing_rung_trials()
    {
        var folder = TestData.TempFolder("automl-halving");
        var log = new TrialLog(Path.Combine(folder, "trials.jsonl"));
        using var cancel = new CancellationTokenSource();
        var first = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch("halving", 13), TestData.Catalog).Run(AutoMLTestData.FewImages, log, new CancelAfter(5, cancel), cancel.Token);
        Assert.Equal("cancelled", first.StopReason);
        var before = log.Read().Select(t => (t.LookupKey, t.FinishedUtc)).ToList();
        Assert.Equal(5, before.Count);

        var result = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch("halving", 13), TestData.Catalog).Run(AutoMLTestData.FewImages, log);
        Assert.Equal(5, result.TrialsResumed);
        Assert.Equal(8, result.TrialsRun);
        var trials = log.Read();
        Assert.Equal(before, trials.Take(5).Select(t => (t.LookupKey, t.FinishedUtc)));
        Assert.All(trials, t => Assert.True(t.Succeeded, t.Reason));

        // One bracket: 9 trials on 1/4 of the 6 fitting images, the best 3 on 1/2, the best of those on all 6.
        Assert.Equal(Enumerable.Repeat(0, 9).Concat(Enumerable.Repeat(1, 3)).Append(2), trials.Select(t => t.Rung));
        Assert.Equal(Enumerable.Repeat(2, 9).Concat(Enumerable.Repeat(3, 3)).Append(6), trials.Select(t => t.FitImages));
        var promoted = trials.Take(9).OrderByDescending(t => t.Validation!.Objective).ThenBy(t => t.Number).Take(3).Select(t => t.Key);
        Assert.Equal(promoted, trials.Skip(9).Take(3).Select(t => t.Key));
        Assert.Equal(trials.Skip(9).Take(3).MaxBy(t => t.Validation!.Objective)!.Key, trials[12].Key);
        // Every rung is validated on the same 2 held-out images and 8 synthetic anomalies.
        Assert.All(trials, t => Assert.Equal((2, 8), (t.Validation!.GoodImages, t.Validation.SyntheticImages)));
        // The rungs reuse the prepared layer maps: the backbone ran once per image per run (8 images + 8 synthetic), in
        // each run's first trial (trial 5 is the resumed run's first); every other trial gathered the maps it needed.
        Assert.Equal(16, trials[0].BackboneImages);
        Assert.Equal(16, trials[5].BackboneImages);
        Assert.Equal(0, trials.Where(t => t.Number is not (0 or 5)).Sum(t => t.BackboneImages));
        Assert.Equal(16, result.BackboneImages);
        // Only the full-fraction trial is a candidate, even where a cheap rung scored higher.
        Assert.Equal(12, Assert.Single(result.Front).Number);
        Assert.Equal(12, result.Chosen!.Number);
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
    public void Two_trials_at_once_give_the_same_log_as_one_at_a_time_and_resume_the_same()
    {
        // CFO: its 6 starts are proposed ahead (3 batches of 2), its walk one at a time (each step needs the last result).
        var oneLog = new TrialLog(Path.Combine(TestData.TempFolder("automl-parallel-1"), "trials.jsonl"));
        var one = new AutoMLSearch(AutoMLTestData.AfterBackboneSearch("cfo", 9, parallel: 1), TestData.Catalog).Run(AutoMLTestData.FewImages, oneLog);

        var twoLog = new TrialLog(Path.Combine(TestData.TempFolder("automl-parallel-2"), "trials.jsonl"));
        var twoSpace = AutoMLTestData.AfterBackboneSearch("cfo", 9, parallel: 2);
        using var cancel = new CancellationTokenSource();
        var first = new AutoMLSearch(twoSpace, TestData.Catalog).Run(AutoMLTestData.FewImages, twoLog, new CancelAfter(4, cancel), cancel.Token);
        Assert.Equal(4, first.TrialsRun); // two batches of two
        var two = new AutoMLSearch(twoSpace, TestData.Catalog).Run(AutoMLTestData.FewImages, twoLog);
        Assert.Equal(4, two.TrialsResumed);

        var a = oneLog.Read();
        var b = twoLog.Read();
        Assert.Equal(9, a.Count);
        Assert.Equal(a.Select(t => (t.Number, t.Key, t.Status)), b.Select(t => (t.Number, t.Key, t.Status)));
        Assert.Equal(a.Select(t => t.Point), b.Select(t => t.Point));
        Assert.Equal(a.Select(t => t.Validation), b.Select(t => t.Validation));
        // (Model bytes differ by a few: the model file records its fit time.)
        Assert.Equal(one.Chosen!.Key, two.Chosen!.Key);
    }

    [Fact]
    public void The_coreset_and_the_gaussian_estimate_stop_on_cancellation()
    {
        var random = new Random(3);
        int n = 4000, d = 16;
        var data = Enumerable.Range(0, n * d).Select(_ => (float)random.NextDouble()).ToArray();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        // 1000 picks are 8 batches of centres: cancellation is seen at the first batch boundary.
        Assert.ThrowsAny<OperationCanceledException>(() => KCenterGreedy.Select(data, n, d, 1000, projectionDim: 0, seed: 1, cancellation: cancelled.Token));
        Assert.Equal(1000, KCenterGreedy.Select(data, n, d, 1000, projectionDim: 0, seed: 1).Distinct().Count());
        Assert.ThrowsAny<OperationCanceledException>(() => GaussianStatistics.Estimate(data, 100, 40, d, 0.1f, 0.01f, cancelled.Token));
    }
}
