using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PipelineFramework.Rules;

/// <summary>Why a proposed rule was refused: the rule, the good part it rejects, and the outcome there.</summary>
public sealed record Refusal(string RuleId, string Reason);

/// <summary>
/// The accepted rules of one logic check and the facts of the good parts they were verified on. Immutable: adding rules
/// returns a new book. A rule is accepted only if it passes on every good part.
/// </summary>
public sealed class RuleBook
{
    public RuleBook(IReadOnlyList<string> classes, IReadOnlyList<Rule> rules, IReadOnlyList<PartFacts> good)
    {
        Classes = classes; Rules = rules; Good = good;
    }

    public IReadOnlyList<string> Classes { get; }
    public IReadOnlyList<Rule> Rules { get; }
    public IReadOnlyList<PartFacts> Good { get; }

    /// <summary>The first good part the rule rejects, or null when it passes on all of them.</summary>
    public Refusal? Verify(Rule rule)
    {
        foreach (var part in Good)
        {
            var outcome = rule.Check.Evaluate(part);
            if (!outcome.Passed)
                return new Refusal(rule.Id, $"rule '{rule.Id}' rejects the good training part '{part.Id}': {outcome.Detail}");
        }
        return null;
    }

    /// <summary>
    /// Parses <paramref name="json"/> against this book's classes, verifies every rule on the good parts and returns the
    /// book with the accepted ones added and the refusals with their reasons. Adding never replaces: a rule whose id is
    /// already in the book is refused (silently replacing a learned rule would weaken the check while saying "added"),
    /// and so is a rule that names a source other than <paramref name="source"/> (provenance shown by `pf rules` must
    /// be true). <paramref name="screen"/>, when given, refuses a rule before it is verified by returning the reason
    /// (what a caller does not take, e.g. a description with control characters). A document that cannot be read
    /// throws <see cref="RuleException"/> and changes nothing.
    /// Passing every good part is not enough: a range that checks nothing passes them all too (<see cref="LooseRanges"/>).
    /// A proposed (llm) rule with any loose bound is refused: it was shown what the good parts measure and only adds
    /// value by checking it. A hand rule is refused for a bound outside the possible values or a range that admits
    /// every value or any other part that can never fail (a mistake of units or meaning, and a rule that can never fail),
    /// and accepted with a warning for a bound merely far beyond the good parts (the operator may know the tolerance
    /// better than the training parts show) or an if's branch that is never checked (the rule checks less than it says).
    /// A rule that would take the book past what <see cref="Load"/> reads back (<see cref="RuleParser.MaxRules"/> rules,
    /// <see cref="RuleParser.MaxDocumentBytes"/>) is refused: adds within the limits each could otherwise add up to a
    /// model that no command loads.
    /// </summary>
    public (RuleBook Book, IReadOnlyList<Rule> Accepted, IReadOnlyList<Refusal> Refused, IReadOnlyList<LooseRange> Warnings) Add(
        string json, RuleSource source, Func<Rule, string?>? screen = null)
    {
        var proposed = RuleParser.ParseDocument(json, source, Classes);
        var accepted = new List<Rule>();
        var refused = new List<Refusal>();
        var warnings = new List<LooseRange>();
        // What the stored rules take so far; every rule added must leave a book that Load reads back (below).
        long bytes = Encoding.UTF8.GetByteCount(RulesJson());
        foreach (var rule in proposed)
        {
            // Cheapest first: the id, source and screen look at the rule alone, verification runs it on the good parts,
            // and judging its ranges also reads every good part's value of every range it holds.
            if ((AdditionProblem(rule, source) ?? screen?.Invoke(rule)) is { } reason) { refused.Add(new Refusal(rule.Id, reason)); continue; }
            if (Verify(rule) is { } refusal) { refused.Add(refusal); continue; }
            IReadOnlyList<LooseRange> loose = source == RuleSource.Learned ? [] : LooseRanges.Find(rule, this);
            if (loose.FirstOrDefault(l => source == RuleSource.Llm || l.Looseness is Looseness.OutsidePossible or Looseness.AdmitsEverything) is { } refusing)
            {
                refused.Add(new Refusal(rule.Id, refusing.Reason));
                continue;
            }
            long size = StoredBytes(rule);
            if (Rules.Count + accepted.Count >= RuleParser.MaxRules || bytes + size > RuleParser.MaxDocumentBytes)
            {
                refused.Add(new Refusal(rule.Id, Rules.Count + accepted.Count >= RuleParser.MaxRules
                    ? $"rule '{rule.Id}': the model would hold more than {RuleParser.MaxRules} rules, the most a model can load; leave it out"
                    : $"rule '{rule.Id}': the model's rules would take more than {RuleParser.MaxDocumentBytes / 1024} KiB, the most a model can load; leave it out or shorten the rules' descriptions"));
                continue;
            }
            bytes += size;
            accepted.Add(rule);
            warnings.AddRange(loose);
        }
        var book = new RuleBook(Classes, Rules.Concat(accepted).ToList(), Good);
        // The estimate above is a few bytes over what RulesJson writes per rule; this keeps a change of that layout from
        // ever writing a model that no command can load.
        if (Encoding.UTF8.GetByteCount(book.RulesJson()) > RuleParser.MaxDocumentBytes)
            throw new RuleException($"the model's rules would take more than {RuleParser.MaxDocumentBytes / 1024} KiB, the most a model can load; add fewer rules");
        return (book, accepted, refused, warnings);
    }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>What <paramref name="rule"/> adds to <see cref="RulesJson"/>: its indented text, every line indented two
    /// levels more (it sits in the document's "rules" array), and the separator.</summary>
    static long StoredBytes(Rule rule)
    {
        var text = JsonNode.Parse(rule.Json)!.ToJsonString(Indented);
        return Encoding.UTF8.GetByteCount(text) + 4L * (text.Count(c => c == '\n') + 1) + 3;
    }

    /// <summary>Why <paramref name="rule"/> cannot be added from <paramref name="source"/> whatever it checks, or null.</summary>
    string? AdditionProblem(Rule rule, RuleSource source)
    {
        if (Rules.FirstOrDefault(r => r.Id == rule.Id) is { } existing)
            return $"rule '{rule.Id}' has the id of a {Name(existing.Source)} rule already in the model; adding never replaces a rule, so give the new one another id";
        if (rule.Source != source)
            return $"rule '{rule.Id}' claims the source '{Name(rule.Source)}'; a rule added this way is '{Name(source)}' (leave \"source\" out)";
        return null;
    }

    static string Name(RuleSource source) => source.ToString().ToLowerInvariant();

    public IReadOnlyList<(Rule Rule, RuleOutcome Outcome)> Evaluate(PartFacts part) =>
        Rules.Select(r => (r, r.Check.Evaluate(part))).ToList();

    /// <summary>The rules as a document <c>{"rules": [...]}</c>, each as it was written.</summary>
    public string RulesJson()
    {
        var array = new JsonArray(Rules.Select(r => JsonNode.Parse(r.Json)).ToArray());
        return new JsonObject { ["classes"] = new JsonArray(Classes.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()), ["rules"] = array }
            .ToJsonString(Indented);
    }

    /// <summary>Reads what <see cref="RulesJson"/> wrote plus the stored facts.</summary>
    public static RuleBook Load(string rulesJson, string factsJson)
    {
        var root = JsonNode.Parse(rulesJson) as JsonObject ?? throw new RuleException("the stored rules are not a JSON object");
        var classes = (root["classes"] as JsonArray ?? []).Select(c => c!.GetValue<string>()).ToList();
        // Rules keep the source they were written with; the default only applies to documents that name none.
        var rules = RuleParser.ParseDocument(rulesJson, RuleSource.Hand, classes);
        return new RuleBook(classes, rules, PartFacts.FromJson(factsJson));
    }
}
