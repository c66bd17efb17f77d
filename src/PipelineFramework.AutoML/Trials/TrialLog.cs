using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace PipelineFramework.AutoML.Trials;

/// <summary>Validation metrics of a trial, from training images only (held-out good + synthetic anomalies).</summary>
public sealed record ValidationMetrics(
    [property: JsonPropertyName("image_auroc")] double ImageAuroc,
    [property: JsonPropertyName("pixel_auroc")] double? PixelAuroc,
    [property: JsonPropertyName("aupro")] double? Aupro,
    [property: JsonPropertyName("objective")] double Objective,
    [property: JsonPropertyName("good_images")] int GoodImages,
    [property: JsonPropertyName("synthetic_images")] int SyntheticImages);

/// <summary>One line of trials.jsonl.</summary>
public sealed record TrialRecord
{
    public const string Ok = "ok", Failed = "failed", OverMemory = "over-memory";

    [JsonPropertyName("trial")] public required int Number { get; init; }
    [JsonPropertyName("status")] public required string Status { get; init; }
    [JsonPropertyName("reason")] public string? Reason { get; init; }
    /// <summary>SHA-256 of the trial pipeline's canonical JSON: a resumed search answers a repeated point with it.</summary>
    [JsonPropertyName("key")] public required string Key { get; init; }
    [JsonPropertyName("point")] public required double[] Point { get; init; }
    /// <summary>
    /// Share of the fitting images the trial was fitted on (successive halving's cheap rungs; 1 = all). Validation is on
    /// the same hold-out at every fraction; only full-fraction trials are candidates for the Pareto front and the pick.
    /// </summary>
    [JsonPropertyName("fraction")] public double Fraction { get; init; } = 1;
    /// <summary>Successive-halving rung (0 = the cheapest); 0 for tuners without rungs.</summary>
    [JsonPropertyName("rung")] public int Rung { get; init; }
    /// <summary>Fitting images the trial was fitted on (the hold-out not counted).</summary>
    [JsonPropertyName("fit_images")] public int FitImages { get; init; }
    [JsonPropertyName("pipeline")] public required JsonObject Pipeline { get; init; }
    [JsonPropertyName("validation")] public ValidationMetrics? Validation { get; init; }
    /// <summary>Milliseconds per image of each stage (backbone from the preparation, the rest from validation) and "total".</summary>
    [JsonPropertyName("ms_per_image")] public Dictionary<string, double> MsPerImage { get; init; } = [];
    [JsonPropertyName("model_bytes")] public long ModelBytes { get; init; }
    /// <summary>Highest process working set sampled while the trial ran (with parallel trials: of all of them together).</summary>
    [JsonPropertyName("memory_bytes")] public long MemoryBytes { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    /// <summary>Images the backbone ran on for this trial (0 when its prepared set was already in the cache).</summary>
    [JsonPropertyName("backbone_images")] public long BackboneImages { get; init; }
    /// <summary>Images the backbone ran on in this run of the search so far.</summary>
    [JsonPropertyName("backbone_images_total")] public long BackboneImagesTotal { get; init; }
    [JsonPropertyName("finished_utc")] public DateTime FinishedUtc { get; init; }
    /// <summary>
    /// Wall-clock time of the search (earlier runs included) when this record was logged: with parallel trials the
    /// trials' own seconds add up to more than the time spent, so a resumed search takes its time used from here.
    /// </summary>
    [JsonPropertyName("search_seconds")] public double? SearchSeconds { get; init; }
    /// <summary>
    /// Which training images the trial was validated on (<see cref="LogCompatibility.TrainingSetId"/>): a search resumed
    /// on other images refuses the log. Absent in logs written before it was recorded.
    /// </summary>
    [JsonPropertyName("training_set")] public string? TrainingSet { get; init; }

    /// <summary>
    /// Where a trial failed with a bug (a component's fault, or pf's): the component and the stack traces without the
    /// messages (<see cref="Core.Plugins.StackTraces"/>), for <see cref="TrialLog.ErrorsPath"/>. Not in trials.jsonl: a
    /// line stays one short record, and the reason there already says what failed.
    /// </summary>
    [JsonIgnore] public string? FaultTrace { get; init; }

    [JsonIgnore] public bool Succeeded => Status == Ok && Validation is not null;
    /// <summary>Fitted on all fitting images: a candidate for the Pareto front, the pick and the audit.</summary>
    [JsonIgnore] public bool FullFraction => Fraction >= 1;
    /// <summary>What the log answers a repeated proposal by: the pipeline and the fraction it was fitted on.</summary>
    [JsonIgnore] public string LookupKey => TrialKeys.Lookup(Key, Fraction);
    [JsonIgnore] public double TotalMs => MsPerImage.TryGetValue("total", out var t) ? t : double.NaN;

    /// <summary>Highest trial number a log may hold: far above any budget, and room to number the trials after it.</summary>
    public const int MaxNumber = 10_000_000;

    /// <summary>
    /// Whether the numbers could have been measured: AUROC and objective in [0, 1], times, sizes and counts not negative,
    /// unit coordinates in [0, 1]. A hand-edited line with an objective of 1e300 would otherwise win every search it is in.
    /// </summary>
    [JsonIgnore] public bool IsPlausible =>
        Number is >= 0 and <= MaxNumber && Status is Ok or Failed or OverMemory && !string.IsNullOrEmpty(Key)
        && Point.All(Unit) && Fraction is > 0 and <= 1 && Rung >= 0 && FitImages >= 0
        && (Validation is not { } v || (Unit(v.ImageAuroc) && (v.PixelAuroc is not { } px || Unit(px)) && (v.Aupro is not { } pro || Unit(pro))
            && Unit(v.Objective) && v.GoodImages >= 0 && v.SyntheticImages >= 0))
        && MsPerImage.Values.All(NotNegative) && ModelBytes >= 0 && MemoryBytes >= 0 && NotNegative(Seconds)
        && BackboneImages >= 0 && BackboneImagesTotal >= 0 && (SearchSeconds is not { } clock || NotNegative(clock));

    static bool Unit(double x) => x is >= 0 and <= 1;
    static bool NotNegative(double x) => x >= 0 && double.IsFinite(x);
}

public static class TrialKeys
{
    public static string Lookup(string pipelineKey, double fraction) =>
        fraction >= 1 ? pipelineKey : $"{pipelineKey}@{fraction.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>
/// trials.jsonl: one JSON object per finished trial, appended and flushed to disk line by line, never rewritten. A run
/// killed while writing leaves at most one torn last line, which reading ignores and the next append cuts off. Beside
/// it, trials.errors.log collects the stack traces of trials that failed with a bug (<see cref="TrialRecord.FaultTrace"/>),
/// for the author of the component; the search never reads it.
/// </summary>
public sealed class TrialLog(string path)
{
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    public string Path { get; } = path;
    /// <summary>trials.errors.log beside trials.jsonl.</summary>
    public string ErrorsPath { get; } = System.IO.Path.ChangeExtension(path, ".errors.log");

    public IReadOnlyList<TrialRecord> Read() => Read(out _);

    /// <param name="unreadableLines">
    /// Line numbers (from 1) of lines that are not trial records or hold numbers no trial measures
    /// (<see cref="TrialRecord.IsPlausible"/>), a torn last line excepted.
    /// </param>
    public IReadOnlyList<TrialRecord> Read(out IReadOnlyList<int> unreadableLines)
    {
        var unreadable = new List<int>();
        unreadableLines = unreadable;
        if (Directory.Exists(Path))
            throw new Abstractions.PipelineException($"'{Path}' is a folder, where the search keeps its trial log (a file); move the folder away or choose another --out.");
        if (!File.Exists(Path)) return [];
        var text = File.ReadAllText(Path);
        var lines = text.Split('\n');
        var records = new List<TrialRecord>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            bool tornLast = i == lines.Length - 1;   // a complete log ends in a newline, so its last piece is empty
            try
            {
                if (JsonSerializer.Deserialize<TrialRecord>(lines[i], Json) is { IsPlausible: true } record) { records.Add(record); continue; }
            }
            catch (JsonException) { }
            if (!tornLast) unreadable.Add(i + 1);   // a torn last line is a killed run's: that trial runs again, unremarked
        }
        return records;
    }

    public void Append(TrialRecord record)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
        using var stream = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        CutTornLine(stream);
        stream.Seek(0, SeekOrigin.End);
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(record, Json) + "\n");
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
        if (record.FaultTrace is { } trace)
        {
            // A help for the component's author, written after the record: a disk that cannot take it costs the trace,
            // never the search (the record, with its reason, is already on disk).
            try { File.AppendAllText(ErrorsPath, $"trial {record.Number}, finished {record.FinishedUtc:yyyy-MM-ddTHH:mm:ssZ}: {trace}\n\n"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>A file not ending in a newline ends in a torn line: drop it so the next record starts on its own line.</summary>
    static void CutTornLine(FileStream stream)
    {
        if (stream.Length == 0) return;
        stream.Seek(-1, SeekOrigin.End);
        if (stream.ReadByte() == '\n') return;
        long end = stream.Length - 1;
        while (end > 0)
        {
            stream.Seek(end - 1, SeekOrigin.Begin);
            if (stream.ReadByte() == '\n') break;
            end--;
        }
        stream.SetLength(end);
    }
}
