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
    /// <summary>A then or else that is never checked, since the if's condition always holds or can never hold: the rule
    /// checks less than it says.</summary>
    DeadBranch,
}

/// <summary>One loose bound of a rule, with the sentence that names the rule, the range, what the good parts show and what to do.</summary>
public sealed record LooseRange(string RuleId, Looseness Looseness, string Reason);

/// <summary>
/// Finds ranges in a new rule that check nothing or next to nothing. Verification on the good parts cannot: a range
/// between -1e6 and 1e6 passes every good part, so it would be accepted, counted among the checks and never fail. A
/// compare is judged as the range it amounts to (on the fact it compares with a constant, or on the difference of the
/// two facts it compares), so a huge tolerance is found like a huge range; a compare of a value with itself or of two
/// constants, an inside of a class in itself and a distance of a class to itself can never fail either. Polarity
/// decides what is judged: where a condition must hold (a rule's check, the items of all / any, the then / else of an
/// if) its bounds are judged as above; under a not it must fail, so only a condition that can never hold is found
/// (checking that it fails can never fail). An if whose condition can never hold and that has no else can never fail; an if whose
/// condition always holds (or never) has an else (a then) that is never checked. What always holds or can never hold
/// is what the possible values prove (<see cref="Prove"/>), nothing is guessed from the good parts. What a caller does
/// with each <see cref="Looseness"/> is its policy (<see cref="RuleBook.Add"/>).
/// </summary>
public static class LooseRanges
{
    /// <summary>A bound further than this many times the good parts' spread beyond their farthest value is <see cref="Looseness.FarWider"/>.</summary>
    public const double FarFactor = 3;

    /// <summary>The loose bounds of <paramref name="rule"/>, worst first, judged on the good parts of <paramref name="book"/>.</summary>
    public static IReadOnlyList<LooseRange> Find(Rule rule, RuleBook book)
    {
        var found = new List<LooseRange>();
        Walk(rule.Check, mustHold: true, rule, book, found);
        return found.OrderBy(f => f.Looseness).ToList();
    }

    /// <summary>Judges <paramref name="condition"/> where it must hold (<paramref name="mustHold"/>) or, under an odd
    /// number of nots, where it must fail.</summary>
    static void Walk(Condition condition, bool mustHold, Rule rule, RuleBook book, List<LooseRange> found)
    {
        switch (condition)
        {
            case NotCondition not: Walk(not.Inner, !mustHold, rule, book, found); break;
            // not (all / any) is any / all of the nots: under a not, as where they must hold, every item is judged.
            case AllCondition all: foreach (var item in all.Items) Walk(item, mustHold, rule, book, found); break;
            case AnyCondition any: foreach (var item in any.Items) Walk(item, mustHold, rule, book, found); break;
            case IfCondition branch: Judge(branch, mustHold, rule, book, found); break;
            case var leaf when mustHold: Judge(leaf, rule, book, found); break;
            case var leaf when Prove(leaf) is { Truth: Truth.Never } never:
                found.Add(new(rule.Id, Looseness.AdmitsEverything,
                    $"rule '{rule.Id}': under \"not\", {never.Why}, so checking that it does not hold can never fail. Under \"not\", write what a bad part shows, within the possible values"));
                break;
            // Under a not, a range names what a bad part shows: its bounds are judged as where it must hold, on the
            // band it excludes (not (count >= 10) says count <= 9, and is as loose).
            case RangeCondition range:
                Judge(range.Subject, range.Min, range.Max, $"rule '{rule.Id}': under \"not\", it fails where {range.Subject.Describe()} lies in {Interval(range.Min, range.Max)}",
                    RangeAdvice, rule, book, found, excluded: true);
                break;
            case CompareCondition compare when compare.Op != "!=" && compare.Left != compare.Right && !(compare.Left is Literal && compare.Right is Literal):
                var (subject, lo, hi) = AsRange(compare);
                Judge(subject, lo, hi, $"rule '{rule.Id}': under \"not\", it fails where {Describe(compare)}: {subject.Describe()} in {Interval(lo, hi)}",
                    ". Write a tolerance (or constant) close to what the good parts show", rule, book, found, subject is Difference ? 0 : null, excluded: true);
                break;
        }
    }

    /// <summary>A condition that must hold, judged on its own.</summary>
    static void Judge(Condition condition, Rule rule, RuleBook book, List<LooseRange> found)
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
            // It passed the good parts, so it is an alternative of an any that is never taken: a mistake of meaning.
            case RelationCondition relation when Prove(relation) is { Truth: Truth.Never } never:
                found.Add(new(rule.Id, Looseness.OutsidePossible, $"rule '{rule.Id}': {never.Why}; name two different classes"));
                break;
        }
    }

    /// <summary>
    /// An if is judged on what its condition is proven to do. Can never hold: the then is never checked, and without an
    /// else the if can never fail (where it must hold; where it must fail, it always does, which verification finds).
    /// Always holds: the else is never checked. Either way only the branch that is checked is judged further.
    /// </summary>
    static void Judge(IfCondition branch, bool mustHold, Rule rule, RuleBook book, List<LooseRange> found)
    {
        var when = Prove(branch.When);
        if (when.Truth == Truth.Never)
        {
            if (branch.Else is null)
            {
                if (mustHold)
                    found.Add(new(rule.Id, Looseness.AdmitsEverything,
                        $"rule '{rule.Id}': the \"if\" condition can never hold, so its \"then\" is never checked and the \"if\" can never fail: {when.Why}. Write an \"if\" condition that a part can meet, or check the \"then\" on its own"));
                return;
            }
            found.Add(new(rule.Id, Looseness.DeadBranch,
                $"rule '{rule.Id}': the \"if\" condition can never hold, so its \"then\" is never checked: {when.Why}. Check the \"else\" on its own"));
            Walk(branch.Else, mustHold, rule, book, found);
            return;
        }
        if (when.Truth == Truth.Always && branch.Else is not null)
            found.Add(new(rule.Id, Looseness.DeadBranch,
                $"rule '{rule.Id}': the \"if\" condition always holds, so its \"else\" is never checked: {when.Why}. Check the \"then\" on its own"));
        Walk(branch.Then, mustHold, rule, book, found);
        if (branch.Else is not null && when.Truth != Truth.Always) Walk(branch.Else, mustHold, rule, book, found);
    }

    /// <summary>What the possible values prove about a condition: it holds on every part, on none, or it depends.</summary>
    enum Truth { Depends, Always, Never }

    /// <summary>A <see cref="Truth"/> with the words that prove it, e.g. "count of grey in [-5, -1] can never hold
    /// (count of grey takes 0 and up, a number of components)".</summary>
    sealed record Proof(Truth Truth, string Why)
    {
        public static readonly Proof Depends = new(Truth.Depends, "");
        public Proof Negated => Truth == Truth.Depends ? this : new(Truth == Truth.Always ? Truth.Never : Truth.Always, $"under \"not\", {Why}");
    }

    static Proof Always(string what, string why) => new(Truth.Always, $"{what} always holds ({why})");
    static Proof Never(string what, string why) => new(Truth.Never, $"{what} can never hold ({why})");

    /// <summary>
    /// Whether <paramref name="condition"/> holds on every part or on none, where the possible values prove it. A value
    /// that is not measurable fails every range and compare, so "always" needs a value every part has (a count, a
    /// class's area); "never" does not. all and any follow their items (one that never holds makes an all never hold,
    /// one that always holds an any), a not swaps the two, and an if follows the branch its condition proves.
    /// </summary>
    static Proof Prove(Condition condition)
    {
        switch (condition)
        {
            case RangeCondition range: return Prove(range.Subject, range.Min, range.Max, $"{range.Subject.Describe()} in {Interval(range.Min, range.Max)}");
            case CompareCondition compare: return Prove(compare);
            case RelationCondition relation when relation.A == relation.B:
                string words = relation.Relation == "above" ? "above" : "left of";
                return Never($"{relation.A} {words} {relation.B}", $"a class is never {words} itself");
            case InsideCondition inside when inside.A == inside.B:
                return Always($"every {inside.A} inside a {inside.B}", "every component lies inside its own box");
            case WithinCondition within when WholeImage(within.Box):
                return Always($"{within.A} within the box [{string.Join(", ", within.Box.Select(Fmt))}]", "the box is the whole image");
            case SameColourCondition same when same.Tolerance >= 1:
                return Always($"the same colour of {same.A} within {Fmt(same.Tolerance)}", "colour channels lie in 0 to 1");
            case AllCondition all:
                var items = all.Items.Select(Prove).ToList();
                return items.FirstOrDefault(p => p.Truth == Truth.Never) ?? (items.All(p => p.Truth == Truth.Always) ? items[0] : Proof.Depends);
            case AnyCondition any:
                var alternatives = any.Items.Select(Prove).ToList();
                return alternatives.FirstOrDefault(p => p.Truth == Truth.Always) ?? (alternatives.All(p => p.Truth == Truth.Never) ? alternatives[0] : Proof.Depends);
            case NotCondition not: return Prove(not.Inner).Negated;
            case IfCondition branch:
                var when = Prove(branch.When);
                if (when.Truth == Truth.Always) return Prove(branch.Then);
                if (when.Truth != Truth.Never) return Proof.Depends;
                return branch.Else is null ? new(Truth.Always, $"its \"if\" condition can never hold, so the \"if\" always holds: {when.Why}") : Prove(branch.Else);
            default: return Proof.Depends;
        }
    }

    /// <summary>A range on <paramref name="subject"/> (<paramref name="what"/> says it): never, where it lies outside the
    /// possible values; always, where it admits them all and every part has the value.</summary>
    static Proof Prove(Value subject, double? min, double? max, string what)
    {
        if (subject is Literal constant)
            return (min is not double lo || constant.Number >= lo) && (max is not double hi || constant.Number <= hi)
                ? Always(what, $"{constant.Describe()} is a constant") : Never(what, $"{constant.Describe()} is a constant");
        if (PossibleValues(subject) is not { } possible) return Proof.Depends;
        if (Misses(possible, min, max)) return Never(what, $"{subject.Describe()} takes {possible.Words}");
        if (Covers(possible, min, max) && AlwaysMeasurable(subject)) return Always(what, $"it admits every value {subject.Describe()} takes: {possible.Words}");
        return Proof.Depends;
    }

    static Proof Prove(CompareCondition compare)
    {
        string what = Describe(compare);
        if (compare.Left is Literal && compare.Right is Literal)
            return compare.Evaluate(NoPart).Passed ? Always(what, "it compares two constants") : Never(what, "it compares two constants");
        if (compare.Left == compare.Right)
        {
            // The difference is 0: < and > hold only with a tolerance, != never.
            bool holdsOnZero = compare.Op switch { "<" or ">" => compare.Tolerance > 0, "!=" => false, _ => true };
            if (!holdsOnZero) return Never(what, "it compares a value with itself");
            return AlwaysMeasurable(compare.Left) ? Always(what, "it compares a value with itself") : Proof.Depends;
        }
        var (subject, lo, hi) = AsRange(compare);
        if (compare.Op != "!=") return Prove(subject, lo, hi, what);
        // != holds outside the band [lo, hi]: never where the band covers every possible value, always where it covers none.
        if (PossibleValues(subject) is not { } possible) return Proof.Depends;
        if (Covers(possible, lo, hi)) return Never(what, $"it needs {subject.Describe()} outside {Interval(lo, hi)}, and {subject.Describe()} takes {possible.Words}");
        if (Misses(possible, lo, hi) && AlwaysMeasurable(subject)) return Always(what, $"it fails only for {subject.Describe()} in {Interval(lo, hi)}, and {subject.Describe()} takes {possible.Words}");
        return Proof.Depends;
    }

    /// <summary>A part with no components: a compare of two constants does not read it.</summary>
    static readonly PartFacts NoPart = new() { Id = "", Classes = [] };

    static string Describe(CompareCondition compare) =>
        $"{compare.Left.Describe()} {compare.Op} {compare.Right.Describe()}{(compare.Tolerance > 0 ? $" with a tolerance of {Fmt(compare.Tolerance)}" : "")}";

    static bool Covers(Possible possible, double? min, double? max) => (min ?? double.NegativeInfinity) <= possible.Min && (max ?? double.PositiveInfinity) >= possible.Max;
    static bool Misses(Possible possible, double? min, double? max) => max < possible.Min || min > possible.Max;
    static bool WholeImage(double[] box) => box[0] <= 0 && box[1] <= 0 && box[2] >= 1 && box[3] >= 1;
    static bool AlwaysMeasurable(Value subject) => !Unmeasurable(subject).Any();

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
        string compares = $"rule '{rule.Id}' compares {Describe(compare)}";
        if (compare.Left == compare.Right || (compare.Left is Literal && compare.Right is Literal))
        {
            string which = compare.Left is Literal && compare.Right is Literal ? "two constants" : "a value with itself";
            // RuleBook.Add judges a rule only after it held on every good part; such a compare then holds on every part,
            // unless it never holds (a < a, a != a): then it is an alternative of an any that is never taken.
            found.Add(Prove(compare).Truth == Truth.Never
                ? new(rule.Id, Looseness.OutsidePossible, $"{compares}, {which}, so it can never hold; compare two different facts")
                : new(rule.Id, Looseness.AdmitsEverything, $"{compares}, {which}, so it can never fail; compare two different facts"));
            return;
        }
        const string advice = ". Write a tolerance (or constant) close to what the good parts show";
        var (subject, lo, hi) = AsRange(compare);
        if (compare.Op == "!=")
        {
            // It fails only inside the band; a band no value can reach leaves nothing to fail on.
            if (PossibleValues(subject) is { } possible && Misses(possible, lo, hi))
                found.Add(new(rule.Id, Looseness.AdmitsEverything,
                    $"{compares}, which fails only for {subject.Describe()} in {Interval(lo, hi)}, outside its possible values ({possible.Words}), so it can never fail. Compare with a value the part can take"));
            return;
        }
        // Between two facts, a difference of zero is what the compare says (an order, an equality), not a made-up bound:
        // only the tolerance can reach far ({"x": "red"} < {"x": "green"} is an order however far apart they lie).
        double? natural = subject is Difference ? 0 : null;
        Judge(subject, lo, hi, $"{compares}: {subject.Describe()} may lie in {Interval(lo, hi)}", advice, rule, book, found, natural);
    }

    /// <summary>The range a compare amounts to: the fact against a constant, else the difference left - right, and the
    /// interval it must lie in (for != : the band it must stay out of).</summary>
    static (Value Subject, double? Lo, double? Hi) AsRange(CompareCondition compare)
    {
        double t = compare.Tolerance;
        (double? lo, double? hi) = compare.Op switch { "<" or "<=" => ((double?)null, (double?)t), ">" or ">=" => (-t, null), _ => (-t, t) };
        if (compare.Right is Literal right) return (compare.Left, lo + right.Number, hi + right.Number);
        if (compare.Left is Literal left) return (compare.Right, left.Number - hi, left.Number - lo);
        return (new Difference(compare.Left, compare.Right), lo, hi);
    }

    static string Interval(double? min, double? max) => $"[{(min is double a ? Fmt(a) : "-inf")}, {(max is double b ? Fmt(b) : "inf")}]";

    /// <summary>Judges the range [<paramref name="min"/>, <paramref name="max"/>] of <paramref name="subject"/>;
    /// <paramref name="checks"/> says what the rule checks, <paramref name="advice"/> what to write instead, and
    /// <paramref name="natural"/> is a value the range may reach without being far (zero, for a compare of two facts).
    /// <paramref name="excluded"/>: the range is under a not, so a part fails inside it; a bound outside the possible
    /// values is the same mistake there, and the band is far when it starts far beyond the good parts' values (it fails
    /// only on parts far from them, as a range far wider than them passes every part near them).</summary>
    static void Judge(Value subject, double? min, double? max, string checks, string advice, Rule rule, RuleBook book, List<LooseRange> found,
        double? natural = null, bool excluded = false)
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
        if (!excluded && Covers(possible, min, max))
            found.Add(new(rule.Id, Looseness.AdmitsEverything, $"{checks}, which admits every possible value ({possible.Words}), {NeverFails(subject)}{shown}{advice}"));
        if (good.Count == 0) return;
        double spread = Math.Max(good.Max() - good.Min(), SpreadFloor(subject));
        string Far(string bound, double distance, string side) =>
            $"{checks}, but {bound} lies {Fmt(distance)} {side} value on a good part, more than {FarFactor:0} times the good parts' spread ({Fmt(spread)}), so it hardly ever fails{shown}{advice}";
        // A bound is far when it lies far beyond the good values and beyond the natural bound, where there is one.
        double lowest = Math.Min(good.Min(), natural ?? double.PositiveInfinity), highest = Math.Max(good.Max(), natural ?? double.NegativeInfinity);
        if (excluded)
        {
            // The good parts all lie outside the band (they passed): on one side of it, or on both (a band between
            // them is a close check).
            if (min is double from && good.All(v => v < from) && from - highest > FarFactor * spread)
                found.Add(new(rule.Id, Looseness.FarWider, Far($"min {Fmt(from)}", from - good.Max(), "above the largest")));
            if (max is double to && good.All(v => v > to) && lowest - to > FarFactor * spread)
                found.Add(new(rule.Id, Looseness.FarWider, Far($"max {Fmt(to)}", good.Min() - to, "below the smallest")));
            return;
        }
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
        else if (WholeImage(within.Box))
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
