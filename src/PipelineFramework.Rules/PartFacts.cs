using System.Text.Json;
using System.Text.Json.Serialization;

namespace PipelineFramework.Rules;

/// <summary>
/// What was measured on one part: per component class, its connected components. Positions and sizes are fractions of
/// the image (x, y, width, height in [0, 1]; area a fraction of the image area), colours RGB in [0, 1], so rules do not
/// depend on the image resolution.
/// </summary>
public sealed record PartFacts
{
    public required string Id { get; init; }
    public required IReadOnlyList<ClassFacts> Classes { get; init; }

    public ClassFacts? Class(string name) => Classes.FirstOrDefault(c => c.Name == name);

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = false };

    public static string ToJson(IReadOnlyList<PartFacts> parts) => JsonSerializer.Serialize(parts, Json);

    public static IReadOnlyList<PartFacts> FromJson(string json) =>
        JsonSerializer.Deserialize<List<PartFacts>>(json, Json) ?? throw new RuleException("the stored facts are empty");
}

/// <summary>One component class (learned from good parts, e.g. "red") on one part: its components, largest first.</summary>
public sealed record ClassFacts
{
    public required string Name { get; init; }
    public required IReadOnlyList<ComponentFacts> Components { get; init; }

    [JsonIgnore] public int Count => Components.Count;
    [JsonIgnore] public double Area => Components.Sum(c => c.Area);
}

/// <summary>One connected component: area, centroid, bounding box and mean colour.</summary>
public sealed record ComponentFacts
{
    public required double Area { get; init; }
    public required double X { get; init; }
    public required double Y { get; init; }
    /// <summary>Bounding box: left, top, width, height.</summary>
    public required double[] Box { get; init; }
    public required double[] Colour { get; init; }
}

/// <summary>A rule that cannot be read or run; the message names the rule, the JSON path and the problem.</summary>
public sealed class RuleException(string message) : Exception(message);
