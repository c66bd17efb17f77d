using System.Globalization;
using System.Text.Json.Nodes;

namespace PipelineFramework.Rules;

/// <summary>
/// Rules learned from the facts of good parts: per class, its count, total area and centroid range; for pairs of
/// classes, the ones never seen together (matching) and a stable above / left-of order (position). Margins come from
/// leave-one-out on the good parts: the range learned without part i must still admit part i, so the margin is the
/// largest gap between an extreme value and the next one, plus <paramref name="extraMargin"/> of the range.
/// Counts are integers: exact where they never vary on good parts, one component of slack each side where they do.
/// Bounds are clamped to the fact's possible values (counts 0 and up, fractions 0 to 1). Every learned rule is written
/// in the rule language and parsed, so it reads like any other rule.
/// </summary>
public static class RuleLearner
{
    public static IReadOnlyList<Rule> Learn(IReadOnlyList<string> classes, IReadOnlyList<PartFacts> good, double extraMargin, int maxRules = 400)
    {
        var rules = new List<JsonObject>();
        if (good.Count < 2) return [];
        foreach (var name in classes)
        {
            var counts = good.Select(p => (double)(p.Class(name)?.Count ?? 0)).ToArray();
            bool always = counts.All(c => c > 0);
            if (counts.All(c => c == 0)) continue;
            // A count that never varies on good parts is exact; one that varies (a class the segmentation splits
            // differently from part to part) gets one more component of slack on each side.
            double slack = counts.Min() == counts.Max() ? 0 : 1;
            rules.Add(Rule($"{name}-count", "quantity", $"number of {name} components as on good parts",
                Range("count", name, (counts.Min() - slack, counts.Max() + slack))));
            var areas = good.Select(p => new FactValue("area", name, null).Evaluate(p)).ToArray();
            rules.Add(Rule($"{name}-area", "size", $"total area of {name} as on good parts", Range("area", name, Margin(areas, extraMargin))));
            var present = good.Where(p => (p.Class(name)?.Count ?? 0) > 0).ToList();
            if (present.Count < 2 || IsBackground(name, good)) continue;
            foreach (var axis in new[] { "x", "y" })
            {
                var values = present.Select(p => new FactValue(axis, name, null).Evaluate(p)).ToArray();
                JsonObject check = Range(axis, name, Margin(values, extraMargin));
                if (!always) check = new JsonObject { ["if"] = new JsonObject { ["present"] = name }, ["then"] = check };
                rules.Add(Rule($"{name}-{axis}", "position", $"{(axis == "x" ? "horizontal" : "vertical")} position of {name} as on good parts", check));
            }
        }
        for (int i = 0; i < classes.Count; i++)
            for (int j = i + 1; j < classes.Count; j++)
            {
                string a = classes[i], b = classes[j];
                bool aSome = good.Any(p => p.Class(a)?.Count > 0), bSome = good.Any(p => p.Class(b)?.Count > 0);
                if (!aSome || !bSome || IsBackground(a, good) || IsBackground(b, good)) continue;
                if (!good.Any(p => p.Class(a)?.Count > 0 && p.Class(b)?.Count > 0))
                    rules.Add(Rule($"{a}-excludes-{b}", "matching", $"{a} and {b} never occur together on good parts",
                        new JsonObject { ["if"] = new JsonObject { ["present"] = a }, ["then"] = new JsonObject { ["absent"] = b } }));
                var both = good.Where(p => p.Class(a)?.Count > 0 && p.Class(b)?.Count > 0).ToList();
                if (both.Count < good.Count) continue;
                foreach (var (relation, axis) in new[] { ("above", "y"), ("leftOf", "x") })
                {
                    var gaps = both.Select(p => new FactValue(axis, b, null).Evaluate(p) - new FactValue(axis, a, null).Evaluate(p)).ToArray();
                    // A stable order only: the gap must clear the margin leave-one-out would give, or the order is chance.
                    var (glo, _) = Margin(gaps, extraMargin);
                    if (glo > 0) rules.Add(Rule($"{a}-{relation}-{b}", "position", $"{a} {relation} {b} on every good part", new JsonObject { [relation] = new JsonArray(a, b) }));
                    else if (Margin(gaps.Select(g => -g).ToArray(), extraMargin).Min > 0)
                        rules.Add(Rule($"{b}-{relation}-{a}", "position", $"{b} {relation} {a} on every good part", new JsonObject { [relation] = new JsonArray(b, a) }));
                }
            }
        var document = new JsonObject { ["rules"] = new JsonArray(rules.Take(maxRules).Select(r => (JsonNode)r).ToArray()) };
        return RuleParser.ParseDocument(document.ToJsonString(), RuleSource.Learned, classes);
    }

    /// <summary>A class covering most of the image (the tray, the background): its position and order say nothing.</summary>
    static bool IsBackground(string name, IReadOnlyList<PartFacts> good) => good.Average(p => p.Class(name)?.Area ?? 0) > 0.5;

    /// <summary>Range of the values widened by the leave-one-out gap at each end and a fraction of the range.</summary>
    public static (double Min, double Max) Margin(double[] values, double extra)
    {
        var sorted = values.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0) return (0, 0);
        double lo = sorted[0], hi = sorted[^1];
        double gap = sorted.Length > 1 ? Math.Max(sorted[1] - sorted[0], sorted[^1] - sorted[^2]) : 0;
        double margin = gap + extra * Math.Max(hi - lo, 1e-3);
        // Outward rounding to 6 decimals: readable, and never tighter than the learned range.
        return (Math.Floor((lo - margin) * 1e6) / 1e6, Math.Ceiling((hi + margin) * 1e6) / 1e6);
    }

    /// <summary>A range rule on a fact of a class, its bounds clamped to the fact's possible values: the margin may reach
    /// past them (an x from -0.12, an area up to 1.3), which checks nothing more and reads as a mistake. Clamping passes
    /// and fails the same parts, since none measures outside the possible values.</summary>
    static JsonObject Range(string fact, string name, (double Min, double Max) bounds)
    {
        var possible = LooseRanges.PossibleValues(new FactValue(fact, name, null))!;
        return new()
        {
            ["range"] = new JsonObject { [fact] = name },
            ["min"] = Math.Clamp(bounds.Min, possible.Min, possible.Max),
            ["max"] = Math.Clamp(bounds.Max, possible.Min, possible.Max),
        };
    }

    static JsonObject Rule(string id, string kind, string description, JsonObject check) => new()
    {
        ["id"] = id, ["kind"] = kind, ["source"] = "learned", ["description"] = description, ["check"] = check,
    };
}
