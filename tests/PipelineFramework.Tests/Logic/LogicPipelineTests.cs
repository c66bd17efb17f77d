using System.Text.Json.Nodes;
using PipelineFramework.Compute;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.LocoGen;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Logic;

/// <summary>
/// The shipped logic pipeline on a small generated LOCO-like set (what the issue's "must show" measures, at a size
/// that runs in seconds): logical anomalies caught by rules and composition, structural ones by PatchCore.
/// </summary>
public class LogicPipelineTests
{
    internal static readonly Lazy<string> Data = new(() =>
    {
        var root = TestData.TempFolder("loco");
        LocoGenerator.Generate(root, seed: 7, new LocoCounts { TrainGood = 60, TestGood = 16, PerLogicalType = 4, PerStructuralType = 5 });
        return root;
    });

    /// <summary>The shipped logic pipeline as a JSON object (comments dropped), to change one setting in a test.</summary>
    internal static JsonObject LogicPipeline()
    {
        var options = new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip };
        return JsonNode.Parse(File.ReadAllText(TestData.Pipeline("patchcore-logic-mobilenet")), documentOptions: options)!.AsObject();
    }

    static string WithoutLogic()
    {
        var spec = LogicPipeline();
        spec.Remove("logic");
        return spec.ToJsonString();
    }

    static readonly Lazy<CategoryResult> WithLogicResult = new(() => Evaluator.Run(
        AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-logic-mobilenet"), TestData.Catalog), Data.Value, TestData.TempFolder("eval-logic"))[0]);

    static readonly Lazy<AnomalyModel> Model = new(() =>
        AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-logic-mobilenet"), TestData.Catalog).Fit(Directory.GetFiles(Path.Combine(Data.Value, "train", "good"))));

    [Fact]
    public void The_generator_is_deterministic_and_writes_the_loco_layout_with_masks()
    {
        var a = LocoGenerator.Draw(SeededRandom.Create(3, 1), "extra");
        var b = LocoGenerator.Draw(SeededRandom.Create(3, 1), "extra");
        Assert.Equal(a.Image.Pixels, b.Image.Pixels);
        Assert.Equal(a.Mask.Values, b.Mask.Values);
        Assert.InRange(a.Mask.Values.Sum(), 400, 900); // one pin of radius ~14 marked
        Assert.Equal(0, LocoGenerator.Draw(SeededRandom.Create(3, 1), null).Mask.Values.Sum());
        foreach (var folder in new[] { "train/good", "test/good", "test/logical_anomalies", "test/structural_anomalies", "ground_truth/logical_anomalies", "ground_truth/structural_anomalies" })
            Assert.True(Directory.Exists(Path.Combine(Data.Value, folder)), folder);
        Assert.Equal(20, Directory.GetFiles(Path.Combine(Data.Value, "ground_truth", "logical_anomalies")).Length);
    }

    [Fact]
    public void Logical_anomalies_are_caught_by_the_logic_stage_and_structural_ones_stay_caught()
    {
        var with = WithLogicResult.Value.Metrics;
        var without = Evaluator.Run(AnomalyPipeline.FromJson(WithoutLogic(), TestData.Catalog), Data.Value, TestData.TempFolder("eval-nologic"))[0].Metrics;
        Assert.NotNull(with.LogicalAuroc);
        Assert.True(with.LogicalAuroc >= 0.97, $"logical AUROC {with.LogicalAuroc:0.000} with the logic stage");
        Assert.True(with.LogicalAuroc - without.LogicalAuroc >= 0.10, $"logical AUROC {with.LogicalAuroc:0.000} with, {without.LogicalAuroc:0.000} without the logic stage");
        Assert.True(with.StructuralAuroc >= 0.95, $"structural AUROC {with.StructuralAuroc:0.000}");
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(WithLogicResult.Value.OutputFolder, "metrics.json")))!;
        Assert.Equal(with.LogicalAuroc!.Value, metrics["logical_auroc"]!.GetValue<double>(), 9);
    }

    [Fact]
    public void No_good_training_image_breaks_an_accepted_rule_and_failures_say_which_rule_where_and_by_how_much()
    {
        var model = Model.Value;
        var train = model.Inspect(Directory.GetFiles(Path.Combine(Data.Value, "train", "good")));
        Assert.All(train, r => Assert.All(r.Rules, rule => Assert.True(rule.Passed, $"{r.Id}: {rule.RuleId} {rule.Detail}")));
        Assert.Contains(train[0].Rules, r => r.RuleId == "red-count");

        var missing = model.Inspect([Path.Combine(Data.Value, "test", "logical_anomalies", "000.png")])[0]; // the first type: a pin missing
        Assert.True(missing.IsAnomaly);
        var count = Assert.Single(missing.Rules, r => r.RuleId == "red-count");
        Assert.False(count.Passed);
        Assert.Equal(1, count.Measured);
        Assert.Equal(2, count.ExpectedMin);
        Assert.Equal("red", count.Component);
        Assert.Contains("[quantity, learned]", count.Detail);
        Assert.Contains("at box", count.Detail);
        Assert.True(missing.RawScore > model.Threshold, "a broken rule puts the fused score past the threshold");
        Assert.True(missing.ImageRawScore < missing.RawScore);
    }

    [Fact]
    public void Rules_and_verdicts_survive_save_and_load()
    {
        var model = Model.Value;
        var path = Path.Combine(TestData.TempFolder("logic-model"), "m.pfmodel");
        model.Save(path);
        using var loaded = AnomalyModel.Load(path, TestData.Catalog);
        var images = Directory.GetFiles(Path.Combine(Data.Value, "test", "logical_anomalies")).Take(6)
            .Concat(Directory.GetFiles(Path.Combine(Data.Value, "test", "good")).Take(3)).ToList();
        var before = model.Inspect(images);
        var after = loaded.Inspect(images);
        for (int i = 0; i < images.Count; i++)
        {
            Assert.Equal(before[i].RawScore, after[i].RawScore);
            Assert.Equal(before[i].IsAnomaly, after[i].IsAnomaly);
            Assert.Equal(before[i].Rules, after[i].Rules);
        }
        Assert.Contains("\"source\":\"learned\"", ModelFileEntries.ReadText(path, "logic/0/rules.json").Replace(" ", "").Replace("\n", ""));
    }

    [Fact]
    public void Pf_rules_lists_the_rules_and_adds_only_rules_that_pass_on_every_good_part()
    {
        var folder = TestData.TempFolder("pf-rules");
        var path = Path.Combine(folder, "m.pfmodel");
        Model.Value.Save(path);
        var (code, output, _) = Pf("rules", "--model", path);
        Assert.Equal(0, code);
        Assert.Contains("red-count", output);
        Assert.Contains("learned", output);

        var bad = Path.Combine(folder, "bad.json");
        File.WriteAllText(bad, """{"rules": [{"id": "one-pin", "kind": "quantity", "check": {"range": {"count": "red"}, "max": 1}}]}""");
        var before = File.ReadAllBytes(path);
        (code, _, var err) = Pf("rules", "--model", path, "--add", bad);
        Assert.Equal(1, code);
        Assert.Contains("refused: rule 'one-pin' rejects the good training part", err);
        Assert.Contains("the model is unchanged", err);
        Assert.Equal(before, File.ReadAllBytes(path));

        var typo = Path.Combine(folder, "typo.json");
        File.WriteAllText(typo, """{"rules": [{"id": "t", "kind": "quantity", "check": {"range": {"count": "redd"}, "max": 9}}]}""");
        (code, _, err) = Pf("rules", "--model", path, "--add", typo);
        Assert.Equal(1, code);
        Assert.Contains("unknown class 'redd' (did you mean 'red'?)", err);

        var good = Path.Combine(folder, "good.json");
        File.WriteAllText(good, """{"rules": [{"id": "at-most-two-pins", "kind": "quantity", "description": "never more than two pins", "check": {"range": {"count": "red"}, "max": 2}}]}""");
        (code, output, _) = Pf("rules", "--model", path, "--add", good);
        Assert.Equal(0, code);
        Assert.Contains("Added 1 rules (at-most-two-pins)", output);
        (_, output, _) = Pf("rules", "--model", path);
        Assert.Matches(@"at-most-two-pins\s+quantity\s+hand", output);

        using var loaded = AnomalyModel.Load(path, TestData.Catalog);
        var extra = loaded.Inspect([Path.Combine(Data.Value, "test", "logical_anomalies", "004.png")])[0]; // second type: a third pin
        Assert.False(Assert.Single(extra.Rules, r => r.RuleId == "at-most-two-pins").Passed);
    }

    static (int ExitCode, string Out, string Err) Pf(params string[] args) => PfProcess.Run(args);
}
