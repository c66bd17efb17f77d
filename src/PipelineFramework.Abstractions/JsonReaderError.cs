using System.Text.Json;

namespace PipelineFramework.Abstractions;

/// <summary>
/// What System.Text.Json's reader says about a document, in a user's words, for every reader of a user's JSON
/// (pipelines, search files, rules, model manifests): its message ends in its own "Path: ... | LineNumber: ..." tail
/// (zero-based, repeating what <see cref="Where"/> says), and a null in a record gets advice meant for the programmer of
/// the type.
/// </summary>
public static class JsonReaderError
{
    /// <summary>" at line L, position P" (counted from 1), or "" when the reader gave no position.</summary>
    public static string Where(JsonException e) =>
        e.LineNumber is { } line ? $" at line {line + 1}, position {e.BytePositionInLine + 1}" : "";

    /// <summary>The reader's reason without its position tail, trimmed of white space.</summary>
    public static string Reason(JsonException e)
    {
        if (e.Message.Contains("nullability", StringComparison.Ordinal)) return "null where a value is required";
        var reason = e.Message.Split([" Path:", " LineNumber:"], StringSplitOptions.None)[0].Trim();
        // Two messages name the .NET type being filled (ours, meaningless to the file's user): say what the JSON lacks.
        var missing = MissingRequired.Match(reason);
        if (missing.Success) return $"lacks required properties: {missing.Groups[1].Value}";
        var converted = NotConverted.Match(reason);
        if (converted.Success) return $"is not {Expected(converted.Groups[1].Value)}";
        return reason;
    }

    static readonly System.Text.RegularExpressions.Regex MissingRequired =
        new(@"^JSON deserialization for type '[^']*' was missing required properties including: (.*?)\.?$");
    static readonly System.Text.RegularExpressions.Regex NotConverted = new(@"^The JSON value could not be converted to (\S+?)\.?$");

    static string Expected(string typeName) => typeName switch
    {
        "System.String" => "text",
        "System.Boolean" => "true or false",
        "System.Byte" or "System.Int16" or "System.Int32" or "System.Int64" or "System.UInt32" or "System.UInt64" => "a whole number",
        "System.Single" or "System.Double" or "System.Decimal" => "a number",
        _ when typeName.EndsWith("[]", StringComparison.Ordinal) || typeName.StartsWith("System.Collections.Generic.List", StringComparison.Ordinal)
            || typeName.StartsWith("System.Collections.Generic.IReadOnlyList", StringComparison.Ordinal) => "a list",
        // The type of the property, or of the object holding it (System.Text.Json names either): no more can be said.
        _ => "the kind of value expected here (a number, text, list or object)",
    };

    /// <summary>Whether the document nests deeper than the reader's depth limit (the caller says what its documents need).</summary>
    public static bool IsTooDeep(JsonException e) => e.Message.Contains("maximum configured depth", StringComparison.Ordinal);
}
