using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Explain.SemanticKernel;

/// <summary>The answer the model is asked for: JSON with a summary, reasons citing facts, a confidence and the verdict it read.</summary>
public sealed record ModelAnswer(string? Verdict, string Summary, IReadOnlyList<ExplanationReason> Reasons, double Confidence);

/// <summary>
/// The guard rails on a model's answer, and on the text from outside before it reaches the model. Each failure is a
/// <see cref="PipelineException"/> whose message becomes the note on the offline explanation the host falls back to.
/// </summary>
public static partial class AnswerCheck
{
    /// <summary>Text that tries to instruct a model, in a file name, a rule's detail or anything else from outside.</summary>
    [GeneratedRegex(@"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|prompt|rule|previous|above|earlier)|\byou are now\b|\bsystem prompt\b|\b(answer|respond|reply|say)\s*(with|:)|\bact as\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex InstructionPattern();

    /// <summary>Phrases that call a rejected part good: an answer saying so contradicts the host.</summary>
    [GeneratedRegex(@"\b(good part|is good|no defects?|not defective|defect-free|acceptable|should (be )?(accepted|pass))\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CallsItGood();

    [GeneratedRegex(@"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|(?<![\w.])-?\d+(?:\.\d+)?")]
    private static partial Regex Number();

    /// <summary>Refuses facts whose outside text (file name, rule texts) tries to instruct the model.</summary>
    public static void CheckOutsideText(InspectionFacts facts)
    {
        Check(facts.Id, "the part's name (file name or id)");
        foreach (var rule in facts.Rules)
        {
            Check(rule.Component, $"rule '{rule.RuleId}'");
            Check(rule.Detail, $"rule '{rule.RuleId}'");
        }

        static void Check(string text, string where)
        {
            if (InstructionPattern().Match(text) is { Success: true } m)
                throw new PipelineException($"{where} holds text that tries to instruct the model (\"{Shorten(m.Value)}\"); it was not sent to the model");
        }
    }

    /// <summary>Reads the model's JSON reply (a ```json fence around it is tolerated).</summary>
    public static ModelAnswer Parse(string? reply)
    {
        if (string.IsNullOrWhiteSpace(reply)) throw new PipelineException("the model's reply is empty");
        var text = reply.Trim();
        if (text.StartsWith("```", StringComparison.Ordinal))
        {
            int start = text.IndexOf('\n'), end = text.LastIndexOf("```", StringComparison.Ordinal);
            if (start > 0 && end > start) text = text[(start + 1)..end].Trim();
        }
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new PipelineException("the model's reply is JSON but not an object with summary and reasons");
            string? verdict = root.TryGetProperty("verdict", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            if (!root.TryGetProperty("summary", out var s) || s.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(s.GetString()))
                throw new PipelineException("the model's reply has no \"summary\" text");
            if (!root.TryGetProperty("reasons", out var rs) || rs.ValueKind != JsonValueKind.Array)
                throw new PipelineException("the model's reply has no \"reasons\" list");
            var reasons = new List<ExplanationReason>();
            foreach (var r in rs.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new PipelineException("a reason in the model's reply is not an object with \"text\" and \"facts\"");
                var cited = r.TryGetProperty("facts", out var fs) && fs.ValueKind == JsonValueKind.Array
                    ? fs.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : x.ToString()).ToList()
                    : [];
                reasons.Add(new ExplanationReason(t.GetString()!, cited));
            }
            double confidence = root.TryGetProperty("confidence", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetDouble() : double.NaN;
            return new ModelAnswer(verdict, s.GetString()!, reasons, confidence);
        }
        catch (JsonException e)
        {
            throw new PipelineException($"the model's reply is not the JSON asked for ({Shorten(e.Message)})");
        }
    }

    /// <summary>
    /// The answer rests on the facts: it keeps the host's verdict, cites only facts that exist (every reason cites at
    /// least one), quotes only numbers the facts hold, and does not call a rejected part good.
    /// </summary>
    public static void Check(ModelAnswer answer, InspectionFacts facts)
    {
        string verdict = facts.IsAnomaly ? "ANOMALY" : "OK";
        if (answer.Verdict is { } said && !string.Equals(said.Trim(), verdict, StringComparison.OrdinalIgnoreCase))
            throw new PipelineException($"the model answered the verdict '{Shorten(said)}' but the host's verdict is '{verdict}'; the model cannot change it");
        if (answer.Reasons.Count == 0) throw new PipelineException("the model gave no reasons");
        var ids = InspectionTools.FactIds(facts);
        foreach (var reason in answer.Reasons)
        {
            if (reason.Facts.Count == 0) throw new PipelineException($"the reason \"{Shorten(reason.Text)}\" cites no fact");
            foreach (var id in reason.Facts)
                if (!ids.Contains(id))
                    throw new PipelineException($"the model cites '{Shorten(id)}', which is not among the facts ({string.Join(", ", ids.Order())})");
        }
        var allowed = InspectionTools.Numbers(facts);
        foreach (var text in answer.Reasons.Select(r => r.Text).Prepend(answer.Summary))
        {
            foreach (Match m in Number().Matches(text))
            {
                if (!Known(m.Value, allowed))
                    throw new PipelineException($"the model quotes the number {m.Value}, which is not among the facts");
            }
            if (facts.IsAnomaly && CallsItGood().Match(text) is { Success: true } good)
                throw new PipelineException($"the model calls the rejected part good (\"{Shorten(good.Value)}\"), against the host's verdict");
        }
    }

    public static IEnumerable<double> NumbersIn(string text)
    {
        foreach (Match m in Number().Matches(text))
            if (double.TryParse(m.Value.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) yield return d;
    }

    /// <summary>Equal to a fact as written: within half a unit of its last digit, or 2 % (a rounded "about 2,500 px").</summary>
    static bool Known(string written, IReadOnlyList<double> facts)
    {
        var plain = written.Replace(",", "");
        if (!double.TryParse(plain, NumberStyles.Float, CultureInfo.InvariantCulture, out var x)) return true;
        int dot = plain.IndexOf('.');
        double halfUnit = dot < 0 ? 0.5 : 0.5 * Math.Pow(10, -(plain.Length - dot - 1));
        return facts.Any(f => Math.Abs(x - f) <= Math.Max(halfUnit, 0.02 * Math.Abs(f)) || Math.Abs(x - 100 * f) <= Math.Max(halfUnit, 0.02 * Math.Abs(100 * f)));
    }

    static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
