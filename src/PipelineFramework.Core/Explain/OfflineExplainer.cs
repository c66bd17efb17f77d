using System.Globalization;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Explain;

/// <summary>
/// The explanation written from the facts alone, with no language model: the verdict, the score against the
/// threshold, the strongest regions (where, how big, how strong) and the failed rules. Used when no LLM is configured,
/// and as the reference an LLM explainer's answer is checked against.
/// </summary>
[PipelineComponent(TypeName, Description = "Explains a verdict from score, regions and rules, without a language model")]
public sealed class OfflineExplainer : IExplainer
{
    public const string TypeName = "explain.offline";
    const int RegionsShown = 3;

    public Task<Explanation> ExplainAsync(InspectionFacts facts, HostServices services, CancellationToken cancellation)
    {
        var c = CultureInfo.InvariantCulture;
        var reasons = new List<string>();
        bool scoreAbove = facts.RawScore > facts.Threshold;
        reasons.Add(scoreAbove
            ? string.Format(c, "anomaly score {0:0.###} is above the threshold {1:0.###} ({2:0.##}x)", facts.RawScore, facts.Threshold, facts.RawScore / facts.Threshold)
            : string.Format(c, "anomaly score {0:0.###} is below the threshold {1:0.###}", facts.RawScore, facts.Threshold));
        int mapArea = facts.MapWidth * facts.MapHeight;
        foreach (var region in facts.Regions.Take(RegionsShown))
        {
            reasons.Add(string.Format(c, "region at x {0}-{1}, y {2}-{3} of the image ({4} px, {5:0.#}% of the part), peak {6:0.###}, mean {7:0.###}",
                region.ImageBox.X, region.ImageBox.X + region.ImageBox.Width, region.ImageBox.Y, region.ImageBox.Y + region.ImageBox.Height,
                region.ImageArea, 100.0 * region.MapArea / Math.Max(1, mapArea), region.PeakScore, region.MeanScore));
        }
        if (facts.Regions.Count > RegionsShown) reasons.Add($"{facts.Regions.Count - RegionsShown} smaller regions not listed");
        foreach (var rule in facts.Rules.Where(r => !r.Passed))
        {
            var expected = (rule.ExpectedMin, rule.ExpectedMax) switch
            {
                ({ } lo, { } hi) => string.Format(c, " (expected {0:0.###} to {1:0.###})", lo, hi),
                ({ } lo, null) => string.Format(c, " (expected at least {0:0.###})", lo),
                (null, { } hi) => string.Format(c, " (expected at most {0:0.###})", hi),
                _ => "",
            };
            var measured = rule.Measured is { } m ? string.Format(c, ": measured {0:0.###}", m) : "";
            reasons.Add($"rule '{rule.RuleId}' failed{(rule.Component.Length > 0 ? $" for {rule.Component}" : "")}{measured}{expected}" +
                (rule.Detail.Length > 0 ? $"; {rule.Detail}" : ""));
        }
        int failed = facts.Rules.Count(r => !r.Passed);
        string summary = !facts.IsAnomaly
            ? "The part looks like the good parts the model was fitted on."
            : scoreAbove && failed > 0 ? $"Rejected: the part looks unlike the good parts and breaks {failed} rule(s)."
            : scoreAbove ? facts.Regions.Count > 0
                ? $"Rejected: {facts.Regions.Count} region(s) look unlike the good parts."
                : "Rejected: the part as a whole looks unlike the good parts."
            : $"Rejected: it looks like the good parts locally but breaks {failed} rule(s).";
        return Task.FromResult(new Explanation
        {
            Verdict = facts.IsAnomaly ? "ANOMALY" : "OK",
            Summary = summary,
            Reasons = reasons,
            Source = "offline",
        });
    }
}
