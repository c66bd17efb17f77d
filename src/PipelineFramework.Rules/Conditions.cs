using System.Globalization;

namespace PipelineFramework.Rules;

/// <summary>A numeric expression over a part's facts. NaN = not measurable (e.g. the position of an absent class).</summary>
public abstract record Value
{
    public abstract double Evaluate(PartFacts part);
    public abstract string Describe();
    /// <summary>Class names the expression reads (checked against the model's classes before a rule is accepted).</summary>
    public virtual IEnumerable<string> Classes => [];
}

public sealed record Literal(double Number) : Value
{
    public override double Evaluate(PartFacts part) => Number;
    public override string Describe() => Number.ToString("G4", CultureInfo.InvariantCulture);
}

/// <summary>A fact of a class (all its components together) or of one component (0 = the largest).</summary>
public sealed record FactValue(string Fact, string Class, int? Component) : Value
{
    public static readonly IReadOnlyList<string> Names = ["count", "area", "x", "y", "width", "height", "r", "g", "b"];

    public override IEnumerable<string> Classes => [Class];

    public override double Evaluate(PartFacts part)
    {
        var facts = part.Class(Class);
        var components = facts?.Components ?? [];
        if (Fact == "count") return components.Count;
        if (Component is int k)
            return k < components.Count ? Of(components[k]) : double.NaN;
        if (Fact == "area") return components.Sum(c => c.Area);
        if (components.Count == 0) return double.NaN;
        double total = components.Sum(c => c.Area);
        switch (Fact)
        {
            case "x": return components.Sum(c => c.X * c.Area) / total;
            case "y": return components.Sum(c => c.Y * c.Area) / total;
            case "width": return components.Max(c => c.Box[0] + c.Box[2]) - components.Min(c => c.Box[0]);
            case "height": return components.Max(c => c.Box[1] + c.Box[3]) - components.Min(c => c.Box[1]);
            default: return components.Sum(c => Of(c) * c.Area) / total;
        }
    }

    double Of(ComponentFacts c) => Fact switch
    {
        "area" => c.Area, "x" => c.X, "y" => c.Y, "width" => c.Box[2], "height" => c.Box[3],
        "r" => c.Colour[0], "g" => c.Colour[1], "b" => c.Colour[2], _ => double.NaN,
    };

    public override string Describe() => Component is int k ? $"{Fact} of {Class} #{k + 1}" : $"{Fact} of {Class}";
}

/// <summary>Distance between the centroids of two classes (fractions of the image side).</summary>
public sealed record Distance(string A, string B) : Value
{
    public override IEnumerable<string> Classes => [A, B];
    public override double Evaluate(PartFacts part)
    {
        double dx = new FactValue("x", A, null).Evaluate(part) - new FactValue("x", B, null).Evaluate(part);
        double dy = new FactValue("y", A, null).Evaluate(part) - new FactValue("y", B, null).Evaluate(part);
        return Math.Sqrt(dx * dx + dy * dy);
    }
    public override string Describe() => $"distance {A}-{B}";
}

/// <summary>A condition of a rule; evaluating one is linear in its size (no loops, no recursion beyond its depth).</summary>
public abstract record Condition
{
    public abstract RuleOutcome Evaluate(PartFacts part);
    public abstract IEnumerable<string> Classes { get; }
}

public sealed record RangeCondition(Value Subject, double? Min, double? Max) : Condition
{
    public override IEnumerable<string> Classes => Subject.Classes;
    public override RuleOutcome Evaluate(PartFacts part)
    {
        double v = Subject.Evaluate(part);
        string expected = $"[{(Min is double a ? Fmt(a) : "-inf")}, {(Max is double b ? Fmt(b) : "inf")}]";
        if (double.IsNaN(v))
            return new RuleOutcome { Passed = false, ExpectedMin = Min, ExpectedMax = Max, Severity = 1, Component = Component(),
                Detail = $"{Subject.Describe()} cannot be measured (the class is absent); expected {expected}" };
        bool ok = (Min is not double lo || v >= lo) && (Max is not double hi || v <= hi);
        double width = Math.Max(1e-6, Math.Max(Math.Abs((Max ?? v) - (Min ?? v)), 0.05 * Math.Abs(v)));
        double excess = Min is double l && v < l ? l - v : Max is double h && v > h ? v - h : 0;
        return new RuleOutcome
        {
            Passed = ok, Measured = v, ExpectedMin = Min, ExpectedMax = Max, Component = Component(),
            Severity = ok ? 0 : 1 + excess / width,
            Detail = $"{Subject.Describe()} = {Fmt(v)}, expected {expected}",
        };
    }
    string Component() => Subject is FactValue f ? (f.Component is int k ? $"{f.Class} #{k + 1}" : f.Class) : "";
    internal static string Fmt(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}

public sealed record CompareCondition(Value Left, string Op, Value Right, double Tolerance) : Condition
{
    public static readonly IReadOnlyList<string> Ops = ["<", "<=", "==", "!=", ">=", ">"];
    public override IEnumerable<string> Classes => Left.Classes.Concat(Right.Classes);
    public override RuleOutcome Evaluate(PartFacts part)
    {
        double a = Left.Evaluate(part), b = Right.Evaluate(part);
        bool ok = !double.IsNaN(a) && !double.IsNaN(b) && Op switch
        {
            "<" => a < b + Tolerance, "<=" => a <= b + Tolerance, ">" => a > b - Tolerance, ">=" => a >= b - Tolerance,
            "==" => Math.Abs(a - b) <= Tolerance, _ => Math.Abs(a - b) > Tolerance,
        };
        return new RuleOutcome { Passed = ok, Measured = a, Severity = ok ? 0 : 1,
            Detail = $"{Left.Describe()} = {RangeCondition.Fmt(a)} {Op} {Right.Describe()} = {RangeCondition.Fmt(b)}{(Tolerance > 0 ? $" (tolerance {RangeCondition.Fmt(Tolerance)})" : "")}: {(ok ? "holds" : "does not hold")}" };
    }
}

/// <summary>"above" / "leftOf": the centroid of A is above (left of) the centroid of B.</summary>
public sealed record RelationCondition(string Relation, string A, string B) : Condition
{
    public override IEnumerable<string> Classes => [A, B];
    public override RuleOutcome Evaluate(PartFacts part)
    {
        string axis = Relation == "above" ? "y" : "x";
        double a = new FactValue(axis, A, null).Evaluate(part), b = new FactValue(axis, B, null).Evaluate(part);
        bool ok = a < b;
        return new RuleOutcome { Passed = ok, Measured = a, ExpectedMax = double.IsNaN(b) ? null : b, Component = A, Severity = ok ? 0 : 1,
            Detail = double.IsNaN(a) || double.IsNaN(b) ? $"{A} {Relation} {B}: {(double.IsNaN(a) ? A : B)} is absent"
                : $"{A} {Relation} {B}: {axis} of {A} = {RangeCondition.Fmt(a)}, of {B} = {RangeCondition.Fmt(b)}" };
    }
}

/// <summary>Every component of A has its centroid inside the bounding box of some component of B.</summary>
public sealed record InsideCondition(string A, string B) : Condition
{
    public override IEnumerable<string> Classes => [A, B];
    public override RuleOutcome Evaluate(PartFacts part)
    {
        var inner = part.Class(A)?.Components ?? [];
        var outer = part.Class(B)?.Components ?? [];
        for (int i = 0; i < inner.Count; i++)
        {
            var c = inner[i];
            if (!outer.Any(o => c.X >= o.Box[0] && c.X <= o.Box[0] + o.Box[2] && c.Y >= o.Box[1] && c.Y <= o.Box[1] + o.Box[3]))
                return new RuleOutcome { Passed = false, Component = $"{A} #{i + 1}", Severity = 1,
                    Detail = $"{A} #{i + 1} at ({RangeCondition.Fmt(c.X)}, {RangeCondition.Fmt(c.Y)}) is not inside any {B}" };
        }
        return new RuleOutcome { Passed = true, Component = A, Detail = $"every {A} is inside a {B}" };
    }
}

/// <summary>Every component of A has its centroid inside a box given in image fractions [x0, y0, x1, y1].</summary>
public sealed record WithinCondition(string A, double[] Box) : Condition
{
    public override IEnumerable<string> Classes => [A];
    public override RuleOutcome Evaluate(PartFacts part)
    {
        var comps = part.Class(A)?.Components ?? [];
        for (int i = 0; i < comps.Count; i++)
        {
            var c = comps[i];
            if (c.X < Box[0] || c.X > Box[2] || c.Y < Box[1] || c.Y > Box[3])
            {
                double dx = Math.Max(0, Math.Max(Box[0] - c.X, c.X - Box[2])), dy = Math.Max(0, Math.Max(Box[1] - c.Y, c.Y - Box[3]));
                double size = Math.Max(1e-3, Math.Max(Box[2] - Box[0], Box[3] - Box[1]));
                return new RuleOutcome { Passed = false, Component = $"{A} #{i + 1}", Measured = c.X, Severity = 1 + Math.Max(dx, dy) / size,
                    Detail = $"{A} #{i + 1} centroid ({RangeCondition.Fmt(c.X)}, {RangeCondition.Fmt(c.Y)}) is outside the box [{string.Join(", ", Box.Select(RangeCondition.Fmt))}]" };
            }
        }
        return new RuleOutcome { Passed = true, Component = A, Detail = $"every {A} is inside the box" };
    }
}

public sealed record PresenceCondition(string A, bool Present) : Condition
{
    public override IEnumerable<string> Classes => [A];
    public override RuleOutcome Evaluate(PartFacts part)
    {
        int n = part.Class(A)?.Count ?? 0;
        bool ok = Present ? n > 0 : n == 0;
        return new RuleOutcome { Passed = ok, Measured = n, Component = A, Severity = ok ? 0 : 1,
            Detail = $"{A} is {(n > 0 ? $"present ({n})" : "absent")}; expected {(Present ? "present" : "absent")}" };
    }
}

/// <summary>All components of A have the same mean colour, within a tolerance per channel (e.g. two connectors).</summary>
public sealed record SameColourCondition(string A, double Tolerance) : Condition
{
    public override IEnumerable<string> Classes => [A];
    public override RuleOutcome Evaluate(PartFacts part)
    {
        var comps = part.Class(A)?.Components ?? [];
        // The largest difference of any two components in a channel is that channel's max - min: linear, not quadratic.
        double worst = 0;
        for (int ch = 0; ch < 3 && comps.Count > 1; ch++) worst = Math.Max(worst, comps.Max(c => c.Colour[ch]) - comps.Min(c => c.Colour[ch]));
        bool ok = worst <= Tolerance;
        return new RuleOutcome { Passed = ok, Measured = worst, ExpectedMax = Tolerance, Component = A, Severity = ok ? 0 : 1 + (worst - Tolerance) / Math.Max(Tolerance, 1e-3),
            Detail = $"largest colour difference between components of {A} = {RangeCondition.Fmt(worst)}, allowed {RangeCondition.Fmt(Tolerance)}" };
    }
}

public sealed record AllCondition(IReadOnlyList<Condition> Items) : Condition
{
    public override IEnumerable<string> Classes => Items.SelectMany(i => i.Classes);
    public override RuleOutcome Evaluate(PartFacts part)
    {
        foreach (var item in Items)
        {
            var r = item.Evaluate(part);
            if (!r.Passed) return r;
        }
        return new RuleOutcome { Passed = true, Detail = $"all {Items.Count} conditions hold" };
    }
}

public sealed record AnyCondition(IReadOnlyList<Condition> Items) : Condition
{
    public override IEnumerable<string> Classes => Items.SelectMany(i => i.Classes);
    public override RuleOutcome Evaluate(PartFacts part)
    {
        RuleOutcome? first = null;
        foreach (var item in Items)
        {
            var r = item.Evaluate(part);
            if (r.Passed) return r;
            first ??= r;
        }
        return (first ?? new RuleOutcome { Passed = false, Severity = 1 }) with { Detail = "none of the alternatives holds: " + first?.Detail };
    }
}

public sealed record NotCondition(Condition Inner) : Condition
{
    public override IEnumerable<string> Classes => Inner.Classes;
    public override RuleOutcome Evaluate(PartFacts part)
    {
        var r = Inner.Evaluate(part);
        return r with { Passed = !r.Passed, Severity = r.Passed ? 1 : 0, Detail = $"not ({r.Detail})" };
    }
}

/// <summary>Matching: if the condition holds, then the consequence must (else the alternative, when given).</summary>
public sealed record IfCondition(Condition When, Condition Then, Condition? Else) : Condition
{
    public override IEnumerable<string> Classes => When.Classes.Concat(Then.Classes).Concat(Else?.Classes ?? []);
    public override RuleOutcome Evaluate(PartFacts part)
    {
        var w = When.Evaluate(part);
        if (w.Passed) { var t = Then.Evaluate(part); return t with { Detail = $"since {w.Detail}: {t.Detail}" }; }
        if (Else is null) return new RuleOutcome { Passed = true, Detail = $"condition does not apply ({w.Detail})" };
        var e = Else.Evaluate(part);
        return e with { Detail = $"since not ({w.Detail}): {e.Detail}" };
    }
}
