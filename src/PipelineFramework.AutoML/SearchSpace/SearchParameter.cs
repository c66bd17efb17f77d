using System.Text.Json.Nodes;

namespace PipelineFramework.AutoML.SearchSpace;

/// <summary>
/// One searched value. Tuners see every parameter as a coordinate in [0, 1]; <see cref="Decode"/> turns the coordinate
/// into a JSON value: a choice index, or a number on a linear or log scale (rounded for integers).
/// A parameter with a <see cref="Parent"/> only matters when its parent choice picked <see cref="ParentChoice"/>
/// (an option of one alternative scorer).
/// </summary>
public sealed record SearchParameter
{
    /// <summary>Where the value goes, e.g. <c>$.scoring</c>, <c>$.scoring[scoring.patchcore].coresetRatio</c>, <c>$.map.sigma</c>.</summary>
    public required string Name { get; init; }
    /// <summary>The whole-value alternatives of a choice; empty for a range.</summary>
    public IReadOnlyList<JsonNode?> Choices { get; init; } = [];
    public double Min { get; init; }
    public double Max { get; init; }
    public bool Log { get; init; }
    public bool Integer { get; init; }
    /// <summary>Where the tuner starts: the base pipeline's value (or the option's default) in unit coordinates.</summary>
    public double Start { get; init; }
    public SearchParameter? Parent { get; init; }
    public int ParentChoice { get; init; }

    public bool IsChoice => Choices.Count > 0;

    /// <summary>A choice's index for a unit coordinate (equal-width bins).</summary>
    public int ChoiceIndex(double unit) => Math.Clamp((int)Math.Floor(Math.Clamp(unit, 0, 1) * Choices.Count), 0, Choices.Count - 1);

    public JsonNode? Decode(double unit)
    {
        if (IsChoice) return Choices[ChoiceIndex(unit)]?.DeepClone();
        double value = ToValue(unit);
        return Integer ? JsonValue.Create((long)Math.Round(value)) : JsonValue.Create(Math.Round(value, 6));
    }

    public double ToValue(double unit)
    {
        unit = Math.Clamp(unit, 0, 1);
        return Log ? Math.Exp(Math.Log(Min) + unit * (Math.Log(Max) - Math.Log(Min))) : Min + unit * (Max - Min);
    }

    public double ToUnit(double value)
    {
        if (Max <= Min) return 0.5;
        double unit = Log ? (Math.Log(value) - Math.Log(Min)) / (Math.Log(Max) - Math.Log(Min)) : (value - Min) / (Max - Min);
        return Math.Clamp(unit, 0, 1);
    }

    /// <summary>The middle of a choice's bin, so that the start point decodes to that choice.</summary>
    public double ChoiceUnit(int index) => (index + 0.5) / Choices.Count;

    public string Describe() => IsChoice ? $"choice of {Choices.Count}" : $"{(Integer ? "int" : "float")} {Min:G4}..{Max:G4}{(Log ? " log" : "")}";
}
