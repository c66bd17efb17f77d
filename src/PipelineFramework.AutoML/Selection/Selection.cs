using System.Globalization;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.Trials;

namespace PipelineFramework.AutoML.Selection;

/// <summary>
/// How the chosen trial is picked from the Pareto front: "best" (highest validation objective, then fastest),
/// "fastest:&lt;ms&gt;" (best among trials within that many ms/image; the fastest trial when none is), or "weight:&lt;w&gt;"
/// (highest objective − w · log10(ms/image): w = 0.01 trades one point of objective for a tenfold speed-up).
/// </summary>
public sealed record Pick(string Kind, double Value)
{
    public static readonly Pick Best = new("best", 0);

    public static Pick Parse(string text)
    {
        var parts = text.Split(':', 2);
        if (parts[0] == "best" && parts.Length == 1) return Best;
        if (parts is ["fastest" or "weight", var number] && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v))
            return v >= 0 ? new(parts[0], v)
                : throw new PipelineException($"--pick '{text}': {(parts[0] == "fastest" ? "the milliseconds per image" : "the weight")} must be 0 or more.");
        throw new PipelineException($"--pick '{text}' is not understood; write best, fastest:<ms per image> (e.g. fastest:50) or weight:<w> (e.g. weight:0.01).");
    }

    public override string ToString() => Kind == "best" ? "best" : $"{Kind}:{Value.ToString(CultureInfo.InvariantCulture)}";
}

public static class Pareto
{
    /// <summary>
    /// Successful full-fraction trials no other one beats on every objective: validation objective (higher), ms/image,
    /// model bytes and memory (lower). Sorted by objective, best first. Successive halving's cheap rungs (fitted on part
    /// of the images) are left out: their objective is not what the pipeline reaches fitted on all images.
    /// </summary>
    public static IReadOnlyList<TrialRecord> Front(IEnumerable<TrialRecord> trials)
    {
        var ok = trials.Where(t => t.Succeeded && t.FullFraction).ToList();
        return ok.Where(t => !ok.Any(o => Dominates(o, t))).OrderByDescending(t => t.Validation!.Objective).ThenBy(t => t.TotalMs).ToList();
    }

    static bool Dominates(TrialRecord a, TrialRecord b)
    {
        double[] x = [-a.Validation!.Objective, a.TotalMs, a.ModelBytes, a.MemoryBytes];
        double[] y = [-b.Validation!.Objective, b.TotalMs, b.ModelBytes, b.MemoryBytes];
        return x.Zip(y).All(p => p.First <= p.Second) && x.Zip(y).Any(p => p.First < p.Second);
    }

    public static TrialRecord? Choose(IReadOnlyList<TrialRecord> trials, Pick pick)
    {
        var front = Front(trials);
        if (front.Count == 0) return null;
        return pick.Kind switch
        {
            "fastest" => front.Where(t => t.TotalMs <= pick.Value).OrderByDescending(t => t.Validation!.Objective).ThenBy(t => t.TotalMs).FirstOrDefault()
                         ?? front.MinBy(t => t.TotalMs),
            "weight" => front.MaxBy(t => t.Validation!.Objective - pick.Value * Math.Log10(Math.Max(0.01, t.TotalMs))),
            _ => front[0],
        };
    }
}
