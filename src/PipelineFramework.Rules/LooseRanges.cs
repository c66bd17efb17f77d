namespace PipelineFramework.Rules;

/// <summary>How a bound of a new rule fails to check anything, from worst to mildest.</summary>
public enum Looseness
{
    /// <summary>A bound beyond the values the fact can take (a negative count, a fraction above 1): a mistake of units or meaning.</summary>
    OutsidePossible,
    /// <summary>The range admits every value the fact can take, so the rule can never fail.</summary>
    AdmitsEverything,
    /// <summary>A bound far beyond what the good parts show (<see cref="LooseRanges.FarFactor"/> times their spread): it hardly ever fails.</summary>
    FarWider,
}

/// <summary>One loose bound of a rule, with the sentence that names the rule, the range, what the good parts show and what to do.</summary>
public sealed record LooseRange(string RuleId, Looseness Looseness, string Reason);

/// <summary>
/// Finds ranges in a new rule that check nothing or next to nothing. Verification on the good parts cannot: a range
/// between -1e6 and 1e6 passes every good part, so it would be accepted, counted among the checks and never fail. Only
/// conditions that must hold are looked at (a rule's check, the items of all / any, the then / else of an if): a wide
/// range in an if's condition or under a not does not make the rule vacuous. What a caller does with each
/// <see cref="Looseness"/> is its policy (<see cref="RuleBook.Add"/>).
/// </summary>
public static class LooseRanges
{
    /// <summary>A bound further than this many times the good parts' spread beyond their farthest value is <see cref="Looseness.FarWider"/>.</summary>
    public const double FarFactor = 3;

    /// <summary>The loose bounds of <paramref name="rule"/>, worst first, judged on the good parts of <paramref name="book"/>.</summary>
    public static IReadOnlyList<LooseRange> Find(Rule rule, RuleBook book)
    {
        var found = new List<LooseRange>();
        Walk(rule.Check, rule, book, found);
        return found.OrderBy(f => f.Looseness).ToList();
    }

    static void Walk(Condition condition, Rule rule, RuleBook book, List<LooseRange> found)
    {
        switch (condition)
        {
            case RangeCondition range: Judge(range, rule, book, found); break;
            case WithinCondition within: Judge(within, rule, found); break;
            case SameColourCondition same when same.Tolerance >= 1:
                found.Add(new LooseRange(rule.Id, Looseness.AdmitsEverything,
                    $"rule '{rule.Id}' allows a colour difference of {Fmt(same.Tolerance)} between components of {same.A}, but colour channels lie in 0 to 1, so it can never fail; write a tolerance such as 0.1"));
                break;
            case AllCondition all: foreach (var item in all.Items) Walk(item, rule, book, found); break;
            case AnyCondition any: foreach (var item in any.Items) Walk(item, rule, book, found); break;
            case IfCondition branch:
                Walk(branch.Then, rule, book, found);
                if (branch.Else is not null) Walk(branch.Else, rule, book, found);
                break;
        }
    }

    /// <summary>The values a subject can take and how to say so.</summary>
    sealed record Possible(double Min, double Max, string Words);

    static Possible? PossibleValues(Value subject) => subject switch
    {
        FactValue { Fact: "count" } => new Possible(0, double.PositiveInfinity, "0 and up, a number of components"),
        FactValue { Fact: "r" or "g" or "b" } => new Possible(0, 1, "0 to 1, a colour channel"),
        FactValue => new Possible(0, 1, "0 to 1, a fraction of the image"),
        Distance => new Possible(0, Math.Sqrt(2), "0 to 1.414, a fraction of the image side"),
        Literal l => new Possible(l.Number, l.Number, $"the constant {Fmt(l.Number)}"),
        _ => null,
    };

    /// <summary>The smallest spread the far test assumes (good parts that all measure the same still allow some play):
    /// one component for counts, 1 % of the image or colour scale otherwise.</summary>
    static double SpreadFloor(Value subject) => subject is FactValue { Fact: "count" } ? 1 : 0.01;

    static void Judge(RangeCondition range, Rule rule, RuleBook book, List<LooseRange> found)
    {
        if (PossibleValues(range.Subject) is not { } possible) return;
        var good = book.Good.Select(range.Subject.Evaluate).Where(double.IsFinite).ToList();
        string subject = range.Subject.Describe();
        string checks = $"rule '{rule.Id}' checks {subject} in [{(range.Min is double a ? Fmt(a) : "-inf")}, {(range.Max is double b ? Fmt(b) : "inf")}]";
        string shown = (good.Count == 0 ? $"; {subject} is not measurable on any good part" : $"; the good parts show {Fmt(good.Min())} to {Fmt(good.Max())}")
            + LearnedRange(range.Subject, book);
        const string advice = ". Write a range close to what the good parts show, or leave the bound out for no limit on that side";
        bool constant = range.Subject is Literal;

        if (!constant && range.Min is double min && min < possible.Min)
            found.Add(new(rule.Id, Looseness.OutsidePossible, $"{checks}, but min {Fmt(min)} lies outside the possible values ({possible.Words}){shown}{advice}"));
        if (!constant && range.Max is double max && max > possible.Max)
            found.Add(new(rule.Id, Looseness.OutsidePossible, $"{checks}, but max {Fmt(max)} lies outside the possible values ({possible.Words}){shown}{advice}"));
        if ((range.Min ?? double.NegativeInfinity) <= possible.Min && (range.Max ?? double.PositiveInfinity) >= possible.Max)
        {
            // Positions, sizes, colours and one component's facts are not measurable without the class (or the
            // component), and a range fails there: such a rule checks presence only, which {"present": ...} says plainly.
            string verdict = range.Subject is FactValue { Fact: not "count" } f && (f.Fact != "area" || f.Component is not null)
                ? $"so it fails only where {f.Class}{(f.Component is int k and > 0 ? $" has fewer than {k + 1} components" : " is absent")} (to check presence, write {{\"present\": \"{f.Class}\"}})"
                : "so it can never fail";
            found.Add(new(rule.Id, Looseness.AdmitsEverything, $"{checks}, which admits every possible value ({possible.Words}), {verdict}{shown}{advice}"));
        }
        if (constant || good.Count == 0) return;
        double spread = Math.Max(good.Max() - good.Min(), SpreadFloor(range.Subject));
        string Far(string bound, double distance, string side) =>
            $"{checks}, but {bound} lies {Fmt(distance)} {side} value on a good part, more than {FarFactor:0} times the good parts' spread ({Fmt(spread)}), so it hardly ever fails{shown}{advice}";
        if (range.Min is double lo && lo >= possible.Min && good.Min() - lo > FarFactor * spread)
            found.Add(new(rule.Id, Looseness.FarWider, Far($"min {Fmt(lo)}", good.Min() - lo, "below the smallest")));
        if (range.Max is double hi && hi <= possible.Max && hi - good.Max() > FarFactor * spread)
            found.Add(new(rule.Id, Looseness.FarWider, Far($"max {Fmt(hi)}", hi - good.Max(), "above the largest")));
    }

    static void Judge(WithinCondition within, Rule rule, List<LooseRange> found)
    {
        string checks = $"rule '{rule.Id}' checks that {within.A} lies within the box [{string.Join(", ", within.Box.Select(Fmt))}]";
        if (within.Box.Any(v => v is < 0 or > 1))
            found.Add(new(rule.Id, Looseness.OutsidePossible, $"{checks}, but a box is given in fractions of the image, 0 to 1; write it so"));
        else if (within.Box[0] <= 0 && within.Box[1] <= 0 && within.Box[2] >= 1 && within.Box[3] >= 1)
            found.Add(new(rule.Id, Looseness.AdmitsEverything, $"{checks}, which is the whole image, so it can never fail; write the part of the image where {within.A} belongs"));
    }

    /// <summary>", the learned rule 'red-count' allows [2, 2]" where a learned rule checks the same subject; else "".</summary>
    static string LearnedRange(Value subject, RuleBook book)
    {
        foreach (var rule in book.Rules.Where(r => r.Source == RuleSource.Learned))
        {
            var check = rule.Check is IfCondition { Then: RangeCondition guarded } ? guarded : rule.Check as RangeCondition;
            if (check is not null && check.Subject == subject)
                return $" (the learned rule '{rule.Id}' allows [{(check.Min is double a ? Fmt(a) : "-inf")}, {(check.Max is double b ? Fmt(b) : "inf")}])";
        }
        return "";
    }

    static string Fmt(double v) => RangeCondition.Fmt(v);
}
