using System.Text;

namespace PipelineFramework.Abstractions;

/// <summary>
/// Text from files (a pipeline's name, a rule's description, an image's file name, a value quoted in an error) shown
/// on a terminal: control characters and the invisible bidirectional overrides are written as <c>\uXXXX</c>, so an
/// escape sequence in a file cannot clear the screen, move the cursor over a verdict, ring the bell or reverse the text
/// around it. The characters stay visible, so the user can find and fix them.
/// </summary>
public static class TerminalText
{
    /// <summary>
    /// <paramref name="text"/> with every control character (C0, DEL, C1) and bidirectional formatting character
    /// escaped. Line feed and tab are kept when <paramref name="keepLineBreaks"/> is true (multi-line output); a value
    /// inside a one-line row passes false, so a file name holding a line feed cannot split the row.
    /// </summary>
    public static string Escape(string text, bool keepLineBreaks = false)
    {
        int first = 0;
        while (first < text.Length && !NeedsEscape(text[first], keepLineBreaks)) first++;
        if (first == text.Length) return text;
        var escaped = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (NeedsEscape(c, keepLineBreaks)) escaped.Append("\\u").Append(((int)c).ToString("X4"));
            else escaped.Append(c);
        }
        return escaped.ToString();
    }

    static bool NeedsEscape(char c, bool keepLineBreaks)
    {
        if (keepLineBreaks && c is '\n' or '\t') return false;
        // U+061C, U+200E/F, U+202A..U+202E and U+2066..U+2069 reorder the text around them without being seen.
        return char.IsControl(c) || c is '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');
    }
}
