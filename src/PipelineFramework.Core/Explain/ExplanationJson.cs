using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Explain;

/// <summary>One JSON shape for an explanation, wherever one is written (explanations.json, <c>pf explain --json</c>).</summary>
public static class ExplanationJson
{
    public static JsonObject ToJson(Explanation explanation) => new()
    {
        ["verdict"] = explanation.Verdict,
        ["summary"] = explanation.Summary,
        ["reasons"] = new JsonArray(explanation.Evidence.Select(e => (JsonNode)new JsonObject
        {
            ["text"] = e.Text,
            ["facts"] = new JsonArray(e.Facts.Select(f => (JsonNode)f).ToArray()),
        }).ToArray()),
        ["confidence"] = explanation.Confidence,
        ["notes"] = new JsonArray(explanation.Notes.Select(n => (JsonNode)n).ToArray()),
        ["source"] = explanation.Source,
    };
}
