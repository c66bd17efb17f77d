using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.SemanticKernel;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Explain.SemanticKernel;

/// <summary>
/// The tools the model calls (<c>inspection-get_verdict</c>, ...): each returns JSON rendered from the facts and nothing
/// else. What they return is also what <see cref="AnswerCheck"/> accepts as citable.
/// </summary>
public sealed class InspectionTools(InspectionFacts facts)
{
    public const string PluginName = "inspection";
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public InspectionFacts Facts { get; } = facts;

    /// <summary>Tools the model called, in order (for tests and the log).</summary>
    public List<string> Calls { get; } = [];

    [KernelFunction("get_verdict"), Description("The host's verdict on the part (final; it cannot be changed), its anomaly score and the decision threshold.")]
    public string GetVerdict()
    {
        Calls.Add("get_verdict");
        return Render(Verdict(Facts));
    }

    [KernelFunction("get_regions"), Description("The defect regions, strongest first: id, location on the part in words, box in image pixels, estimated size, area above the threshold, share of the inspected area, peak and mean strength.")]
    public string GetRegions()
    {
        Calls.Add("get_regions");
        return Render(Regions(Facts));
    }

    [KernelFunction("get_rules"), Description("The logic rules checked on the part: id, passed or failed, measured value and expected range.")]
    public string GetRules()
    {
        Calls.Add("get_rules");
        return Render(Rules(Facts));
    }

    [KernelFunction("get_good_part_statistics"), Description("What good parts score, for comparison with this part.")]
    public string GetGoodPartStatistics()
    {
        Calls.Add("get_good_part_statistics");
        return Render(GoodParts(Facts));
    }

    static string Render(JsonNode node) => node.ToJsonString(Json);

    static double R(double v) => Math.Round(v, 3);

    public static JsonObject Verdict(InspectionFacts f) => new()
    {
        ["id"] = "score",
        ["verdict"] = f.IsAnomaly ? "ANOMALY" : "OK",
        ["raw_score"] = R(f.RawScore),
        ["threshold"] = R(f.Threshold),
        ["score_over_threshold"] = R(f.RawScore / f.Threshold),
        ["normalised_score"] = R(f.Score),
        ["region_count"] = f.Regions.Count,
        ["failed_rule_count"] = f.Rules.Count(r => !r.Passed),
    };

    public static JsonArray Regions(InspectionFacts f)
    {
        int mapArea = Math.Max(1, f.MapWidth * f.MapHeight);
        return new JsonArray(f.Regions.Select((r, i) => (JsonNode)new JsonObject
        {
            ["id"] = $"region-{i + 1}",
            ["location"] = r.Location,
            ["box_px"] = new JsonObject { ["x"] = r.ImageBox.X, ["y"] = r.ImageBox.Y, ["width"] = r.ImageBox.Width, ["height"] = r.ImageBox.Height },
            ["size_px"] = r.EstimatedImageArea(),
            ["above_threshold_px"] = r.ImageArea,
            ["share_of_inspected_area_percent"] = Math.Round(100.0 * r.MapArea / mapArea, 1),
            ["peak"] = R(r.PeakScore),
            ["mean"] = R(r.MeanScore),
            ["peak_over_threshold"] = R(r.PeakScore / f.Threshold),
        }).ToArray());
    }

    public static JsonArray Rules(InspectionFacts f) => new(f.Rules.Select(r => (JsonNode)new JsonObject
    {
        ["id"] = $"rule:{r.RuleId}",
        ["passed"] = r.Passed,
        ["measured"] = r.Measured is { } m ? R(m) : null,
        ["expected_min"] = r.ExpectedMin is { } lo ? R(lo) : null,
        ["expected_max"] = r.ExpectedMax is { } hi ? R(hi) : null,
        ["component"] = r.Component,
        ["detail"] = r.Detail,
    }).ToArray());

    public static JsonObject GoodParts(InspectionFacts f) => f.GoodParts is { } g
        ? new JsonObject
        {
            ["id"] = "good-parts",
            ["good_parts_held_out"] = g.Count,
            ["median_raw_score"] = R(g.MedianRawScore),
            ["this_part_over_median"] = R(f.RawScore / g.MedianRawScore),
        }
        : new JsonObject { ["id"] = "good-parts", ["note"] = "the model holds no statistics of good parts" };

    /// <summary>
    /// Every number the tools can show, by what it measures: what an answer may quote. A number written with "px" must
    /// be a pixel quantity (a value under a key ending in "_px": the regions' boxes, sizes and areas), one with "%" or
    /// "times" one of the others (scores, ratios, shares, counts). A rule's numbers count as both: the facts do not say
    /// the unit of what a rule measures.
    /// </summary>
    public static CitableNumbers Numbers(InspectionFacts f)
    {
        List<double> pixels = [], others = [], rules = [];
        void Walk(JsonNode? node, List<double> into)
        {
            switch (node)
            {
                case JsonObject o: foreach (var (key, v) in o) Walk(v, key.EndsWith("_px", StringComparison.Ordinal) ? pixels : into); break;
                case JsonArray a: foreach (var v in a) Walk(v, into); break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                    into.Add(double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)); break;
                case JsonValue v when v.TryGetValue<string>(out var s): into.AddRange(AnswerCheck.NumbersIn(s)); break;
            }
        }
        Walk(Verdict(f), others); Walk(Regions(f), others); Walk(GoodParts(f), others);
        Walk(Rules(f), rules);
        // Region boxes are also quoted by their far edges ("x 10-50").
        foreach (var r in f.Regions) { pixels.Add(r.ImageBox.X + r.ImageBox.Width); pixels.Add(r.ImageBox.Y + r.ImageBox.Height); }
        for (int i = 1; i <= f.Regions.Count; i++) others.Add(i);
        others.Add(0.5);   // the normalised threshold
        return new CitableNumbers([.. pixels, .. rules], [.. others, .. rules]);
    }

    /// <summary>The fact ids an answer may cite.</summary>
    public static IReadOnlySet<string> FactIds(InspectionFacts f)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal) { "score", "threshold", "verdict" };
        if (f.GoodParts is not null) ids.Add("good-parts");
        for (int i = 1; i <= f.Regions.Count; i++) ids.Add($"region-{i}");
        foreach (var r in f.Rules) ids.Add($"rule:{r.RuleId}");
        return ids;
    }

    internal static string Invariant(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>The numbers an answer may quote: image-pixel quantities, and everything else (scores, ratios, shares, counts).</summary>
public sealed record CitableNumbers(IReadOnlyList<double> Pixels, IReadOnlyList<double> Others)
{
    public IReadOnlyList<double> All { get; } = [.. Pixels, .. Others];
}
