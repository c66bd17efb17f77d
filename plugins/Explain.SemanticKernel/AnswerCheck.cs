using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PipelineFramework.Abstractions;
using PipelineFramework.Llm;

namespace PipelineFramework.Explain.SemanticKernel;

/// <summary>The answer the model is asked for: JSON with the verdict it read, a summary, reasons citing facts and a confidence.</summary>
public sealed record ModelAnswer(string Verdict, string Summary, IReadOnlyList<ExplanationReason> Reasons, double Confidence);

/// <summary>
/// The guard rails on a model's answer, and on the text from outside before it reaches the model. Each failure is a
/// <see cref="PipelineException"/> whose message becomes the note on the offline explanation the host falls back to.
/// The text checks err on the side of refusing: a false alarm costs an offline explanation, a miss a wrong one.
/// </summary>
public static partial class AnswerCheck
{
    // A phrase preceded by "not", "never", "cannot" or "...n't" is not read as saying it ("does not pass inspection").
    const string NotNegated = @"(?<!(?:\bnot|\bnever|\bcannot|n't)\s+)";

    /// <summary>Phrases that call the part good: an answer saying so about a rejected part contradicts the host.</summary>
    [GeneratedRegex(NotNegated + @"(?:\b(?:is|it's|as)\s+an?\s+good\s+(?:part|one)\b" +
        @"|\b(?:part|it|this|everything)\s+(?:is|looks|seems|appears)\s+(?:to\s+be\s+)?(?:perfectly\s+|completely\s+|entirely\s+)?(?:good|fine|ok|okay|normal|flawless|perfect|acceptable|undamaged|intact)\b" +
        @"|\b(?:part|it|this)\s+(?:is\s+)?within\s+tolerance\b|\bno\s+defects?\b|\bnothing\s+wrong\b|\bdefect-free\b|\bwithout\s+(?:any\s+)?defects?\b|\bacceptable\b" +
        @"|\bpass(?:es|ed)?\s+(?:the\s+)?inspection\b|\bshould\s+(?:be\s+)?(?:accepted|passed|shipped|kept)\b|\bshould\s+pass\b" +
        @"|\bship\s+it\b|\bok\s+to\s+(?:use|ship)\b|\bcan\s+be\s+(?:used|shipped)\b)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CallsItGood();

    /// <summary>Phrases that call the part bad: an answer saying so about a part the host passed contradicts it.</summary>
    [GeneratedRegex(NotNegated + @"(?:\breject(?:s|ed)?\b|\bdefective\b|\bscrap(?:ped)?\b|\bdiscard(?:ed)?\b|\bfail(?:s|ed)?\s+(?:the\s+)?inspection\b" +
        @"|\b(?:part|it|this)\s+(?:is|looks|seems|appears)\s+(?:to\s+be\s+)?(?:bad|faulty|damaged|broken|cracked|anomalous)\b" +
        @"|\bis\s+an?\s+(?:anomaly|defect|bad\s+part)\b|\bhas\s+an?\s+(?:crack|defect|scratch|hole|dent|flaw)\b" +
        @"|\bshould\s+(?:be\s+)?(?:rejected|scrapped|discarded)\b|\bnot\s+an?\s+good\s+part\b)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CallsItBad();

    /// <summary>A region named in text: "region-2", "region 2", "regions #2".</summary>
    [GeneratedRegex(@"\bregions?\s*[-#]?\s*([0-9]+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RegionMention();

    // ASCII digits only: text is normalised to them first (AsciiDigits), so "٤٧" and "４７" are read as 47.
    [GeneratedRegex(@"(?<![\w.])-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?(?![0-9])|(?<![\w.])-?[0-9]+(?:\.[0-9]+)?")]
    private static partial Regex Number();

    /// <summary>Numbers written as words, two to ninety-nine ("one" is left out: "the one at the upper left" is no number).</summary>
    [GeneratedRegex(@"\b(?:(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[-\s](one|two|three|four|five|six|seven|eight|nine)\b)?|(zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen))\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NumberWord();

    /// <summary>
    /// The unit written after a number: image pixels, a percentage, a ratio ("1.3x", "1.3 ×", "three times"; not the
    /// "x" of "40x30"), or a physical unit, which no fact has (the host does not know the part's scale).
    /// </summary>
    [GeneratedRegex(@"\G\s*(?:(?<px>px\b|pixels?\b)|(?<percent>%|percent\b|per\s+cent\b)|(?<ratio>×(?!\s*[0-9])|x\b(?!\s*[0-9])|times\b)" +
        @"|(?<physical>mm\b|cm\b|µm\b|um\b|nm\b|microns?\b|(?:milli|centi|micro)?met(?:er|re)s?\b|degrees?\b|°))",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UnitAfter();

    static readonly string[] Units = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
    static readonly string[] Tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

    /// <summary>
    /// Refuses facts whose outside text (a rule's component or detail, shown by get_rules) tries to instruct the model.
    /// The part's name is not checked: it is never sent to the model.
    /// </summary>
    public static void CheckOutsideText(InspectionFacts facts)
    {
        foreach (var rule in facts.Rules)
            foreach (var text in new[] { rule.Component, rule.Detail })
                if (LlmText.Instruction(text) is { } words)
                    throw new PipelineException($"rule '{rule.RuleId}' holds text that tries to instruct the model (\"{Shorten(words)}\"); it was not sent to the model");
    }

    /// <summary>
    /// Longest summary and reason, and most reasons, taken from a model (characters). The prompt asks for one or two
    /// sentences and a reason each; a reply of megabytes (up to the 4 MiB the connection reads) would otherwise pass the
    /// checks if it held only facts, and go whole into explanations.json, report.html and the terminal.
    /// </summary>
    public const int MaxSummaryLength = 2000, MaxReasonLength = 1000, MaxReasons = 20;

    /// <summary>
    /// Reads the model's JSON reply (a ```json fence around it is tolerated); every text in it must be printable, no key
    /// may be given twice (which of two verdicts would count depends on the reader), and the texts must be of a length
    /// an operator reads (<see cref="MaxSummaryLength"/>).
    /// </summary>
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
            if (JsonDuplicateKeys.FirstDuplicate(text) is { } twice)
                throw new PipelineException($"the model's reply gives {twice} twice; which one counts would be a guess");
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new PipelineException("the model's reply is JSON but not an object with verdict, summary and reasons");
            if (!root.TryGetProperty("verdict", out var v) || v.ValueKind != JsonValueKind.String)
                throw new PipelineException("the model's reply has no \"verdict\"; it must repeat the host's");
            var verdict = Printable(v.GetString()!, "the model's verdict");
            if (!root.TryGetProperty("summary", out var s) || s.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(s.GetString()))
                throw new PipelineException("the model's reply has no \"summary\" text");
            var summary = Printable(s.GetString()!, "the model's summary");
            if (summary.Length > MaxSummaryLength)
                throw new PipelineException($"the model's summary is {summary.Length} characters long; at most {MaxSummaryLength} are taken");
            if (!root.TryGetProperty("reasons", out var rs) || rs.ValueKind != JsonValueKind.Array)
                throw new PipelineException("the model's reply has no \"reasons\" list");
            if (rs.GetArrayLength() is var count and > MaxReasons)
                throw new PipelineException($"the model gave {count} reasons; at most {MaxReasons} are taken");
            var reasons = new List<ExplanationReason>();
            foreach (var r in rs.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new PipelineException("a reason in the model's reply is not an object with \"text\" and \"facts\"");
                var cited = r.TryGetProperty("facts", out var fs) && fs.ValueKind == JsonValueKind.Array
                    ? fs.EnumerateArray().Select(x => Printable(x.ValueKind == JsonValueKind.String ? x.GetString()! : x.ToString(), "a fact id the model cites")).ToList()
                    : [];
                var said = Printable(t.GetString()!, "a reason in the model's reply");
                if (said.Length > MaxReasonLength)
                    throw new PipelineException($"a reason in the model's reply is {said.Length} characters long; at most {MaxReasonLength} are taken");
                reasons.Add(new ExplanationReason(said, cited));
            }
            double confidence = root.TryGetProperty("confidence", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetDouble() : double.NaN;
            return new ModelAnswer(verdict, summary, reasons, confidence);
        }
        catch (JsonException e)
        {
            throw new PipelineException($"the model's reply is not the JSON asked for ({Shorten(JsonReaderError.Reason(e))}{JsonReaderError.Where(e)})");
        }

        static string Printable(string value, string where)
        {
            LlmText.RefuseControlCharacters(value, where);
            return value;
        }
    }

    /// <summary>
    /// The answer rests on the facts: it repeats the host's verdict, cites only facts that exist (every reason cites at
    /// least one), names only regions that exist, quotes only numbers the facts hold, and does not contradict the
    /// verdict (calling a rejected part good, or a passed part bad).
    /// </summary>
    public static void Check(ModelAnswer answer, InspectionFacts facts)
    {
        string verdict = facts.IsAnomaly ? "ANOMALY" : "OK";
        if (!string.Equals(answer.Verdict.Trim(), verdict, StringComparison.OrdinalIgnoreCase))
            throw new PipelineException($"the model answered the verdict '{Shorten(answer.Verdict)}' but the host's verdict is '{verdict}'; the model cannot change it");
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
        foreach (var written in answer.Reasons.Select(r => r.Text).Prepend(answer.Summary))
        {
            var text = AsciiDigits(written);
            foreach (Match m in RegionMention().Matches(text))
                if (!int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > facts.Regions.Count)
                    throw new PipelineException($"the model names {m.Value.Trim()}, but the part has {facts.Regions.Count} region{(facts.Regions.Count == 1 ? "" : "s")}");
            foreach (Match m in Number().Matches(text))
                CheckNumber(m.Value, m.Value, text, m, allowed);
            foreach (Match m in NumberWord().Matches(text))
                CheckNumber(WordValue(m).ToString(CultureInfo.InvariantCulture), $"\"{m.Value}\"", text, m, allowed);
            var contradiction = facts.IsAnomaly ? CallsItGood().Match(text) : CallsItBad().Match(text);
            if (contradiction.Success)
                throw new PipelineException($"the model calls the {(facts.IsAnomaly ? "rejected part good" : "passed part bad")} (\"{Shorten(contradiction.Value)}\"), against the host's verdict");
        }
    }

    /// <summary>The numbers in a text (digits of any script), for what the tools show.</summary>
    public static IEnumerable<double> NumbersIn(string text)
    {
        foreach (Match m in Number().Matches(AsciiDigits(text)))
            if (double.TryParse(m.Value.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) yield return d;
    }

    /// <summary>Decimal digits of other scripts (Arabic-Indic "٤٧", full-width "４７") as ASCII, so they are checked like any number.</summary>
    static string AsciiDigits(string text) =>
        text.Any(c => c > '\x7f' && char.IsDigit(c))
            ? string.Concat(text.Select(c => c > '\x7f' && char.IsDigit(c) ? (char)('0' + CharUnicodeInfo.GetDecimalDigitValue(c)) : c))
            : text;

    /// <summary>A number must be a fact of the kind its unit says: "600 px" a pixel quantity, "42 %" or "2x" a score, ratio,
    /// share or count, a bare number any fact; a length in mm or a number of degrees none (the facts are in image pixels).</summary>
    static void CheckNumber(string value, string written, string text, Match m, CitableNumbers allowed)
    {
        var unit = UnitAfter().Match(text, m.Index + m.Length);
        if (unit.Groups["physical"].Success)
            throw new PipelineException($"the model quotes {written} {unit.Value.Trim()}, but the facts give sizes in image pixels only; the part's scale is not known");
        var (facts, kind) = unit.Groups["px"].Success ? (allowed.Pixels, " as pixels")
            : unit.Groups["percent"].Success || unit.Groups["ratio"].Success ? (allowed.Others, $" as a {(unit.Groups["percent"].Success ? "percentage" : "ratio")}")
            : (allowed.All, "");
        if (!Known(value, unit.Groups["percent"].Success, facts))
            throw new PipelineException($"the model quotes the number {written}{kind}, which is not among the facts{(kind.Length > 0 && Known(value, false, allowed.All) ? " (that number is a fact of another kind)" : "")}");
    }

    static int WordValue(Match m) => m.Groups[3].Success
        ? Array.IndexOf(Units, m.Groups[3].Value.ToLowerInvariant())
        : 10 * Array.IndexOf(Tens, m.Groups[1].Value.ToLowerInvariant()) + (m.Groups[2].Success ? Array.IndexOf(Units, m.Groups[2].Value.ToLowerInvariant()) : 0);

    /// <summary>
    /// A number as written equals a fact when it is the fact exactly (counts, "0 caps", "2x"); or the fact rounded to
    /// the digits written, keeping at least two significant digits ("3.3" or "3.27" for 3.272, not "3"); or, for a
    /// fact of 100 or more, within 2 % ("about 2,500 px" for 2,463). A percentage ("93 %") may also be 100 × a fact
    /// (a score of 0.93). Anything that does not parse is not a fact.
    /// </summary>
    static bool Known(string written, bool percent, IReadOnlyList<double> facts)
    {
        var plain = written.Replace(",", "");
        if (!double.TryParse(plain, NumberStyles.Float, CultureInfo.InvariantCulture, out var x)) return false;
        int dot = plain.IndexOf('.');
        double halfUnit = dot < 0 ? 0.5 : 0.5 * Math.Pow(10, -(plain.Length - dot - 1));
        int significant = plain.TrimStart('-').Replace(".", "").TrimStart('0').Length;
        bool Matches(double f) =>
            Math.Abs(x - f) <= 1e-9 * Math.Max(1, Math.Abs(f))
            || (significant >= 2 && Math.Abs(x - f) <= halfUnit)
            || (Math.Abs(f) >= 100 && Math.Abs(x - f) <= 0.02 * Math.Abs(f));
        return facts.Any(f => Matches(f) || (percent && Matches(100 * f)));
    }

    static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
