using System.Diagnostics;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Logic;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Cli;

/// <summary>
/// `pf rules --add` on the real `pf`: a rules file that cannot be taken is one `error:` line and exit 1 with the model
/// unchanged; two changes of one model at once both land (they take turns on a lock).
/// </summary>
public class RulesCliTests
{
    static readonly Lazy<string> Model = new(() =>
    {
        using var model = AnomalyPipeline.FromJson(LogicPipelineTests.LogicPipeline().ToJsonString(), TestData.Catalog)
            .Fit(Directory.GetFiles(Path.Combine(LogicPipelineTests.Data.Value, "train", "good")));
        var path = Path.Combine(TestData.TempFolder("rules-cli-model"), "m.pfmodel");
        model.Save(path);
        return path;
    });

    static string CopyOfModel(string name)
    {
        var path = Path.Combine(TestData.TempFolder("rules-cli-" + name), "m.pfmodel");
        File.Copy(Model.Value, path);
        return path;
    }

    static string RulesFile(string model, string name, string json)
    {
        var path = Path.Combine(Path.GetDirectoryName(model)!, name + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    static string Rule(string id, int max) =>
        $$$"""{"rules": [{"id": "{{{id}}}", "kind": "quantity", "check": {"range": {"count": "red"}, "min": 0, "max": {{{max}}}}}]}""";

    static void AssertRefusedUnchanged((int ExitCode, string Out, string Err) run, string model, byte[] before, string expected)
    {
        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}: {run.Err}");
        Assert.Contains(expected, run.Err);
        Assert.DoesNotContain("unexpected", run.Err);
        Assert.DoesNotMatch(@"[^.]\.\.(?!\.)", run.Err);   // a double period, not an ellipsis
        Assert.Equal(before, File.ReadAllBytes(model));
    }

    [Fact]
    public void A_rules_file_that_cannot_be_taken_is_one_clear_error_and_the_model_is_unchanged()
    {
        var model = CopyOfModel("refused");
        var before = File.ReadAllBytes(model);
        var (code, listing, _) = PfProcess.Run("rules", "--model", model);
        Assert.Equal(0, code);
        var learned = listing.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .First(columns => columns.Length > 2 && columns[2] == "learned")[0];

        // F5: was exit 2 (ArgumentException).
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add",
            RulesFile(model, "twice", """{"rules":[{"id":"a","id":"b","kind":"quantity","check":{"present":"red"}}]}""")),
            model, before, "$.rules[0].id: given twice");
        // F7: was "Added 1 rules", the learned rule silently replaced.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add",
            RulesFile(model, "same-id", $$$"""{"rules":[{"id":"{{{learned}}}","kind":"quantity","check":{"range":{"count":"red"},"min":0,"max":1000}}]}""")),
            model, before, $"rule '{learned}' has the id of a learned rule already in the model");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add",
            RulesFile(model, "claims", """{"rules":[{"id":"claims","source":"learned","kind":"quantity","check":{"range":{"count":"red"},"min":0,"max":1000}}]}""")),
            model, before, "rule 'claims' claims the source 'learned'");
        // F11: was "Added 0 rules ()", exit 0; an empty file ended in "; rules nest at most 12 levels..".
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "none", """{"rules":[]}""")),
            model, before, "holds no rules; nothing to add");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "empty", "")),
            model, before, "The rules document is empty");
        // Was "unexpected InvalidOperationException: Cannot read incomplete UTF-16 JSON text", exit 2.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "surrogate",
            """{"rules":[{"id":"s","kind":"quantity","check":{"range":{"count":"r\ud800d"},"max":2}}]}""")),
            model, before, "not valid JSON at line 1, position 65: a string holds half of a UTF-16 surrogate pair");
    }

    [Fact]
    public void A_hand_rule_that_can_never_fail_is_refused_and_one_far_wider_than_the_good_parts_is_added_with_a_warning()
    {
        var model = CopyOfModel("loose");
        var before = File.ReadAllBytes(model);
        // Before, "Added 1 rules": the bar's area written in pixels passes every good part, since an area is a fraction of the image.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "pixels",
            """{"rules":[{"id":"bar-area","kind":"size","check":{"range":{"area":"blue"},"min":0,"max":5000}}]}""")),
            model, before, "refused: rule 'bar-area' checks area of blue in [0, 5000], but max 5000 lies outside the possible values (0 to 1, a fraction of the image); the good parts show ");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "everything",
            """{"rules":[{"id":"some-red","kind":"quantity","check":{"range":{"count":"red"},"min":0}}]}""")),
            model, before, "refused: rule 'some-red' checks count of red in [0, inf], which admits every possible value (0 and up, a number of components), so it can never fail");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "colour",
            """{"rules":[{"id":"red-colour","kind":"matching","check":{"range":{"r":"red", "component": 1},"max":1}}]}""")),
            model, before, "refused: rule 'red-colour' checks r of red #1 in [-inf, 1], which admits every possible value (0 to 1, a colour channel), " +
            "so it fails only where red is absent (to check presence, write {\"present\": \"red\"})");

        // The operator may know a tolerance the training parts do not show: added, with the warning.
        var (code, output, err) = PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "far",
            """{"rules":[{"id":"at-most-ten-red","kind":"quantity","check":{"range":{"count":"red"},"max":10}}]}"""));
        Assert.True(code == 0, err);
        Assert.Contains("warning: rule 'at-most-ten-red' checks count of red in [-inf, 10], but max 10 lies 8 above the largest value on a good part, " +
            "more than 3 times the good parts' spread (1), so it hardly ever fails; the good parts show 2 to 2 (the learned rule 'red-count' allows [2, 2])", err);
        Assert.Contains("Added 1 rules (at-most-ten-red)", output);
        Assert.Matches(@"at-most-ten-red\s+quantity\s+hand", PfProcess.Run("rules", "--model", model).Out);
    }

    [Fact]
    public void A_hand_compare_is_judged_like_the_range_it_amounts_to()
    {
        var model = CopyOfModel("compare");
        var before = File.ReadAllBytes(model);
        // Before, each was "Added 1 rules": a tolerance of 5 between two positions (fractions of the image) can never
        // fail, nor can a compare of a fact with itself or a class inside itself.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "x-tolerance",
            """{"rules":[{"id":"pins-left","kind":"position","check":{"compare":[{"x":"red"},"<=",{"x":"green"}],"tolerance":5}}]}""")),
            model, before, "refused: rule 'pins-left' compares x of red <= x of green with a tolerance of 5: x of red minus x of green may lie in [-inf, 5], " +
            "but max 5 lies outside the possible values (-1 to 1, x of red minus x of green); the good parts show ");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "itself",
            """{"rules":[{"id":"pins-pins","kind":"quantity","check":{"compare":[{"count":"red"},"==",{"count":"red"}]}}]}""")),
            model, before, "refused: rule 'pins-pins' compares count of red == count of red, a value with itself, so it can never fail");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "inside-itself",
            """{"rules":[{"id":"pin-in-pin","kind":"position","check":{"inside":["red","red"]}}]}""")),
            model, before, "refused: rule 'pin-in-pin' checks that every red lies inside a red, but every component lies inside its own box, so it can never fail");

        // A tolerance far beyond the good parts: the operator may know better, so it is added with the warning.
        var (code, output, err) = PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "far",
            """{"rules":[{"id":"pins-vs-bar","kind":"matching","check":{"compare":[{"count":"red"},"==",{"count":"blue"}],"tolerance":100}}]}"""));
        Assert.True(code == 0, err);
        Assert.Contains("warning: rule 'pins-vs-bar' compares count of red == count of blue with a tolerance of 100: count of red minus count of blue " +
            "may lie in [-100, 100], but min -100 lies ", err);
        Assert.Contains("more than 3 times the good parts' spread", err);
        Assert.Contains("Added 1 rules (pins-vs-bar)", output);
    }

    [Fact]
    public void A_hand_rule_that_can_never_fail_through_not_or_if_is_refused_and_a_dead_else_is_a_warning()
    {
        var model = CopyOfModel("not-if");
        var before = File.ReadAllBytes(model);
        // Before, each was "Added 1 rules": a not of a count that can never be negative always holds, and an if whose
        // condition can never hold never checks its then.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "not-negative",
            """{"rules":[{"id":"not-negative","kind":"quantity","check":{"not":{"range":{"count":"red"},"min":-5,"max":-1}}}]}""")),
            model, before, "refused: rule 'not-negative': under \"not\", count of red in [-5, -1] can never hold (count of red takes 0 and up, a number of components), " +
            "so checking that it does not hold can never fail. Under \"not\", write what a bad part shows, within the possible values");
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "if-never",
            """{"rules":[{"id":"if-never","kind":"matching","check":{"if":{"range":{"area":"blue"},"min":5000},"then":{"absent":"blue"}}}]}""")),
            model, before, "refused: rule 'if-never': the \"if\" condition can never hold, so its \"then\" is never checked and the \"if\" can never fail: " +
            "area of blue in [5000, inf] can never hold (area of blue takes 0 to 1, a fraction of the image). Write an \"if\" condition that a part can meet, or check the \"then\" on its own");

        // The else is dead but the then still checks: added, with the warning.
        var (code, output, err) = PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "dead-else",
            """{"rules":[{"id":"dead-else","kind":"matching","check":{"if":{"range":{"count":"red"},"min":0},"then":{"present":"red"},"else":{"absent":"blue"}}}]}"""));
        Assert.True(code == 0, err);
        Assert.Contains("warning: rule 'dead-else': the \"if\" condition always holds, so its \"else\" is never checked: count of red in [0, inf] always holds " +
            "(it admits every value count of red takes: 0 and up, a number of components). Check the \"then\" on its own", err);
        Assert.Contains("Added 1 rules (dead-else)", output);
    }

    [Fact]
    public void A_hand_range_under_not_is_judged_on_the_band_it_excludes()
    {
        var model = CopyOfModel("not-range");
        var before = File.ReadAllBytes(model);
        // Before, both were "Added 1 rules" without a word: a not whose band reaches past the possible values (an area
        // in pixels), and one that fails only on parts far from every good one, which without the not is a warning.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "not-units",
            """{"rules":[{"id":"not-units","kind":"size","check":{"not":{"range":{"area":"blue"},"min":0.5,"max":5000}}}]}""")),
            model, before, "refused: rule 'not-units': under \"not\", it fails where area of blue lies in [0.5, 5000], but max 5000 lies outside the possible values (0 to 1, a fraction of the image)");

        var (code, output, err) = PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "not-far",
            """{"rules":[{"id":"not-far","kind":"quantity","check":{"not":{"range":{"count":"red"},"min":10}}}]}"""));
        Assert.True(code == 0, err);
        Assert.Contains("warning: rule 'not-far': under \"not\", it fails where count of red lies in [10, inf], but min 10 lies", err);
        Assert.Contains("above the largest value on a good part, more than 3 times the good parts' spread", err);
        Assert.Contains("Added 1 rules (not-far)", output);
    }

    static int RuleCount(string model) => PfProcess.Run("rules", "--model", model).Out.Split('\n')
        .Count(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 2 } columns && columns[2] is "learned" or "hand" or "llm");

    static string CountRules(string prefix, int n) => "{\"rules\": [" + string.Join(",", Enumerable.Range(0, n).Select(i =>
        $$$"""{"id":"{{{prefix}}}-{{{i}}}","kind":"quantity","check":{"range":{"count":"red"},"min":1,"max":3}}""")) + "]}";

    [Fact]
    public void Rules_beyond_what_a_model_can_load_are_refused_and_the_model_still_loads()
    {
        var model = CopyOfModel("full");
        var before = File.ReadAllBytes(model);
        int held = RuleCount(model);
        Assert.InRange(held, 1, 999);
        // Before: "Added 1000 rules", and then every command refused the model ("$.rules: 1024 rules; at most 1000"),
        // `pf score` calling it a bug in PipelineFramework.
        AssertRefusedUnchanged(PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "too-many", CountRules("a", 1000))),
            model, before, $"refused: rule 'a-{1000 - held}': the model would hold more than 1000 rules, the most a model can load; leave it out");

        var (code, output, err) = PfProcess.Run("rules", "--model", model, "--add", RulesFile(model, "fill", CountRules("b", 1000 - held)));
        Assert.True(code == 0, err);
        Assert.Contains("the model now has 1000.", output);
        Assert.Equal(1000, RuleCount(model));
    }

    [Fact]
    public void Two_adds_to_one_model_at_once_both_land()
    {
        // F6: each read the model, added its rule and wrote it back; the first one's rule was lost, both said "Added".
        var model = CopyOfModel("race");
        var runs = Enumerable.Range(0, 3)
            .Select(i => PfProcess.Start(null, "rules", "--model", model, "--add", RulesFile(model, $"r{i}", Rule($"race-{i}", 1000 + i))))
            .ToList();
        foreach (var run in runs)
        {
            Assert.True(run.WaitForExit(TimeSpan.FromMinutes(2)), "pf rules --add did not finish");
            Assert.True(run.ExitCode == 0, run.StandardError.ReadToEnd());
        }
        var (_, listing, _) = PfProcess.Run("rules", "--model", model);
        foreach (var i in Enumerable.Range(0, 3)) Assert.Contains($"race-{i} ", listing);
    }

    [Fact]
    public void An_add_waits_while_another_change_holds_the_model()
    {
        var model = CopyOfModel("held");
        var lockPath = Path.Combine(Path.GetDirectoryName(model)!, ".m.pfmodel.lock");
        Process run;
        using (new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            run = PfProcess.Start(null, "rules", "--model", model, "--add", RulesFile(model, "held", Rule("held", 1000)));
            Assert.False(run.WaitForExit(TimeSpan.FromSeconds(4)), "pf changed the model while another change held it");
        }
        Assert.True(run.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.True(run.ExitCode == 0, run.StandardError.ReadToEnd());
        Assert.Contains("held ", PfProcess.Run("rules", "--model", model).Out);
    }

    [Fact]
    public void A_fit_does_not_write_a_model_while_a_rules_change_holds_it()
    {
        // Without the lock, a fit finishing in the middle of `pf rules --add` was overwritten by the old model plus the rule.
        var model = CopyOfModel("fit-held");
        var before = File.ReadAllBytes(model);
        var lockPath = Path.Combine(Path.GetDirectoryName(model)!, ".m.pfmodel.lock");
        using (new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var (code, _, err) = PfProcess.Run("fit", "--pipeline", "patchcore-mobilenet", "--data", TestData.Hazelnut, "--model", model);
            Assert.Equal(1, code);
            Assert.Contains("Another pf command (`pf rules` or `pf fit`) is changing", err);
        }
        Assert.Equal(before, File.ReadAllBytes(model));
    }
}
