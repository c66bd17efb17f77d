using System.Globalization;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Explain;

/// <summary>
/// The explanation written from the facts alone, with no language model: the verdict, the score against the
/// threshold and against good parts, the strongest regions (where in words, how big, how strong) and the failed rules,
/// each reason citing the facts it rests on. The default explainer, and what the host falls back to when another
/// explainer fails.
/// </summary>
[PipelineComponent(TypeName, Description = "Explains a verdict from score, regions, rules and good-part statistics, without a language model")]
public sealed class OfflineExplainer : IExplainer
{
    public const string TypeName = "explain.offline";
    public const string SourceName = "offline";
    /// <summary>Regions described one by one; the rest are counted.</summary>
    public const int RegionsShown = 3;
    static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public Task<Explanation> ExplainAsync(InspectionFacts facts, HostServices services, CancellationToken cancellation) =>
        Task.FromResult(Explain(facts));

    /// <summary>Without a model there is nothing to understand a question with: the answer is the explanation, said so.</summary>
    public Task<Explanation> AskAsync(InspectionFacts facts, IReadOnlyList<ExplanationTurn> history, string question, HostServices services,
        CancellationToken cancellation)
    {
        var explanation = Explain(facts);
        return Task.FromResult(explanation with
        {
            Notes = [.. explanation.Notes, "The offline explainer answers every question with the explanation of the facts; " +
                "name an LLM explainer in the pipeline (\"explain\": { \"type\": \"explain.llm\", ... }) for answers to questions."],
        });
    }

    public static Explanation Explain(InspectionFacts facts)
    {
        var evidence = new List<ExplanationReason>();
        bool scoreAbove = facts.RawScore > facts.Threshold;
        evidence.Add(new(scoreAbove
            ? Format("anomaly score {0:0.###} is above the threshold {1:0.###} ({2:0.##}x)", facts.RawScore, facts.Threshold, facts.RawScore / facts.Threshold)
            : Format("anomaly score {0:0.###} is below the threshold {1:0.###}", facts.RawScore, facts.Threshold), ["score", "threshold"]));
        if (facts.GoodParts is { } good)
        {
            evidence.Add(new(Format("good parts score {0:0.###} (median of {1} good parts held out of fitting); this part scores {2:0.##}x that",
                good.MedianRawScore, good.Count, facts.RawScore / good.MedianRawScore), ["good-parts", "score"]));
        }
        for (int i = 0; i < Math.Min(RegionsShown, facts.Regions.Count); i++)
            evidence.Add(new(DescribeRegion(facts, i), [RegionId(i)]));
        if (facts.Regions.Count > RegionsShown)
            evidence.Add(new($"{facts.Regions.Count - RegionsShown} smaller region(s) not listed", facts.Regions.Skip(RegionsShown).Select((_, i) => RegionId(i + RegionsShown)).ToList()));
        foreach (var rule in facts.Rules.Where(r => !r.Passed))
            evidence.Add(new(DescribeRule(rule), [RuleId(rule)]));

        int failed = facts.Rules.Count(r => !r.Passed);
        string where = facts.Regions.Count > 0
            ? Format(" The strongest is {0} (about {1} px, {2:0.##}x the threshold).", PartLocation.Whereabouts(facts.Regions[0].Location),
                facts.Regions[0].EstimatedImageArea(), facts.Regions[0].PeakScore / facts.Threshold)
            : "";
        string summary = !facts.IsAnomaly
            ? "The part looks like the good parts the model was fitted on."
            : scoreAbove && failed > 0 ? $"Rejected: the part looks unlike the good parts and breaks {failed} rule(s).{where}"
            : scoreAbove ? facts.Regions.Count > 0
                ? $"Rejected: {facts.Regions.Count} region(s) look unlike the good parts.{where}"
                : "Rejected: the part as a whole looks unlike the good parts."
            : $"Rejected: it looks like the good parts locally but breaks {failed} rule(s).";
        return new Explanation
        {
            Verdict = Verdict(facts),
            Summary = summary,
            Evidence = evidence,
            Confidence = Confidence(facts),
            Source = SourceName,
        };
    }

    public static string Verdict(InspectionFacts facts) => facts.IsAnomaly ? "ANOMALY" : "OK";

    /// <summary>The fact id of the i-th region (0-based index, 1-based id).</summary>
    public static string RegionId(int index) => $"region-{index + 1}";

    public static string RuleId(RuleResult rule) => $"rule:{rule.RuleId}";

    /// <summary>"region 1: upper, left (x 10-50, y 20-60 of the image), about 1234 px (2.1% of the inspected area; 2345 px above the threshold), peak ..., mean ..."</summary>
    public static string DescribeRegion(InspectionFacts facts, int index)
    {
        var region = facts.Regions[index];
        int mapArea = Math.Max(1, facts.MapWidth * facts.MapHeight);
        var box = region.ImageBox;
        long size = region.EstimatedImageArea();
        double share = 100.0 * region.MapArea * size / Math.Max(1, region.ImageArea) / mapArea;
        return Format("region {0}: {1} (x {2}-{3}, y {4}-{5} of the image), about {6} px ({7:0.#}% of the inspected area; {8} px above the threshold), peak {9:0.###} ({10:0.##}x the threshold), mean {11:0.###}",
            index + 1, region.Location, box.X, box.X + box.Width, box.Y, box.Y + box.Height, size, share, region.ImageArea,
            region.PeakScore, region.PeakScore / facts.Threshold, region.MeanScore);
    }

    public static string DescribeRule(RuleResult rule)
    {
        var expected = (rule.ExpectedMin, rule.ExpectedMax) switch
        {
            ({ } lo, { } hi) => Format(" (expected {0:0.###} to {1:0.###})", lo, hi),
            ({ } lo, null) => Format(" (expected at least {0:0.###})", lo),
            (null, { } hi) => Format(" (expected at most {0:0.###})", hi),
            _ => "",
        };
        var measured = rule.Measured is { } m ? Format(": measured {0:0.###}", m) : "";
        return $"rule '{rule.RuleId}' {(rule.Passed ? "passed" : "failed")}{(rule.Component.Length > 0 ? $" for {rule.Component}" : "")}{measured}{expected}" +
            (rule.Detail.Length > 0 ? $"; {rule.Detail}" : "");
    }

    /// <summary>
    /// 1 when a rule failed (a rule is definite); otherwise 0.5 plus half the score's distance from the threshold in
    /// units of the gap between a typical good part and the threshold, capped at 1: a part scoring at the threshold is
    /// a coin toss, one a full good-to-threshold gap beyond it is clear.
    /// </summary>
    static double Confidence(InspectionFacts facts)
    {
        if (facts.Rules.Any(r => !r.Passed)) return 1;
        double gap = facts.GoodParts is { } good && facts.Threshold > good.MedianRawScore
            ? facts.Threshold - good.MedianRawScore
            : Math.Abs(facts.Threshold);
        if (gap <= 0) return 0.5;
        return Math.Round(0.5 + 0.5 * Math.Min(1, Math.Abs(facts.RawScore - facts.Threshold) / gap), 3);
    }

    static string Format(string format, params object[] args) => string.Format(C, format, args);
}
