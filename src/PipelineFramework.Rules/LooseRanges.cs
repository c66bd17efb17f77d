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
/// between -1e6 and 1e6 passes every good part, so it would be accepted, counted among the checks and never fail. A
/// compare is judged as the range it amounts to (on the fact it compares with a constant, or on the difference of the
/// two facts it compares), so a huge tolerance is found like a huge range; a compare of a value with itself or of two
/// constants, an inside of a class in itself and a distance of a class to itself can never fail either. Only
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
            case CompareCondition compare: Judge(compare, rule, book, found); break;
            case WithinCondition within: Judge(within, rule, found); break;
            case InsideCondition inside when inside.A == inside.B:
                found.Add(new LooseRange(rule.Id, Looseness.AdmitsEverything,
                    $"rule '{rule.Id}' checks that every {inside.A} lies inside a {inside.B}, but every component lies inside its own box, so it can never fail; name the class that should hold {inside.A}"));
                break;
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
    internal sealed record Possible(double Min, double Max, string Words);

    /// <summary>The values <paramref name="subject"/> can take, or null where nothing is known (the learner clamps its
    /// ranges to these too, so a learned rule never reads "x from -0.2").</summary>
    internal static Possible? PossibleValues(Value subject) => subject switch
    {
        FactValue { Fact: "count" } => new Possible(0, double.PositiveInfinity, "0 and up, a number of components"),
        FactValue { Fact: "r" or "g" or "b" } => new Possible(0, 1, "0 to 1, a colour channel"),
        FactValue => new Possible(0, 1, "0 to 1, a fraction of the image"),
        Distance d when d.A == d.B => new Possible(0, 0, $"0, the distance of {d.A} to itself"),
        Distance => new Possible(0, Math.Sqrt(2), "0 to 1.414, a fraction of the image side"),
        Literal l => new Possible(l.Number, l.Number, $"the constant {Fmt(l.Number)}"),
        Difference d when PossibleValues(d.Left) is { } a && PossibleValues(d.Right) is { } b =>
            new Possible(a.Min - b.Max, a.Max - b.Min, $"{Span(a.Min - b.Max, a.Max - b.Min)}, {d.Describe()}"),
        _ => null,
    };

    /// <summary>What a compare of two facts checks: their difference, judged like a range (it never appears in a rule).</summary>
    sealed record Difference(Value Left, Value Right) : Value
    {
        public override IEnumerable<string> Classes => Left.Classes.Concat(Right.Classes);
        public override double Evaluate(PartFacts part) => Left.Evaluate(part) - Right.Evaluate(part);
        public override string Describe() => $"{Left.Describe()} minus {Right.Describe()}";
    }

    static string Span(double min, double max) => (double.IsInfinity(min), double.IsInfinity(max)) switch
    {
        (true, true) => "any value",
        (true, false) => $"up to {Fmt(max)}",
        (false, true) => $"{Fmt(min)} and up",
        _ => $"{Fmt(min)} to {Fmt(max)}",
    };

    /// <summary>The smallest spread the far test assumes (good parts that all measure the same still allow some play):
    /// one component for counts, 1 % of the image or colour scale otherwise.</summary>
    static double SpreadFloor(Value subject) => subject switch
    {
        FactValue { Fact: "count" } => 1,
        Difference d => Math.Max(SpreadFloor(d.Left), SpreadFloor(d.Right)),
        _ => 0.01,
    };

    const string RangeAdvice = ". Write a range close to what the good parts show, or leave the bound out for no limit on that side";

    static void Judge(RangeCondition range, Rule rule, RuleBook book, List<LooseRange> found) =>
        Judge(range.Subject, range.Min, range.Max, $"rule '{rule.Id}' checks {range.Subject.Describe()} in {Interval(range.Min, range.Max)}", RangeAdvice, rule, book, found);

    /// <summary>
    /// A compare is a range in disguise: on the fact, where the other side is a constant ({"count": "red"} &lt;= 1000 is
    /// count of red in [-inf, 1000]), else on the difference of the two facts (== with tolerance t: the difference in
    /// [-t, t]). Judged as a range, so a tolerance that admits every possible difference, or reaches far beyond what the
    /// good parts show, is found like the range that says the same.
    /// </summary>
    static void Judge(CompareCondition compare, Rule rule, RuleBook book, List<LooseRange> found)
    {
        double t = compare.Tolerance;
        string compares = $"rule '{rule.Id}' compares {compare.Left.Describe()} {compare.Op} {compare.Right.Describe()}{(t > 0 ? $" with a tolerance of {Fmt(t)}" : "")}";
        if (compare.Left == compare.Right || (compare.Left is Literal && compare.Right is Literal))
        {
            // RuleBook.Add judges a rule only after it held on every good part; such a compare then holds on every part.
            found.Add(new(rule.Id, Looseness.AdmitsEverything, $"{compares}, {(compare.Left is Literal && compare.Right is Literal ? "two constants" : "a value with itself")}, so it can never fail; compare two different facts"));
            return;
        }
        const string advice = ". Write a tolerance (or constant) close to what the good parts show";
        // The interval the difference left - right must lie in (for != : the band it must stay out of).
        (double? lo, double? hi) = compare.Op switch { "<" or "<=" => ((double?)null, (double?)t), ">" or ">=" => (-t, null), _ => (-t, t) };
        Value subject = new Difference(compare.Left, compare.Right);
        if (compare.Right is Literal right) (subject, lo, hi) = (compare.Left, lo + right.Number, hi + right.Number);
        else if (compare.Left is Literal left) (subject, lo, hi) = (compare.Right, left.Number - hi, left.Number - lo);
        if (compare.Op == "!=")
        {
            // It fails only inside the band; a band no value can reach leaves nothing to fail on.
            if (PossibleValues(subject) is { } possible && (hi < possible.Min || lo > possible.Max))
                found.Add(new(rule.Id, Looseness.AdmitsEverything,
                    $"{compares}, which fails only for {subject.Describe()} in {Interval(lo, hi)}, outside its possible values ({possible.Words}), so it can never fail. Compare with a value the part can take"));
            return;
        }
        // Between two facts, a difference of zero is what the compare says (an order, an equality), not a made-up bound:
        // only the tolerance can reach far ({"x": "red"} < {"x": "green"} is an order however far apart they lie).
        double? natural = subject is Difference ? 0 : null;
        Judge(subject, lo, hi, $"{compares}: {subject.Describe()} may lie in {Interval(lo, hi)}", advice, rule, book, found, natural);
    }

    static string Interval(double? min, double? max) => $"[{(min is double a ? Fmt(a) : "-inf")}, {(max is double b ? Fmt(b) : "inf")}]";

    /// <summary>Judges the range [<paramref name="min"/>, <paramref name="max"/>] of <paramref name="subject"/>;
    /// <paramref name="checks"/> says what the rule checks, <paramref name="advice"/> what to write instead, and
    /// <paramref name="natural"/> is a value the range may reach without being far (zero, for a compare of two facts).</summary>
    static void Judge(Value subject, double? min, double? max, string checks, string advice, Rule rule, RuleBook book, List<LooseRange> found,
        double? natural = null)
    {
        if (PossibleValues(subject) is not { } possible) return;
        var good = book.Good.Select(subject.Evaluate).Where(double.IsFinite).ToList();
        string described = subject.Describe();
        string shown = (good.Count == 0 ? $"; {described} is not measurable on any good part" : $"; the good parts show {Fmt(good.Min())} to {Fmt(good.Max())}")
            + LearnedRange(subject, book);
        if (subject is Literal)
        {
            // A range on a constant does not depend on the part; one that held on the good parts holds everywhere.
            found.Add(new(rule.Id, Looseness.AdmitsEverything, $"{checks}, but {described} is a constant, not a fact of the part, so it can never fail; check a fact such as {{\"count\": \"{book.Classes.FirstOrDefault()}\"}}"));
            return;
        }

        if (min is double low && low < possible.Min)
            found.Add(new(rule.Id, Looseness.OutsidePossible, $"{checks}, but min {Fmt(low)} lies outside the possible values ({possible.Words}){shown}{advice}"));
        if (max is double high && high > possible.Max)
            found.Add(new(rule.Id, Looseness.OutsidePossible, $"{checks}, but max {Fmt(high)} lies outside the possible values ({possible.Words}){shown}{advice}"));
        if ((min ?? double.NegativeInfinity) <= possible.Min && (max ?? double.PositiveInfinity) >= possible.Max)
            found.Add(new(rule.Id, Looseness.AdmitsEverything, $"{checks}, which admits every possible value ({possible.Words}), {NeverFails(subject)}{shown}{advice}"));
        if (good.Count == 0) return;
        double spread = Math.Max(good.Max() - good.Min(), SpreadFloor(subject));
        string Far(string bound, double distance, string side) =>
            $"{checks}, but {bound} lies {Fmt(distance)} {side} value on a good part, more than {FarFactor:0} times the good parts' spread ({Fmt(spread)}), so it hardly ever fails{shown}{advice}";
        // A bound is far when it lies far beyond the good values and beyond the natural bound, where there is one.
        double lowest = Math.Min(good.Min(), natural ?? double.PositiveInfinity), highest = Math.Max(good.Max(), natural ?? double.NegativeInfinity);
        if (min is double lo && lo >= possible.Min && lowest - lo > FarFactor * spread)
            found.Add(new(rule.Id, Looseness.FarWider, Far($"min {Fmt(lo)}", good.Min() - lo, "below the smallest")));
        if (max is double hi && hi <= possible.Max && hi - highest > FarFactor * spread)
            found.Add(new(rule.Id, Looseness.FarWider, Far($"max {Fmt(hi)}", hi - good.Max(), "above the largest")));
    }

    /// <summary>What a range that admits every value still checks: nothing, or presence where the value is not
    /// measurable without its class (a range fails there, so such a rule checks presence only, which {"present": ...}
    /// says plainly).</summary>
    static string NeverFails(Value subject)
    {
        if (subject is FactValue { Fact: not "count" } f && (f.Fact != "area" || f.Component is not null))
            return $"so it fails only where {f.Class}{(f.Component is int k and > 0 ? $" has fewer than {k + 1} components" : " is absent")} (to check presence, write {{\"present\": \"{f.Class}\"}})";
        var needed = Unmeasurable(subject).Distinct().ToList();
        return needed.Count == 0 ? "so it can never fail" : $"so it fails only where {string.Join(" or ", needed)} is absent (to check presence, write {{\"present\": \"{needed[0]}\"}})";
    }

    /// <summary>Classes whose absence leaves <paramref name="subject"/> not measurable.</summary>
    static IEnumerable<string> Unmeasurable(Value subject) => subject switch
    {
        FactValue { Fact: "count" } or FactValue { Fact: "area", Component: null } or Literal => [],
        FactValue f => [f.Class],
        Difference d => Unmeasurable(d.Left).Concat(Unmeasurable(d.Right)),
        _ => subject.Classes,
    };

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
