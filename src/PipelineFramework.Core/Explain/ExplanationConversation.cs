using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;
using SkiaSharp;

namespace PipelineFramework.Core.Explain;

/// <summary>
/// An explanation of one part and the follow-up questions about it (<c>model.Converse(result)</c>). Every answer is
/// guarded here, in one place, whichever explainer wrote it: an explainer that throws, returns another verdict than the
/// host's, or answers nothing is replaced by the offline explanation of the same facts, with a note saying why. Only the
/// caller's own cancellation ends a turn without an answer.
/// </summary>
public sealed class ExplanationConversation
{
    /// <summary>Longest follow-up question accepted (characters).</summary>
    public const int MaxQuestionLength = 2000;

    readonly IExplainer _explainer;
    readonly HostServices _services;
    readonly List<ExplanationTurn> _turns = [];

    public ExplanationConversation(IExplainer explainer, InspectionFacts facts, HostServices services)
    {
        _explainer = explainer;
        Facts = facts;
        _services = services;
    }

    public InspectionFacts Facts { get; }

    /// <summary>The explainer's component type (<c>explain.llm</c>), to name it in a note when it fails; null: unnamed.</summary>
    public string? ExplainerType { get; init; }

    /// <summary>
    /// What the host knows about the part beyond the facts and adds to every answer as a note, whichever explainer wrote
    /// it (an image unlike the fitted ones: <see cref="Engine.InspectionResult.InputWarning"/>).
    /// </summary>
    public IReadOnlyList<string> HostNotes { get; init; } = [];

    /// <summary>The turns so far; the first one's question is empty.</summary>
    public IReadOnlyList<ExplanationTurn> Turns => _turns;

    /// <summary>The explanation (asked once; later calls return the same one).</summary>
    public async Task<Explanation> ExplainAsync(CancellationToken cancellation = default)
    {
        if (_turns.Count > 0) return _turns[0].Answer;
        var answer = WithHostNotes(await Guarded(() => _explainer.ExplainAsync(Facts, _services, cancellation), "", cancellation).ConfigureAwait(false));
        _turns.Add(new ExplanationTurn("", answer));
        return answer;
    }

    /// <summary>A follow-up question about the same part, with the same facts, tools and guards.</summary>
    public async Task<Explanation> AskAsync(string question, CancellationToken cancellation = default)
    {
        if (string.IsNullOrWhiteSpace(question)) throw new PipelineException("The question is empty; ask something about the part, e.g. \"where is the defect?\".");
        if (question.Length > MaxQuestionLength) throw new PipelineException($"The question is {question.Length} characters long; at most {MaxQuestionLength} are accepted.");
        await ExplainAsync(cancellation).ConfigureAwait(false);
        var history = _turns.ToList();
        var answer = WithHostNotes(await Guarded(() => _explainer.AskAsync(Facts, history, question, _services, cancellation), question, cancellation).ConfigureAwait(false));
        _turns.Add(new ExplanationTurn(question, answer));
        return answer;
    }

    Explanation WithHostNotes(Explanation answer) => HostNotes.Count == 0 ? answer : answer with { Notes = [.. answer.Notes, .. HostNotes] };

    async Task<Explanation> Guarded(Func<Task<Explanation>> ask, string question, CancellationToken cancellation)
    {
        string note;
        string? stackTrace = null;
        try
        {
            var answer = await ask().ConfigureAwait(false);
            var verdict = OfflineExplainer.Verdict(Facts);
            if (answer is null) note = "the explainer gave no answer";
            else if (answer.Verdict != verdict) note = $"the explainer's verdict '{answer.Verdict}' is not the host's '{verdict}'; the verdict is the host's";
            else return answer;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw;
        }
        catch (PipelineException e)
        {
            note = e.Message;
        }
        catch (Exception e)
        {
            // Only the type: messages of HTTP and SDK errors can carry endpoint URLs, which never go into a note or the
            // log. The stack trace (code locations only) goes to the log, for a report to the explainer's author.
            note = $"the explainer{(ExplainerType is null ? "" : $" {ExplainerType}")} failed ({e.GetType().Name})";
            stackTrace = $"{e.GetType().FullName} in the explainer{(ExplainerType is null ? "" : $" {ExplainerType}")}:{Environment.NewLine}{Plugins.StackTraces.WithoutMessages(e)}";
        }
        note = (question.Length > 0 ? "The question could not be answered by the explainer: " : "The explainer's answer was not used: ") + note.TrimEnd('.', ' ') +
            ". This is the offline explanation of the same facts.";
        _services.Log.Warning(note);
        if (stackTrace is not null) _services.Log.Warning(stackTrace);
        var offline = OfflineExplainer.Explain(Facts);
        return offline with { Notes = [.. offline.Notes, note] };
    }

    /// <summary>
    /// A PNG crop of an image file around a box of its pixels, with a margin of a quarter of the box on each side (the
    /// surroundings show what the defect interrupts).
    /// </summary>
    public static byte[] CropPng(string imagePath, PixelBox box)
    {
        var image = ImageLoader.LoadRgb(imagePath);
        int marginX = Math.Max(4, box.Width / 4), marginY = Math.Max(4, box.Height / 4);
        int x0 = Math.Clamp(box.X - marginX, 0, image.Width - 1), y0 = Math.Clamp(box.Y - marginY, 0, image.Height - 1);
        int x1 = Math.Clamp(box.X + box.Width + marginX, x0 + 1, image.Width), y1 = Math.Clamp(box.Y + box.Height + marginY, y0 + 1, image.Height);
        using var bitmap = ImageLoader.ToBitmap(image);
        using var crop = new SKBitmap();
        if (!bitmap.ExtractSubset(crop, new SKRectI(x0, y0, x1, y1)))
            throw new PipelineException($"Cannot crop x {x0}-{x1}, y {y0}-{y1} from an image of {image.Width} x {image.Height} pixels.");
        using var encoded = crop.Encode(SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }
}
