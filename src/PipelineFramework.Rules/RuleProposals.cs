using System.Globalization;
using System.Text;

namespace PipelineFramework.Rules;

/// <summary>
/// The text side of LLM-proposed rules, with no model client of its own (the host makes the call, e.g. through
/// PipelineFramework.Llm): the prompt (a plain-language description of a good part, the measured facts of the good
/// parts and the rule language) and reading the reply (the JSON document in it, however it is wrapped). Proposed rules
/// then go through <see cref="RuleBook.Add"/> like any other: parsed, verified on every good part, refused with the
/// reason when they reject one or check nothing (<see cref="LooseRanges"/>).
/// </summary>
public static class RuleProposals
{
    /// <summary>Longest reply read; a longer one is refused rather than parsed.</summary>
    public const int MaxReplyCharacters = RuleParser.MaxDocumentBytes;

    public static string SystemPrompt { get; } = """
        You write inspection rules for an industrial visual inspection system. Rules are JSON data in a small language,
        never code. Answer with one JSON object {"rules": [...]} and nothing else.
        A rule: {"id": "short-id", "kind": "quantity|size|position|matching", "description": "...", "check": CONDITION}.
        CONDITION is one of:
          {"range": VALUE, "min": number, "max": number}            (min or max may be left out)
          {"compare": [VALUE, "<|<=|==|!=|>=|>", VALUE], "tolerance": number}
          {"above": ["classA", "classB"]}   {"leftOf": ["classA", "classB"]}   (centroid of A above / left of B)
          {"inside": ["classA", "classB"]}  (every A component lies inside the box of a B component)
          {"within": "classA", "box": [x0, y0, x1, y1]}                 (image fractions, 0..1)
          {"present": "classA"}   {"absent": "classA"}   {"sameColour": "classA", "tolerance": 0.1}
          {"all": [CONDITION, ...]}   {"any": [CONDITION, ...]}   {"not": CONDITION}
          {"if": CONDITION, "then": CONDITION, "else": CONDITION}
        VALUE is a number or a fact of a class: {"count": "classA"}, {"area": "classA"} (fraction of the image),
          {"x": "classA"}, {"y": "classA"} (centroid, fraction of the image), {"width": "classA"}, {"height": "classA"},
          {"r"|"g"|"b": "classA"} (mean colour 0..1); add "component": k for the k-th largest component only;
          or {"distance": ["classA", "classB"]}.
        Use only the class names listed. Every rule must hold on every good part: stay within the measured ranges.
        Every rule must also be able to fail: keep ranges close to the measured ones and within the possible values
        (counts 0 and up; areas, positions, sizes and colours 0..1). A range or compare tolerance far wider than measured
        is refused, and so is a compare of a value with itself. Under "not", write what a bad part shows: a not of a
        condition that can never hold is refused, and so is an "if" whose condition can never hold or always holds
        while it has an "else".
        """;

    /// <summary>The user message: the description, the classes and a summary of the measured facts of the good parts.</summary>
    public static string UserPrompt(string description, RuleBook book)
    {
        var text = new StringBuilder();
        text.AppendLine($"A good part, as the user describes it: {description}");
        text.AppendLine($"Measured on {book.Good.Count} good parts, per component class (ranges are min..max over the good parts):");
        string R(IEnumerable<double> values)
        {
            var list = values.Where(double.IsFinite).ToList();
            return list.Count == 0 ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{list.Min():0.###}..{list.Max():0.###}");
        }
        foreach (var name in book.Classes)
        {
            double F(PartFacts p, string fact) => new FactValue(fact, name, null).Evaluate(p);
            text.AppendLine($"- {name}: count {R(book.Good.Select(p => F(p, "count")))}, area {R(book.Good.Select(p => F(p, "area")))}, " +
                $"x {R(book.Good.Select(p => F(p, "x")))}, y {R(book.Good.Select(p => F(p, "y")))}, " +
                $"colour r {R(book.Good.Select(p => F(p, "r")))} g {R(book.Good.Select(p => F(p, "g")))} b {R(book.Good.Select(p => F(p, "b")))}");
        }
        text.AppendLine("Propose rules that check what the description says (counts, sizes, positions, which parts go together).");
        return text.ToString();
    }

    /// <summary>
    /// The rules document in a model's reply: the reply itself, or the JSON inside a ``` fence, or from the first
    /// '{' or '[' to the matching last '}' or ']'. Throws <see cref="RuleException"/> saying what was wrong.
    /// </summary>
    public static string ExtractJson(string? reply)
    {
        if (string.IsNullOrWhiteSpace(reply)) throw new RuleException("the model's reply is empty");
        if (reply.Length > MaxReplyCharacters) throw new RuleException($"the model's reply is longer than {MaxReplyCharacters} characters");
        var text = reply.Trim();
        int fence = text.IndexOf("```", StringComparison.Ordinal);
        if (fence >= 0)
        {
            int start = text.IndexOf('\n', fence);
            int end = start < 0 ? -1 : text.IndexOf("```", start, StringComparison.Ordinal);
            if (start >= 0 && end > start) text = text[(start + 1)..end].Trim();
        }
        int open = text.IndexOfAny(['{', '[']);
        if (open < 0) throw new RuleException($"the model's reply holds no JSON: \"{RuleParser.Clip(text)}\"");
        int close = text.LastIndexOf(text[open] == '{' ? '}' : ']');
        if (close < open) throw new RuleException($"the model's reply holds unfinished JSON: \"{RuleParser.Clip(text[open..])}\"");
        return text[open..(close + 1)];
    }
}
