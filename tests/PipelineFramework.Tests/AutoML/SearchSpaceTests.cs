using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.Experiment;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Selection;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.AutoML;

/// <summary>Search files, tuners, Pareto selection and Kendall's tau, without fitting anything.</summary>
public class SearchSpaceTests
{
    static string Base => TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/");

    static SearchSpec Parse(string search) => SearchSpec.Parse($$"""{ "base": "{{Base}}", "search": {{search}} }""", TestData.Catalog, TestData.RepoRoot);

    [Fact]
    public void Auto_takes_ranges_and_choices_from_the_option_metadata()
    {
        var space = Parse("""{ "scoring.coresetRatio": "auto", "map.sigma": "auto", "scoring.reweight": "auto" }""");
        var coreset = space.Parameters.Single(p => p.Name == "$.scoring.coresetRatio");
        // PatchCoreOptions.CoresetRatio: [OptionRange(0, 1, LogScale = true, SearchMin = 0.01, SearchMax = 0.25)], default 0.1.
        Assert.Equal((0.01, 0.25, true, false), (coreset.Min, coreset.Max, coreset.Log, coreset.Integer));
        Assert.Equal(0.1, coreset.ToValue(coreset.Start), 6);
        var sigma = space.Parameters.Single(p => p.Name == "$.map.sigma");
        Assert.Equal((0.0, 8.0, false), (sigma.Min, sigma.Max, sigma.Log));
        Assert.Equal(4.0, sigma.ToValue(sigma.Start), 6); // the base pipeline's value
        var reweight = space.Parameters.Single(p => p.Name == "$.scoring.reweight");
        Assert.Equal(["false", "true"], reweight.Choices.Select(c => c!.ToJsonString()));

        // The start point is the base pipeline itself, and it parses.
        var start = space.Pipeline(space.StartPoint);
        Assert.Equal(0.1, start["scoring"]!["coresetRatio"]!.GetValue<double>(), 6);
        Assert.False(start["scoring"]!["reweight"]!.GetValue<bool>());
        AnomalyPipeline.FromJson(start.ToJsonString(), TestData.Catalog);
    }

    [Fact]
    public void Alternatives_carry_their_own_options_and_only_the_chosen_ones_are_written()
    {
        var space = Parse("""
            { "scoring": [ { "type": "scoring.patchcore", "coresetRatio": "auto" }, { "type": "scoring.padim", "reducedDim": { "min": 16, "max": 64, "log": true } } ] }
            """);
        Assert.Equal(["$.scoring", "$.scoring[scoring.patchcore].coresetRatio", "$.scoring[scoring.padim].reducedDim"], space.Parameters.Select(p => p.Name));
        var padim = space.Pipeline([0.9, 0.5, 1.0]);
        Assert.Equal("""{"type":"scoring.padim","reducedDim":64}""", padim["scoring"]!.ToJsonString());
        var patchcore = space.Pipeline([0.1, 0.0, 1.0]);
        Assert.Equal("""{"type":"scoring.patchcore","coresetRatio":0.01}""", patchcore["scoring"]!.ToJsonString());
        // "auto" for a stage: every installed component of its kind.
        var all = Parse("""{ "scoring": "auto" }""").Parameters[0];
        Assert.Contains(all.Choices, c => c!["type"]!.GetValue<string>() == "scoring.simplenet");
    }

    [Fact]
    public void Mistakes_name_the_json_path_and_a_likely_fix()
    {
        var e = Assert.Throws<PipelineException>(() => Parse("""{ "scoring.coresetRatoi": "auto" }"""));
        Assert.Contains("$.search.scoring.coresetRatoi", e.Message);
        Assert.Contains("did you mean 'coresetRatio'", e.Message);
        e = Assert.Throws<PipelineException>(() => Parse("""{ "scoring.coresetRatio": { "min": 0.5, "max": 0.1 } }"""));
        Assert.Contains("min < max", e.Message);
        e = Assert.Throws<PipelineException>(() => Parse("""{ "scoring.coresetRatio": { "min": 0.1, "max": 3 } }"""));
        Assert.Contains("valid range", e.Message);
        e = Assert.Throws<PipelineException>(() => SearchSpec.Parse("""{ "base": "nowhere.json", "serach": {} }""", TestData.Catalog, TestData.RepoRoot));
        Assert.Contains("did you mean 'search'", e.Message);
        e = Assert.Throws<PipelineException>(() => SearchSpec.Parse("""{ "base": "nowhere.json" }""", TestData.Catalog, TestData.RepoRoot));
        Assert.Contains("$.base 'nowhere.json'", e.Message);
        // The validation section is checked before any trial, under its own path (it used to fail every trial instead).
        SearchSpec WithValidation(string validation) =>
            SearchSpec.Parse($$"""{ "base": "{{Base}}", "validation": {{validation}} }""", TestData.Catalog, TestData.RepoRoot);
        e = Assert.Throws<PipelineException>(() => WithValidation("""{ "shiftedGoods": -1 }"""));
        Assert.Contains("$.validation.shiftedGoods: -1 is out of range", e.Message);
        e = Assert.Throws<PipelineException>(() => WithValidation("""{ "holdout": 3 }"""));
        Assert.Contains("$.validation.holdout: 3 is out of range", e.Message);
        e = Assert.Throws<PipelineException>(() => WithValidation("""{ "synthesis": [ { "type": "synthesis.cutpast" } ] }"""));
        Assert.Contains("$.validation.synthesis", e.Message);
    }

    [Theory]
    [InlineData("""{ "search": { "embedding.patchSize": [] } }""", "$.embedding.patchSize: the list of choices is empty")]
    [InlineData("""{ "search": { "input": [] } }""", "$.search.input: the list of alternatives is empty")]
    [InlineData("""{ "search": { "scoring": [] } }""", "$.search.scoring: the list of alternatives is empty")]
    [InlineData("""{ "objective": { "imageAuroc": 1e400 } }""", "$.objective.imageAuroc: 1e400 is not a finite number")]
    [InlineData("""{ "objective": { "imageAuroc": "NaN" } }""", "$.objective.imageAuroc: \"NaN\" is not a finite number")]
    [InlineData("""{ "objective": { "imageAuroc": 0, "pixelAuroc": 0, "aupro": 0 } }""", "$.objective: every weight is 0")]
    [InlineData("""{ "search": { "map.sigma": { "min": 0, "max": "8" } } }""", "$.map.sigma.max: \"8\" is not a finite number")]
    [InlineData("""{ "search": { "map.sigma": { "min": 0, "max": 8, "lgo": true } } }""", "$.map.sigma.lgo is not known (did you mean 'log'?)")]
    [InlineData("""{ "search": { "map.sigma": { "min": 1, "max": 8, "log": "yes" } } }""", "$.map.sigma.log: \"yes\" must be true or false")]
    [InlineData("""{ "budget": { "trials": 2.5 } }""", "$.budget.trials: 2.5 must be a whole number from 1")]
    [InlineData("""{ "budget": { "memory": "1KB" } }""", "'1KB' is outside the sizes a memory share can have, 1MB to 1024TB")]
    [InlineData("""{ "budget": { "memory": "1e30GB" } }""", "'1e30GB' is outside the sizes")]
    [InlineData("""{ "budget": { "time": "99999999999h" } }""", "$.budget.time: '99999999999h' is longer than the longest budget, 100000h")]   // before: OverflowException
    [InlineData("""{ "budget": { "time": "1e400" } }""", "$.budget.time: '1e400' is longer than the longest budget")]
    [InlineData("""{ "budget": { "time": "0" } }""", "$.budget.time: '0': the duration must be above zero")]
    [InlineData("""{ "budget": { "time": "-5m" } }""", "$.budget.time: '-5m' is not a duration; write e.g. 10m, 90s, 1h30m")]
    [InlineData("""{ "tuner": "bogus" }""", "$.tuner 'bogus' is not known")]
    [InlineData("""{ "tuner": 3 }""", "$.tuner: 3 must be a string")]
    [InlineData("""{ "seed": "x" }""", "$.seed: \"x\" is not a finite number")]
    [InlineData("""{ "name": {} }""", "$.name: {} must be a string")]
    public void Values_of_the_wrong_kind_are_refused_with_their_path_before_any_trial(string keys, string expected)
    {
        // Each of these once got past the parser and ended a started search with exit code 2 (an empty choice list made
        // a start point of infinity, which the trial log cannot write), or was taken silently (all weights 0).
        var json = JsonNode.Parse(keys)!.AsObject();
        json["base"] = Base;
        var e = Assert.Throws<PipelineException>(() => SearchSpec.Parse(json.ToJsonString(), TestData.Catalog, TestData.RepoRoot, source: "s.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("s.json: ", e.Message);
    }

    [Theory]
    [InlineData("4GB", 4L << 30)]
    [InlineData("512mb", 512L << 20)]
    [InlineData("1TB", 1L << 40)]
    [InlineData("2048KB", 2L << 20)]
    [InlineData("1048576", 1L << 20)]
    public void Memory_shares_read_the_usual_units(string text, long bytes) => Assert.Equal(bytes, SearchSpec.ParseBytes(text, "memory"));

    [Fact]
    public void The_shipped_default_search_parses_and_its_start_is_the_default_pipeline()
    {
        var space = SearchSpec.ParseFile(Path.Combine(TestData.RepoRoot, "pipelines", "automl-default.json"), TestData.Catalog);
        Assert.Contains(space.Parameters, p => p.Name == "$.scoring");
        Assert.Contains(space.Parameters, p => p.Name == "$.input");
        var start = AnomalyPipeline.FromJson(space.Pipeline(space.StartPoint).ToJsonString(), TestData.Catalog);
        Assert.Equal("scoring.patchcore", start.Spec.Scoring.Type);
        Assert.Equal(60, start.Spec.Calibration.SyntheticCount);
        Assert.Equal(3, start.Spec.Synthesis.Count);
    }

    [Fact]
    public void Tuners_are_deterministic_for_a_seed_and_stay_in_the_unit_cube()
    {
        var space = Parse("""{ "map.sigma": "auto", "scoring.coresetRatio": "auto", "embedding.patchSize": [1, 3, 5] }""");
        foreach (var name in TunerFactory.Names)
        {
            List<double[]> Proposals()
            {
                var tuner = TunerFactory.Create(name, space, 3);
                var points = new List<double[]>();
                for (int i = 0; i < 30; i++)
                {
                    var p = tuner.Propose();
                    if (p is null) break;
                    points.Add(p);
                    tuner.Tell(p, p.Sum()); // an objective that rewards larger coordinates
                }
                return points;
            }
            var a = Proposals();
            var b = Proposals();
            Assert.Equal(a.Count, b.Count);
            for (int i = 0; i < a.Count; i++) Assert.Equal(a[i], b[i]);
            Assert.Equal(space.StartPoint, a[0]);
            Assert.All(a, p => Assert.All(p, x => Assert.InRange(x, 0, 1)));
        }
        // The grid: 3 levels per range, every choice; the start point first.
        var grid = new GridTuner(space);
        int count = 0;
        while (grid.Propose() is not null) count++;
        Assert.Equal(1 + 3 * 3 * 3, count);
    }

    [Fact]
    public void Cfo_walks_uphill_from_its_best_start()
    {
        var space = Parse("""{ "map.sigma": "auto", "scoring.coresetRatio": "auto" }""");
        var tuner = new CostFrugalTuner(space, 5);
        double best = double.NegativeInfinity;
        for (int i = 0; i < 60; i++)
        {
            var p = tuner.Propose()!;
            double value = -Math.Pow(p[0] - 0.8, 2) - Math.Pow(p[1] - 0.3, 2);
            best = Math.Max(best, value);
            tuner.Tell(p, value);
        }
        Assert.True(best > -0.01, $"best {best}: CFO did not approach the optimum (0.8, 0.3)");
    }

    static TrialRecord Trial(int n, double objective, double ms, long bytes = 1000) => new()
    {
        Number = n, Status = TrialRecord.Ok, Key = n.ToString(), Point = [], Pipeline = new JsonObject(),
        Validation = new ValidationMetrics(objective, null, null, objective, 1, 1), MsPerImage = new() { ["total"] = ms }, ModelBytes = bytes,
    };

    [Fact]
    public void Pareto_front_and_picks()
    {
        var trials = new[] { Trial(0, 0.90, 50), Trial(1, 0.95, 100), Trial(2, 0.85, 20), Trial(3, 0.80, 60), Trial(4, 0.95, 120) };
        Assert.Equal([1, 0, 2], Pareto.Front(trials).Select(t => t.Number));
        Assert.Equal(1, Pareto.Choose(trials, Pick.Best)!.Number);
        Assert.Equal(0, Pareto.Choose(trials, Pick.Parse("fastest:60"))!.Number);
        Assert.Equal(2, Pareto.Choose(trials, Pick.Parse("fastest:5"))!.Number); // none that fast: the fastest
        Assert.Equal(2, Pareto.Choose(trials, Pick.Parse("weight:1"))!.Number);
        Assert.Equal(1, Pareto.Choose(trials, Pick.Parse("weight:0"))!.Number);
        Assert.Contains("fastest:<ms per image>", Assert.Throws<PipelineException>(() => Pick.Parse("quickest")).Message);
    }

    [Fact]
    public void The_threshold_is_chosen_by_its_expected_error_on_held_out_halves_at_a_low_defect_rate()
    {
        // Good parts 0.00..0.95, synthetic anomalies 0.50..1.45 (they overlap): F1 between the two (as many anomalies as
        // good parts) cuts low and rejects about half of the good parts; the 0.99 quantile passes nearly all of them.
        var good = Enumerable.Range(0, 20).Select(i => i * 0.05f).ToList();
        var synthetic = Enumerable.Range(0, 20).Select(i => 0.5f + i * 0.05f).ToList();
        JsonObject quantile = new() { ["type"] = "threshold.quantile", ["quantile"] = 0.99, ["margin"] = 1.0 }, f1 = new() { ["type"] = "threshold.synthetic-f1" };

        var choice = ThresholdSelection.Choose([f1, quantile], good, [], synthetic, TestData.Catalog, seed: 3);
        Assert.Same(quantile, choice.Threshold);
        var (byF1, byQuantile) = (choice.Candidates[0], choice.Candidates[1]);
        Assert.True(byQuantile.GoodPassRate >= 0.8, $"quantile passed {byQuantile.GoodPassRate}");
        Assert.True(byF1.GoodPassRate <= 0.7, $"F1 passed {byF1.GoodPassRate}");
        Assert.True(byF1.SyntheticRejectRate > byQuantile.SyntheticRejectRate);
        Assert.All(choice.Candidates, c => Assert.Equal((1 - ThresholdSelection.DefectRate) * (1 - c.GoodPassRate) + ThresholdSelection.DefectRate * (1 - c.SyntheticRejectRate), c.ExpectedError, 12));
        Assert.Contains("threshold.quantile chosen after the search", choice.Describe());

        // Shifted copies count as good parts where they are judged: copies far above every threshold are rejected.
        var shifted = good.Select(s => s + 10f).ToList();
        var withShifted = ThresholdSelection.Choose([quantile], good, shifted, synthetic, TestData.Catalog, seed: 3);
        Assert.Equal(byQuantile.GoodPassRate / 2, withShifted.Candidates[0].GoodPassRate, 12);

        // The same decisions whatever the order; a tie keeps the earlier alternative.
        Assert.Same(quantile, ThresholdSelection.Choose([quantile, f1], good, [], synthetic, TestData.Catalog, seed: 3).Threshold);
        var twin = (JsonObject)quantile.DeepClone();
        Assert.Same(twin, ThresholdSelection.Choose([twin, quantile], good, [], synthetic, TestData.Catalog, seed: 3).Threshold);
        Assert.Throws<PipelineException>(() => ThresholdSelection.Choose([quantile], good.Take(1).ToList(), [], synthetic, TestData.Catalog, seed: 3));
    }

    [Fact]
    public void Kendall_tau_matches_known_values()
    {
        Assert.Equal(1.0, Audit.KendallTau([1, 2, 3, 4], [10, 20, 30, 40]));
        Assert.Equal(-1.0, Audit.KendallTau([1, 2, 3, 4], [4, 3, 2, 1]));
        // scipy.stats.kendalltau([1,2,3,4,5], [3,1,2,5,4]) = 0.4 (6 concordant, 4 discordant of 10 pairs).
        Assert.Equal(0.4, Audit.KendallTau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4])!.Value, 10);
        // tau-b with ties: scipy.stats.kendalltau([1,1,2,3], [1,2,2,3]) = 0.8.
        Assert.Equal(0.8, Audit.KendallTau([1, 1, 2, 3], [1, 2, 2, 3])!.Value, 10);
        Assert.Null(Audit.KendallTau([1, 2, 3], [1, 1, 1])); // every test AUROC equal: undefined
    }
}
