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

    /// <summary>Every number the tools can show: what an answer may quote.</summary>
    public static IReadOnlyList<double> Numbers(InspectionFacts f)
    {
        var numbers = new List<double>();
        void Walk(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o: foreach (var (_, v) in o) Walk(v); break;
                case JsonArray a: foreach (var v in a) Walk(v); break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                    numbers.Add(double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)); break;
                case JsonValue v when v.TryGetValue<string>(out var s): numbers.AddRange(AnswerCheck.NumbersIn(s)); break;
            }
        }
        Walk(Verdict(f)); Walk(Regions(f)); Walk(Rules(f)); Walk(GoodParts(f));
        // Region boxes are also quoted by their far edges ("x 10-50").
        foreach (var r in f.Regions) { numbers.Add(r.ImageBox.X + r.ImageBox.Width); numbers.Add(r.ImageBox.Y + r.ImageBox.Height); }
        for (int i = 1; i <= f.Regions.Count; i++) numbers.Add(i);
        numbers.Add(0.5);   // the normalised threshold
        return numbers;
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
