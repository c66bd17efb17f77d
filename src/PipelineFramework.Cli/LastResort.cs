using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Cli;

/// <summary>The exit codes of <c>pf</c> (docs/reliability.md lists them for scripts).</summary>
static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The user's input: a bad option, pipeline, path or image (a <see cref="PipelineException"/> or a parse error).</summary>
    public const int InputError = 1;
    /// <summary>
    /// Anything else: a bug in pf or a plugin (the line says which component, and whom to tell), or the machine failing
    /// (disk full); details go to a log file.
    /// </summary>
    public const int InternalError = 2;
    /// <summary>Ctrl+C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}

/// <summary>
/// What the user sees when something fails: one line on stderr, never a stack trace. An unexpected exception's details
/// (types and stack traces without messages, command line, versions) go to a log file whose path the line names.
/// </summary>
static class LastResort
{
    public static int Report(Exception exception, string[] args)
    {
        ConsoleProgress.EndOpenLine();
        var unwrapped = Unwrapped(exception);
        switch (unwrapped)
        {
            case PipelineException e:
                // One line: a file name with a line break, quoted in the message, must not split it.
                Console.Error.WriteLine($"error: {TerminalText.Escape(e.Message)}");
                return ExitCodes.InputError;
            case OperationCanceledException:
                Console.Error.WriteLine("cancelled; nothing was written for the unfinished step");
                return ExitCodes.Cancelled;
            default:
                var (log, logProblem) = WriteLog(exception, args);
                if (unwrapped is ComponentFaultException fault)
                {
                    // Whose bug it is; the log keeps the whole exception, the component's own stack trace inside.
                    Console.Error.WriteLine($"error: {TerminalText.Escape(OneLine(fault.Message))}. "
                        + TerminalText.Escape(fault.Advice(log) + (log is null ? $" (no log written: {logProblem})" : "")));
                    return ExitCodes.InternalError;
                }
                var file = exception is FileNotFoundException { FileName: { } name } ? $" (file: {name})" : "";
                Console.Error.WriteLine($"error: unexpected {exception.GetType().Name}: {OneLine(exception.Message)}{file}. " +
                    (log is not null
                        ? $"If the message names a file, check it and retry; otherwise please report this bug with the log {log}"
                        : $"Please report this bug with the command you ran (no log written: {logProblem})"));
                return ExitCodes.InternalError;
        }
    }

    /// <summary>
    /// A Parallel.For (or a task) wraps what its workers throw in an AggregateException, one copy per worker that hit
    /// the same problem. When every inner exception is the user's problem (a PipelineException), a named component's
    /// fault or a cancellation, the user sees the first of them as if the loop had not been there (a fault before the
    /// input's problem: it is the one to report); anything else inside keeps it a bug report.
    /// </summary>
    static Exception Unwrapped(Exception exception)
    {
        if (exception is not AggregateException aggregate) return exception;
        var inner = aggregate.Flatten().InnerExceptions;
        if (inner.Count == 0 || !inner.All(e => e is PipelineException or ComponentFaultException or OperationCanceledException)) return exception;
        return inner.FirstOrDefault(e => e is ComponentFaultException) ?? inner.FirstOrDefault(e => e is PipelineException) ?? inner[0];
    }

    /// <summary>
    /// $XDG_STATE_HOME/pipelineframework/logs (default ~/.local/state/pipelineframework/logs; %LOCALAPPDATA% on
    /// Windows), falling back to the temp folder when that cannot be written.
    /// </summary>
    public static IEnumerable<string> LogFolders()
    {
        if (OperatingSystem.IsWindows())
        {
            yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "PipelineFramework", "logs");
        }
        else
        {
            var state = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
            // The XDG spec says a relative value is invalid and must be ignored.
            if (string.IsNullOrEmpty(state) || !Path.IsPathRooted(state))
                state = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
            yield return Path.Combine(state, "pipelineframework", "logs");
        }
        yield return Path.Combine(Path.GetTempPath(), "pipelineframework-logs");
    }

    static (string? Path, string? Problem) WriteLog(Exception exception, string[] args)
    {
        var text = new StringBuilder()
            .AppendLine($"time:      {DateTimeOffset.Now:O}")
            .AppendLine($"command:   pf {string.Join(' ', args.Select(Quote))}")
            .AppendLine($"folder:    {Environment.CurrentDirectory}")
            .AppendLine($"pf:        {Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"}")
            .AppendLine($"runtime:   {RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})")
            .AppendLine()
            // Types and stack traces, not messages: a log is sent to others with a bug report, and a message can carry
            // an endpoint URL or a key (an HTTP client's, a plugin's). The terminal line has the message.
            .AppendLine(StackTraces.WithoutMessages(exception))
            .ToString();
        var name = $"pf-{DateTime.Now:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log";
        string? problem = null;
        foreach (var folder in LogFolders())
        {
            try
            {
                Directory.CreateDirectory(folder);
                var path = Path.Combine(folder, name);
                File.WriteAllText(path, text);
                return (path, null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { problem = e.Message; }
        }
        return (null, problem);
    }

    static string Quote(string arg) => arg.Length > 0 && !arg.Any(char.IsWhiteSpace) && !arg.Contains('"') ? arg : $"\"{arg.Replace("\"", "\\\"")}\"";

    static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.');
}

/// <summary>
/// Ctrl+C and SIGTERM become a cancellation the work checks between steps, so atomic writes unwind and leave no
/// temporary behind. A second Ctrl+C stops at once, after deleting the temporaries being written.
/// </summary>
sealed class Interruption : IDisposable
{
    readonly CancellationTokenSource _source = new();
    readonly PosixSignalRegistration? _terminate;

    public CancellationToken Token => _source.Token;

    public Interruption()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        if (!OperatingSystem.IsWindows())
            _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; _source.Cancel(); });
    }

    void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (!_source.IsCancellationRequested)
        {
            e.Cancel = true;
            ConsoleProgress.EndOpenLine();
            Console.Error.WriteLine("cancelling at the next step (Ctrl+C again to stop at once)");
            _source.Cancel();
            return;
        }
        Core.AtomicFile.DeleteTempsInFlight();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _terminate?.Dispose();
        _source.Dispose();
    }
}
