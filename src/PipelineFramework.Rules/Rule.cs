namespace PipelineFramework.Rules;

/// <summary>LogiCode's four kinds of rule.</summary>
public enum RuleKind { Quantity, Size, Position, Matching }

/// <summary>Who wrote a rule: learned from good parts, proposed by an LLM, or written by hand.</summary>
public enum RuleSource { Learned, Llm, Hand }

/// <summary>A parsed rule: an id, its kind and source, a readable description, the condition, and its JSON text.</summary>
public sealed record Rule(string Id, RuleKind Kind, RuleSource Source, string Description, Condition Check, string Json);

/// <summary>
/// The result of one rule on one part. <see cref="Severity"/> is 0 for a pass and, for a failure, how far outside the
/// expected range the measured value is, relative to the range (at least 1 for any failure).
/// </summary>
public sealed record RuleOutcome
{
    public required bool Passed { get; init; }
    public double? Measured { get; init; }
    public double? ExpectedMin { get; init; }
    public double? ExpectedMax { get; init; }
    /// <summary>The class or component concerned, e.g. "red #2"; empty for the whole part.</summary>
    public string Component { get; init; } = "";
    public string Detail { get; init; } = "";
    public double Severity { get; init; }
}
