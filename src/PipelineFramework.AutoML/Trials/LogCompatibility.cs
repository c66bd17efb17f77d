using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.Core.Spec;

namespace PipelineFramework.AutoML.Trials;

/// <summary>
/// Whether the trials of a log can answer this search: an objective is comparable with another only when both were
/// measured on the same training images with the same validation (seed, hold-out, synthetic anomalies, shifted parts).
/// A log written for other images or another validation is refused, not mixed in: a search resumed into the wrong
/// folder would otherwise pick a pipeline by a number measured on other data. Changed objective weights are not a
/// reason to refuse: every record keeps the terms, so its objective is recomputed with this search's weights.
/// </summary>
public static class LogCompatibility
{
    /// <summary>The sections of a trial pipeline that make up its validation (the search file's $.validation and the base's seed).</summary>
    static readonly string[] CalibrationKeys = ["holdout", "holdoutGroups", "syntheticCount", "shiftedGoods"];

    /// <summary>What a key an older log did not write meant: the default of its day, which is today's.</summary>
    static JsonNode? DefaultOf(string key)
    {
        var defaults = new CalibrationSpec();
        return key switch
        {
            "holdout" => defaults.Holdout,
            "holdoutGroups" => JsonNamingPolicy.CamelCase.ConvertName(defaults.HoldoutGroups.ToString()),
            "syntheticCount" => defaults.SyntheticCount,
            "shiftedGoods" => defaults.ShiftedGoods,
            _ => null,
        };
    }

    /// <summary>
    /// SHA-256 (16 hex digits) of the training images' file names and bytes, in name order: the same images give the same
    /// id wherever the folder is, so a copied or moved data set still resumes.
    /// </summary>
    public static string TrainingSetId(IReadOnlyList<string> images)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in images.OrderBy(p => Path.GetFileName(p), StringComparer.Ordinal).ThenBy(p => p, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(path) + "\n"));
            hash.AppendData(SHA256.HashData(File.ReadAllBytes(path)));
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
    }

    /// <summary>
    /// The earlier trials, checked against this search and with their objectives in this search's weights. Throws a
    /// <see cref="PipelineException"/> naming the first difference when a trial was measured on other images or with
    /// another validation. Trials logged before the training-set id was recorded are taken on their validation alone.
    /// </summary>
    public static IReadOnlyList<TrialRecord> Check(IReadOnlyList<TrialRecord> earlier, string trainingSetId, JsonObject searchPipeline,
        ObjectiveWeights weights, string logPath, int imageCount)
    {
        foreach (var trial in earlier)
        {
            if (trial.TrainingSet is { } id && id != trainingSetId)
                throw new PipelineException($"{logPath}: trial {trial.Number} was run on other training images than these {imageCount} (training set {id}, here {trainingSetId}). " +
                    "A trial log answers only the search that wrote it: give another --out folder, or move the file away to start afresh.");
            if (FirstDifference(trial.Pipeline, searchPipeline) is { } difference)
                throw new PipelineException($"{logPath}: trial {trial.Number} was validated differently: {difference}. Objectives measured on another validation " +
                    "cannot be compared with this search's: give another --out folder, or move the file away to start afresh.");
        }
        return earlier.Select(t => t.Validation is { } v
            ? t with { Validation = v with { Objective = weights.Combine(v.ImageAuroc, v.PixelAuroc, v.Aupro) } }
            : t).ToList();
    }

    static string? FirstDifference(JsonObject logged, JsonObject search)
    {
        if (!JsonNode.DeepEquals(logged["seed"], search["seed"]))
            return $"$.base.seed is {Text(logged["seed"])} in the log, {Text(search["seed"])} in this search";
        var loggedCalibration = logged["calibration"] as JsonObject;
        var searchCalibration = search["calibration"] as JsonObject;
        foreach (var key in CalibrationKeys)
        {
            var before = loggedCalibration?[key] ?? DefaultOf(key);
            var now = searchCalibration?[key] ?? DefaultOf(key);
            if (!JsonNode.DeepEquals(before, now))
                return $"$.validation.{key} is {Text(before)} in the log, {Text(now)} in this search";
        }
        if (!JsonNode.DeepEquals(logged["synthesis"], search["synthesis"]))
            return $"$.validation.synthesis is {Text(logged["synthesis"])} in the log, {Text(search["synthesis"])} in this search";
        return null;
    }

    static string Text(JsonNode? node) => node?.ToJsonString() ?? "absent";
}
