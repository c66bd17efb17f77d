using System.Text;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Cli;

/// <summary>
/// The one place where pf's output reaches the terminal: <see cref="Install"/> puts an escaping writer in front of
/// stdout and stderr, so whatever text from a file a message or a table carries (see <see cref="TerminalText"/>) is shown
/// with its control characters as \uXXXX, whichever command prints it. pf's own progress line, which moves the cursor
/// on purpose with a carriage return, writes to <see cref="RawError"/>.
/// </summary>
static class TerminalOutput
{
    public static TextWriter RawError { get; private set; } = Console.Error;

    public static void Install()
    {
        RawError = Console.Error;
        Console.SetOut(TextWriter.Synchronized(new EscapingWriter(Console.Out)));
        Console.SetError(TextWriter.Synchronized(new EscapingWriter(Console.Error)));
    }

    sealed class EscapingWriter(TextWriter inner) : TextWriter
    {
        public override Encoding Encoding => inner.Encoding;
        public override void Write(char value) => inner.Write(TerminalText.Escape(value.ToString(), keepLineBreaks: true));
        public override void Write(string? value) => inner.Write(value is null ? null : TerminalText.Escape(value, keepLineBreaks: true));
        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));
        public override void Write(ReadOnlySpan<char> buffer) => Write(new string(buffer));
        public override void WriteLine(string? value) => inner.WriteLine(value is null ? null : TerminalText.Escape(value, keepLineBreaks: true));
        public override void WriteLine() => inner.WriteLine();
        public override void Flush() => inner.Flush();
    }
}
