using System.Text;
using System.Text.Json;

namespace PipelineFramework.Abstractions;

/// <summary>
/// Finds a key given twice in one JSON object, with its JSON path. Every reader of a user's JSON (pipelines, rules)
/// refuses such a document: silently taking the first or the last value would run something other than what the user
/// reads in the file, and System.Text.Json's own check names neither the path nor the line.
/// </summary>
public static class JsonDuplicateKeys
{
    /// <summary>
    /// The path of the first key given twice (<c>$.backbone.layers</c>, <c>$.rules[0].id</c>), or null when there is
    /// none. Comments and trailing commas are allowed, as in the readers; malformed JSON throws <see cref="JsonException"/>,
    /// and so does a string escape of half a UTF-16 pair (<c>"\ud800"</c>): System.Text.Json takes it while reading the
    /// document and throws an InvalidOperationException only when the string is read, deep in the caller's code.
    /// </summary>
    public static string? FirstDuplicate(string json, int maxDepth = 64)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(bytes,
            new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = maxDepth });
        // One frame per open object or array: the keys seen so far (objects) or the index of the next item (arrays).
        var frames = new Stack<(HashSet<string>? Keys, string Path, int Index)>();
        string pendingPath = "$";
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    var (keys, path, _) = frames.Peek();
                    var key = ReadString(ref reader, bytes);
                    pendingPath = $"{path}.{key}";
                    if (!keys!.Add(key)) return pendingPath;
                    continue;
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    var itemPath = NextValuePath(frames, pendingPath);
                    frames.Push((reader.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null, itemPath, 0));
                    continue;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    frames.Pop();
                    continue;
                default:
                    NextValuePath(frames, pendingPath);
                    if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped) ReadString(ref reader, bytes);
                    continue;
            }
        }
        return null;
    }

    static string ReadString(ref Utf8JsonReader reader, byte[] bytes)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            int start = (int)reader.TokenStartIndex;
            int lineStart = Array.LastIndexOf(bytes, (byte)'\n', Math.Max(0, start - 1)) + 1;
            int line = bytes.AsSpan(0, lineStart).Count((byte)'\n');
            throw new JsonException("a string holds half of a UTF-16 surrogate pair (an escape such as \\ud800 without its partner); " +
                "write the character itself or both halves of the pair", null, line, start - lineStart);
        }
    }

    /// <summary>The path of the value starting now: an array's next item, or the property just named.</summary>
    static string NextValuePath(Stack<(HashSet<string>? Keys, string Path, int Index)> frames, string propertyPath)
    {
        if (frames.Count == 0 || frames.Peek().Keys is not null) return propertyPath;
        var array = frames.Pop();
        frames.Push(array with { Index = array.Index + 1 });
        return $"{array.Path}[{array.Index}]";
    }
}
