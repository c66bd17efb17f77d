using System.Diagnostics;
using PipelineFramework.Rules;

namespace PipelineFramework.Tests.Logic;

/// <summary>The rule language on hand-made facts: each of LogiCode's four kinds, refusals, and hostile rules.</summary>
public class RuleLanguageTests
{
    static readonly string[] Classes = ["grey", "red", "blue", "green", "yellow", "magenta"];

    static ComponentFacts Part(double x, double y, double w, double h, params double[] colour) => new()
    {
        Area = w * h, X = x, Y = y, Box = [x - w / 2, y - h / 2, w, h], Colour = colour.Length == 3 ? colour : [0.5, 0.5, 0.5],
    };

    /// <summary>A scene like the generator's: two red pins left, a blue bar top right, a green label right, a pair of connectors.</summary>
    static PartFacts Scene(string id, int pins = 2, double barWidth = 0.3, double labelX = 0.7, double[]? secondConnector = null)
    {
        var pinList = Enumerable.Range(0, pins).Select(i => Part(0.25, 0.2 + 0.25 * i, 0.1, 0.1, 0.85, 0.1, 0.1)).ToList();
        var connectors = new List<ComponentFacts> { Part(0.3, 0.85, 0.08, 0.08, 0.9, 0.85, 0.1), Part(0.6, 0.85, 0.08, 0.08, secondConnector ?? [0.9, 0.85, 0.1]) };
        return new PartFacts
        {
            Id = id,
            Classes =
            [
                new ClassFacts { Name = "grey", Components = [Part(0.5, 0.5, 1, 1)] },
                new ClassFacts { Name = "red", Components = pinList },
                new ClassFacts { Name = "blue", Components = [Part(0.7, 0.2, barWidth, 0.06, 0.1, 0.2, 0.8)] },
                new ClassFacts { Name = "green", Components = [Part(labelX, 0.55, 0.12, 0.12, 0.15, 0.65, 0.2)] },
                new ClassFacts { Name = "yellow", Components = connectors },
                new ClassFacts { Name = "magenta", Components = [] },
            ],
        };
    }

    static Rule One(string json) => RuleParser.ParseDocument($"{{\"rules\": [{json}]}}", RuleSource.Hand, Classes)[0];

    [Fact]
    public void Quantity_rules_count_the_components_of_a_class()
    {
        var rule = One("""{"id": "two-pins", "kind": "quantity", "check": {"range": {"count": "red"}, "min": 2, "max": 2}}""");
        Assert.True(rule.Check.Evaluate(Scene("good")).Passed);
        var missing = rule.Check.Evaluate(Scene("missing", pins: 1));
        Assert.False(missing.Passed);
        Assert.Equal(1, missing.Measured);
        Assert.Equal(2, missing.ExpectedMin);
        Assert.Equal("red", missing.Component);
        Assert.Contains("count of red = 1, expected [2, 2]", missing.Detail);
        Assert.False(rule.Check.Evaluate(Scene("extra", pins: 3)).Passed);
        Assert.Equal(RuleKind.Quantity, rule.Kind);
        Assert.Equal(RuleSource.Hand, rule.Source);
    }

    [Fact]
    public void Size_rules_measure_areas_and_widths_of_a_class_or_one_component()
    {
        var area = One("""{"id": "bar-area", "kind": "size", "check": {"range": {"area": "blue"}, "min": 0.015, "max": 0.021}}""");
        Assert.True(area.Check.Evaluate(Scene("good")).Passed); // 0.3 x 0.06 = 0.018
        var longBar = area.Check.Evaluate(Scene("long", barWidth: 0.45));
        Assert.False(longBar.Passed);
        Assert.Equal(0.027, longBar.Measured!.Value, 6);
        Assert.True(longBar.Severity > 1, "a failure further outside the range is more severe than one at its edge");
        var width = One("""{"id": "pin-width", "kind": "size", "check": {"range": {"width": "red", "component": 1}, "max": 0.12}}""");
        Assert.True(width.Check.Evaluate(Scene("good")).Passed);
        Assert.Equal("red #1", width.Check.Evaluate(Scene("good")).Component);
    }

    [Fact]
    public void Position_rules_order_classes_and_keep_them_in_boxes_and_inside_each_other()
    {
        var above = One("""{"id": "bar-above-label", "kind": "position", "check": {"above": ["blue", "green"]}}""");
        var left = One("""{"id": "pins-left", "kind": "position", "check": {"leftOf": ["red", "green"]}}""");
        var zone = One("""{"id": "label-zone", "kind": "position", "check": {"within": "green", "box": [0.5, 0, 1, 0.8]}}""");
        var inside = One("""{"id": "grey-holds-pins", "kind": "position", "check": {"inside": ["red", "grey"]}}""");
        var good = Scene("good");
        Assert.All(new[] { above, left, zone, inside }, r => Assert.True(r.Check.Evaluate(good).Passed, r.Id));
        var moved = Scene("moved", labelX: 0.15);
        Assert.False(left.Check.Evaluate(moved).Passed);
        var outside = zone.Check.Evaluate(moved);
        Assert.False(outside.Passed);
        Assert.Equal("green #1", outside.Component);
        Assert.Contains("outside the box", outside.Detail);
        var notInside = One("""{"id": "label-on-pin", "kind": "position", "check": {"inside": ["green", "red"]}}""").Check.Evaluate(good);
        Assert.False(notInside.Passed);
        Assert.Contains("green #1", notInside.Detail);
    }

    [Fact]
    public void Matching_rules_tie_one_fact_to_another()
    {
        var pair = One("""{"id": "same-connectors", "kind": "matching", "check": {"sameColour": "yellow", "tolerance": 0.1}}""");
        var exclusive = One("""{"id": "one-colour", "kind": "matching", "check": {"if": {"present": "yellow"}, "then": {"absent": "magenta"}}}""");
        var equal = One("""{"id": "pins-vs-labels", "kind": "matching", "check": {"compare": [{"count": "red"}, "==", {"count": "yellow"}]}}""");
        var good = Scene("good");
        Assert.True(pair.Check.Evaluate(good).Passed);
        Assert.True(exclusive.Check.Evaluate(good).Passed);
        Assert.True(equal.Check.Evaluate(good).Passed);
        var mismatched = pair.Check.Evaluate(Scene("mismatched", secondConnector: [0.8, 0.1, 0.75]));
        Assert.False(mismatched.Passed);
        Assert.Equal(0.75, mismatched.Measured!.Value, 6);
        Assert.False(equal.Check.Evaluate(Scene("extra", pins: 3)).Passed);
    }

    [Fact]
    public void A_rule_that_rejects_a_good_part_is_refused_with_the_part_and_the_reason_and_nothing_changes()
    {
        var good = new[] { Scene("a.png"), Scene("b.png", barWidth: 0.34), Scene("c.png") };
        var book = new RuleBook(Classes, [], good);
        var (updated, accepted, refused, _) = book.Add("""
            {"rules": [
              {"id": "two-pins", "kind": "quantity", "check": {"range": {"count": "red"}, "min": 2, "max": 2}},
              {"id": "short-bar", "kind": "size", "check": {"range": {"width": "blue"}, "max": 0.32}}
            ]}
            """, RuleSource.Llm);
        Assert.Equal(["two-pins"], accepted.Select(r => r.Id));
        var refusal = Assert.Single(refused);
        Assert.Equal("short-bar", refusal.RuleId);
        Assert.Contains("rejects the good training part 'b.png'", refusal.Reason);
        Assert.Contains("width of blue = 0.34", refusal.Reason);
        Assert.Empty(book.Rules);
        Assert.Equal(RuleSource.Llm, Assert.Single(updated.Rules).Source);
    }

    [Fact]
    public void Rules_survive_writing_and_reading_with_their_source()
    {
        var book = new RuleBook(Classes, [], [Scene("a.png")]);
        book = book.Add("""[{"id": "two-pins", "kind": "quantity", "source": "llm", "description": "two pins", "check": {"range": {"count": "red"}, "min": 2, "max": 2}}]""", RuleSource.Llm).Book;
        book = book.Add("""[{"id": "pins-left", "kind": "position", "check": {"leftOf": ["red", "blue"]}}]""", RuleSource.Hand).Book;
        var back = RuleBook.Load(book.RulesJson(), PartFacts.ToJson(book.Good));
        Assert.Equal(book.Classes, back.Classes);
        Assert.Equal(book.Rules.Select(r => (r.Id, r.Kind, r.Source, r.Description)), back.Rules.Select(r => (r.Id, r.Kind, r.Source, r.Description)));
        Assert.Equal([RuleSource.Llm, RuleSource.Hand], back.Rules.Select(r => r.Source));
        var facts = Scene("x", pins: 1);
        Assert.Equal(book.Evaluate(facts).Select(e => e.Outcome), back.Evaluate(facts).Select(e => e.Outcome));
        Assert.Equal("a.png", Assert.Single(back.Good).Id);
    }

    [Fact]
    public void Rules_learned_from_good_parts_pass_on_each_of_them_and_catch_the_logical_changes()
    {
        var good = Enumerable.Range(0, 12).Select(i => Scene($"{i}.png", barWidth: 0.28 + 0.004 * i, labelX: 0.65 + 0.01 * i)).ToList();
        var rules = RuleLearner.Learn(Classes, good, 0.15);
        Assert.All(rules, r => Assert.Equal(RuleSource.Learned, r.Source));
        var book = new RuleBook(Classes, rules, good);
        Assert.All(rules, r => Assert.Null(book.Verify(r)));
        Assert.Contains(rules, r => r.Id == "red-count" && r.Kind == RuleKind.Quantity);
        Assert.Contains(rules, r => r.Id == "blue-area" && r.Kind == RuleKind.Size);
        Assert.Contains(rules, r => r.Id == "green-x" && r.Kind == RuleKind.Position);
        string[] Failed(PartFacts p) => book.Evaluate(p).Where(e => !e.Outcome.Passed).Select(e => e.Rule.Id).ToArray();
        Assert.Contains("red-count", Failed(Scene("missing", pins: 1)));
        Assert.Contains("blue-area", Failed(Scene("long", barWidth: 0.45)));
        Assert.Contains("green-x", Failed(Scene("moved", labelX: 0.2)));
    }

    [Theory]
    [InlineData("""{"id": "r1", "kind": "quantity", "check": {"range": {"cout": "red"}, "min": 2}}""", "rule 'r1' ($.rules[0].check.range): unknown fact 'cout' (did you mean 'count'?)")]
    [InlineData("""{"id": "r2", "kind": "quantity", "check": {"range": {"count": "rde"}, "min": 2}}""", "rule 'r2' ($.rules[0].check.range.count): unknown class 'rde' (did you mean 'red'?)")]
    [InlineData("""{"id": "r3", "kind": "quantty", "check": {"present": "red"}}""", "rule 'r3' ($.rules[0].kind): 'quantty' is not one of quantity, size, position, matching (did you mean 'quantity'?)")]
    [InlineData("""{"id": "r4", "kind": "size", "check": {"range": {"area": "red"}, "max": 1e400}}""", "rule 'r4' ($.rules[0].check.max): ")]
    [InlineData("""{"id": "r5", "kind": "size", "check": {"range": {"area": "red"}, "max": 123456789012}}""", "out of range; literals lie within")]
    [InlineData("""{"id": "r6", "kind": "size", "check": {"rnge": {"area": "red"}, "max": 1}}""", "rule 'r6' ($.rules[0].check): unknown key 'rnge' (did you mean 'range'?)")]
    [InlineData("""{"id": "r7", "kind": "size", "check": {"range": {"area": "red"}, "min": 0.5, "max": 0.1}}""", "min 0.5 is above max 0.1")]
    [InlineData("""{"id": "r8", "kind": "position", "check": {"compare": [{"x": "red"}, "=>", 1]}}""", "unknown operator '=>'")]
    public void A_malformed_rule_gets_an_error_naming_the_rule_the_path_and_the_problem(string rule, string expected)
    {
        var error = Assert.Throws<RuleException>(() => One(rule));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Hostile_rules_fail_fast_with_a_clear_error_naming_the_rule()
    {
        var watch = Stopwatch.StartNew();
        string deep = string.Concat(Enumerable.Repeat("{\"not\": ", 200)) + "{\"present\": \"red\"}" + new string('}', 200);
        var nested = Assert.Throws<RuleException>(() => One($$$"""{"id": "deep", "kind": "matching", "check": {{{deep}}}}"""));
        Assert.Contains("rule 'deep'", nested.Message);
        Assert.Contains($"nested deeper than {RuleParser.MaxDepth} levels", nested.Message);

        string wide = string.Join(", ", Enumerable.Repeat("{\"present\": \"red\"}", 5000));
        var many = Assert.Throws<RuleException>(() => One($$$"""{"id": "wide", "kind": "matching", "check": {"all": [{{{wide}}}]}}"""));
        Assert.Contains($"rule 'wide' ($.rules[0]): more than {RuleParser.MaxNodes} nodes", many.Message);

        var longNumber = Assert.Throws<RuleException>(() => One($$$"""{"id": "digits", "kind": "size", "check": {"range": {"area": "red"}, "max": {{{new string('9', 100000)}}}}}"""));
        Assert.Contains("rule 'digits'", longNumber.Message);

        var longName = Assert.Throws<RuleException>(() => One($$$"""{"id": "name", "kind": "size", "check": {"present": "{{{new string('x', 100000)}}}"}}"""));
        Assert.Contains("rule 'name' ($.rules[0].check.present): a string of 100000 characters", longName.Message);

        var tooDeepForJson = Assert.Throws<RuleException>(() => RuleParser.ParseDocument(new string('[', 100000) + new string(']', 100000), RuleSource.Hand, Classes));
        Assert.Contains("not valid JSON", tooDeepForJson.Message);

        var huge = Assert.Throws<RuleException>(() => RuleParser.ParseDocument("[" + new string(' ', RuleParser.MaxDocumentBytes) + "]", RuleSource.Hand, Classes));
        Assert.Contains("larger than 1024 KiB", huge.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"hostile rules took {watch.Elapsed.TotalSeconds:0.0} s to refuse");
    }

    [Fact]
    public void Adding_never_replaces_a_rule_nor_takes_a_source_other_than_the_adders()
    {
        var book = new RuleBook(Classes, [], [Scene("a.png")]);
        book = book.Add("""[{"id": "two-pins", "kind": "quantity", "check": {"range": {"count": "red"}, "min": 0, "max": 6}}]""", RuleSource.Learned).Book;

        // Before, the hand rule replaced the learned one and "added" left the count unchanged.
        var (same, accepted, refused, _) = book.Add("""[{"id": "two-pins", "kind": "quantity", "check": {"present": "red"}}]""", RuleSource.Hand);
        Assert.Empty(accepted);
        Assert.Contains("rule 'two-pins' has the id of a learned rule already in the model", Assert.Single(refused).Reason);
        Assert.Equal(RuleSource.Learned, Assert.Single(same.Rules).Source);

        // Before, "source": "learned" on a hand-added rule was stored as learned.
        (_, accepted, refused, _) = book.Add("""[{"id": "fake", "kind": "quantity", "source": "learned", "check": {"present": "red"}}]""", RuleSource.Hand);
        Assert.Empty(accepted);
        Assert.Contains("rule 'fake' claims the source 'learned'; a rule added this way is 'hand'", Assert.Single(refused).Reason);
    }

    [Fact]
    public void A_key_given_twice_in_a_rule_is_refused_with_its_json_path()
    {
        // Before: ArgumentException "An item with the same key has already been added" (exit 2).
        var e = Assert.Throws<RuleException>(() => RuleParser.ParseDocument("""{"rules": [{"id": "a", "id": "b", "kind": "quantity", "check": {"present": "red"}}]}""", RuleSource.Hand, Classes));
        Assert.Equal("$.rules[0].id: given twice; keep one of the two values", e.Message);
    }

    [Theory]
    [InlineData("", "The rules document is empty; write {\"rules\": [")]
    [InlineData("{\"rules\": [", "The rules document is not valid JSON at line 1, position ")]
    public void A_document_that_is_not_json_says_where_without_the_readers_tail_or_an_unrelated_nesting_hint(string json, string expected)
    {
        var e = Assert.Throws<RuleException>(() => RuleParser.ParseDocument(json, RuleSource.Hand, Classes));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain("nest at most", e.Message);
        Assert.DoesNotContain("LineNumber", e.Message);
        Assert.DoesNotMatch(@"[^.]\.\.(?!\.)", e.Message);   // a double period, not an ellipsis
    }

    [Fact]
    public void Evaluation_time_is_bounded_by_the_rule_size_limit()
    {
        // The largest rule the parser accepts, evaluated on a part with many components.
        string items = string.Join(", ", Enumerable.Repeat("{\"sameColour\": \"red\"}", RuleParser.MaxNodes - 2));
        var rule = One($$$"""{"id": "big", "kind": "matching", "check": {"all": [{{{items}}}]}}""");
        var crowded = Scene("crowded", pins: 300);
        var watch = Stopwatch.StartNew();
        var outcome = rule.Check.Evaluate(crowded);
        Assert.True(outcome.Passed);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"evaluation took {watch.Elapsed.TotalSeconds:0.0} s");
    }
}
