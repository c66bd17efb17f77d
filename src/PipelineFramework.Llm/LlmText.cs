using System.Text.RegularExpressions;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Llm;

/// <summary>
/// Checks on text that crosses the line between a model and the host, shared by every caller of a model: text from a
/// model must be printable before it reaches a terminal, a report or a model file; text from outside that goes to a
/// model must not try to instruct it.
/// </summary>
public static partial class LlmText
{
    /// <summary>Text that tries to instruct a model, in a rule's text or anything else from outside.</summary>
    [GeneratedRegex(@"\b(ignore|disregard|forget|override)\b.{0,40}\b(instruction|prompt|rule|previous|above|earlier)|\byou are now\b|\bsystem prompt\b|\b(answer|respond|reply|say)\s*(with|:)|\bact as\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex InstructionPattern();

    /// <summary>
    /// The words in <paramref name="text"/> that try to instruct a model, or null. A phrase list is easy to get round
    /// (other words, other scripts), so it is a second line only: text that needs no model is not sent to one at all.
    /// </summary>
    public static string? Instruction(string text) => InstructionPattern().Match(text) is { Success: true } m ? m.Value : null;

    /// <summary>
    /// Refuses text from a model holding a control character other than line feed and tab: an escape sequence
    /// (<c>ESC[1A ESC[2K</c>) or a carriage return would move the cursor and overwrite the host's verdict line on a
    /// terminal. <paramref name="where"/> says which text; the message shows the character's code, not the text.
    /// </summary>
    public static void RefuseControlCharacters(string text, string where)
    {
        if (FirstControlCharacter(text) is { } c)
            throw new PipelineException($"{where} holds the control character U+{(int)c:X4} (terminal escapes are never printed)");
    }

    /// <summary>The first control character other than line feed and tab, or null.</summary>
    public static char? FirstControlCharacter(string text)
    {
        foreach (var c in text)
            if (char.IsControl(c) && c is not '\n' and not '\t') return c;
        return null;
    }
}
