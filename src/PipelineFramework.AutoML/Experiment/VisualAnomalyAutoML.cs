using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Selection;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Core.MLNet;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>What <see cref="VisualAnomalyAutoMLExperiment.Run"/> returns: the chosen pipeline as an estimator and the trial history.</summary>
public sealed record AutoMLExperimentResult(VisualAnomalyEstimator? BestEstimator, string? BestPipelineJson, TrialRecord? Best,
    IReadOnlyList<TrialRecord> Trials, IReadOnlyList<TrialRecord> ParetoFront);

/// <summary>
/// An AutoML experiment in the ML.NET style: <c>mlContext.VisualAnomaly().AutoML(search).SetBudget(...).SetTuner(...).Run(trainView)</c>.
/// The training view needs an image-path column of good images only; nothing else is read.
/// </summary>
public sealed class VisualAnomalyAutoMLExperiment
{
    readonly VisualAnomalyCatalog _catalog;
    readonly AutoMLSearch _search;
    string? _logPath;

    internal VisualAnomalyAutoMLExperiment(VisualAnomalyCatalog catalog, SearchSpec search)
    {
        _catalog = catalog;
        _search = new AutoMLSearch(search, catalog.Components);
    }

    public VisualAnomalyAutoMLExperiment SetBudget(TimeSpan time, int? trials = null, long? memoryBytes = null)
    {
        _search.Budget = _search.Budget with { Time = time, Trials = trials ?? _search.Budget.Trials, MemoryBytes = memoryBytes ?? _search.Budget.MemoryBytes };
        return this;
    }

    /// <summary>Trials run at once; null = auto (one per 4 cores and 2 GB of the memory share, at least 1).</summary>
    public VisualAnomalyAutoMLExperiment SetParallel(int? trials)
    {
        if (trials is < 1) throw new PipelineException($"Parallel trials: {trials} is not 1 or more.");
        _search.Budget = _search.Budget with { Parallel = trials };
        return this;
    }

    /// <summary>"cfo" (default), "random", "grid" or "halving" (successive halving on training-set size).</summary>
    public VisualAnomalyAutoMLExperiment SetTuner(string tuner)
    {
        if (!TunerFactory.Names.Contains(tuner)) throw new PipelineException($"Unknown tuner '{tuner}'; the tuners are {string.Join(", ", TunerFactory.Names)}.");
        _search.TunerName = tuner;
        return this;
    }

    /// <summary>"best", "fastest:&lt;ms&gt;" or "weight:&lt;w&gt;".</summary>
    public VisualAnomalyAutoMLExperiment SetPick(string pick)
    {
        _search.Pick = Pick.Parse(pick);
        return this;
    }

    /// <summary>Keeps the trial log in this file, so a later Run continues where this one stopped; without it the log is temporary.</summary>
    public VisualAnomalyAutoMLExperiment SetTrialLog(string path)
    {
        _logPath = path;
        return this;
    }

    public AutoMLExperimentResult Run(IDataView trainView, string imagePathColumn = VisualAnomalyColumns.DefaultImagePath, CancellationToken cancellation = default)
    {
        if (trainView.Schema.GetColumnOrNull(imagePathColumn) is null)
            throw new PipelineException($"The training view has no column '{imagePathColumn}'; name the column of image paths.");
        var paths = trainView.GetColumn<string>(imagePathColumn).ToList();
        string log = _logPath ?? Path.Combine(Path.GetTempPath(), $"pf-automl-{Guid.NewGuid():N}.jsonl");
        try
        {
            var result = _search.Run(paths, new TrialLog(log), null, cancellation);
            if (result.Chosen is not { } best) return new(null, null, null, result.Trials, result.Front);
            string json = AutoMLSearch.BestPipeline(best, "automl", result.Threshold).ToJsonString();
            return new(_catalog.PipelineFromJson(json, imagePathColumn), json, best, result.Trials, result.Front);
        }
        finally
        {
            if (_logPath is null) File.Delete(log);
        }
    }
}

public static class VisualAnomalyAutoMLExtensions
{
    /// <summary>An AutoML experiment over a search file (JSON path).</summary>
    public static VisualAnomalyAutoMLExperiment AutoML(this VisualAnomalyCatalog catalog, string searchFile) =>
        new(catalog, SearchSpec.ParseFile(searchFile, catalog.Components));

    /// <summary>An AutoML experiment over a parsed search.</summary>
    public static VisualAnomalyAutoMLExperiment AutoML(this VisualAnomalyCatalog catalog, SearchSpec search) => new(catalog, search);
}
