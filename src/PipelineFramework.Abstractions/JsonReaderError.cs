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
        return e.Message.Split([" Path:", " LineNumber:"], StringSplitOptions.None)[0].Trim();
    }

    /// <summary>Whether the document nests deeper than the reader's depth limit (the caller says what its documents need).</summary>
    public static bool IsTooDeep(JsonException e) => e.Message.Contains("maximum configured depth", StringComparison.Ordinal);
}
