using System.Globalization;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;

namespace PipelineFramework.AutoML.Selection;

/// <summary>One threshold policy's cross-fitted result on the validation.</summary>
public sealed record ThresholdCandidate(JsonObject Threshold, double ExpectedError, double GoodPassRate, double SyntheticRejectRate);

/// <summary>The chosen pipeline's threshold policy, picked after the search, and how every alternative did.</summary>
public sealed record ThresholdChoice(JsonObject Threshold, IReadOnlyList<ThresholdCandidate> Candidates)
{
    /// <summary>One line for best.json's description and the report.</summary>
    public string Describe() =>
        $"threshold {Threshold["type"]} chosen after the search by its cross-fitted expected error on the validation at a defect rate of " +
        $"{ThresholdSelection.DefectRate.ToString("0.##", CultureInfo.InvariantCulture)} (" +
        string.Join("; ", Candidates.Select(c => $"{c.Threshold["type"]} {c.ExpectedError.ToString("0.000", CultureInfo.InvariantCulture)}: " +
            $"{c.GoodPassRate.ToString("0.000", CultureInfo.InvariantCulture)} of good parts passed, {c.SyntheticRejectRate.ToString("0.000", CultureInfo.InvariantCulture)} of synthetic anomalies rejected")) + ")";
}

/// <summary>
/// The threshold policy is an operating point, not an accuracy the objective can see: the objective is made of AUROC
/// and AUPRO, which no threshold changes, so among trials that differ only in their policy the search's pick is chance
/// (run K chose synthetic-F1 for KolektorSDD, which rejected 63 % of the good test parts; the 0.99 quantile 1.9 %).
/// So after the search every threshold alternative of the search file is decided on half of the chosen pipeline's
/// validation scores and judged on the other half, both ways round (the threshold is decided on the same scores at fit
/// time, so judging it there would favour whichever policy optimises the judge). The judge is the expected share of
/// wrong verdicts on a line where <see cref="DefectRate"/> of the parts are defective: good parts rejected (held-out
/// images and their shifted copies) weighted by 1 − rate, synthetic anomalies passed weighted by the rate. A line sees
/// far more good parts than defects: judged with both weighing the same (balanced accuracy), KolektorSDD's pick was
/// synthetic-F1 again (AutoML README). Ties keep the earlier alternative.
/// </summary>
public static class ThresholdSelection
{
    /// <summary>Share of defective parts on the line the verdicts are judged for: defects are rare (a few in a hundred).</summary>
    public const double DefectRate = 0.05;

    /// <param name="alternatives">The candidates' threshold objects, in the search file's order.</param>
    /// <param name="heldOutGood">Image scores of the held-out good images (what the fit decides the threshold on).</param>
    /// <param name="shiftedGood">Image scores of their shifted copies (copy c of held-out image h at c * held-out count + h); judged only.</param>
    /// <param name="synthetic">Image scores of the synthetic anomalies.</param>
    public static ThresholdChoice Choose(IReadOnlyList<JsonObject> alternatives, IReadOnlyList<float> heldOutGood, IReadOnlyList<float> shiftedGood,
        IReadOnlyList<float> synthetic, IComponentCatalog catalog, int seed)
    {
        if (alternatives.Count == 0) throw new ArgumentException("No threshold alternative to choose from.", nameof(alternatives));
        if (heldOutGood.Count < 2 || synthetic.Count < 2)
            throw new PipelineException($"Choosing a threshold needs at least 2 held-out good images and 2 synthetic anomalies; the validation has {heldOutGood.Count} and {synthetic.Count}.");
        var random = SeededRandom.Create(seed, 0x5448524553484FUL); // "THRESHO"
        var goodOrder = Enumerable.Range(0, heldOutGood.Count).ToArray();
        var syntheticOrder = Enumerable.Range(0, synthetic.Count).ToArray();
        random.Shuffle(goodOrder.AsSpan());
        random.Shuffle(syntheticOrder.AsSpan());
        var goodHalves = new[] { goodOrder[..(goodOrder.Length / 2)], goodOrder[(goodOrder.Length / 2)..] };
        var syntheticHalves = new[] { syntheticOrder[..(syntheticOrder.Length / 2)], syntheticOrder[(syntheticOrder.Length / 2)..] };
        int copies = shiftedGood.Count / heldOutGood.Count;

        var candidates = new List<ThresholdCandidate>();
        foreach (var alternative in alternatives)
        {
            var (spec, policy) = Policy(alternative, catalog);
            double passed = 0, rejected = 0;
            for (int decideOn = 0; decideOn < 2; decideOn++)
            {
                int judgeOn = 1 - decideOn;
                var inputs = new ThresholdInputs
                {
                    GoodScores = goodHalves[decideOn].Select(i => heldOutGood[i]).ToList(),
                    SyntheticAnomalyScores = syntheticHalves[decideOn].Select(i => synthetic[i]).ToList(),
                };
                double threshold = catalog.Guard(spec, "deciding the threshold", () => policy.Decide(inputs)).Threshold;
                // A held-out image and its shifted copies stay on one side.
                var judgedGood = goodHalves[judgeOn].SelectMany(h => Enumerable.Range(0, copies + 1)
                    .Select(c => c == 0 ? heldOutGood[h] : shiftedGood[(c - 1) * heldOutGood.Count + h])).ToList();
                passed += judgedGood.Count(s => s <= threshold) / (double)judgedGood.Count;
                rejected += syntheticHalves[judgeOn].Count(i => synthetic[i] > threshold) / (double)syntheticHalves[judgeOn].Length;
            }
            double passRate = passed / 2, rejectRate = rejected / 2;
            candidates.Add(new ThresholdCandidate(alternative, (1 - DefectRate) * (1 - passRate) + DefectRate * (1 - rejectRate), passRate, rejectRate));
        }
        var best = candidates.MinBy(c => c.ExpectedError)!;
        return new ThresholdChoice(best.Threshold, candidates);
    }

    static (ComponentSpec Spec, IThresholdPolicy Policy) Policy(JsonObject threshold, IComponentCatalog catalog)
    {
        var type = threshold["type"]?.GetValue<string>() ?? throw new PipelineException("A threshold alternative has no \"type\".");
        var options = (JsonObject)threshold.DeepClone();
        options.Remove("type");
        var spec = new ComponentSpec(type, options, "$.threshold");
        return (spec, catalog.Create<IThresholdPolicy>(spec, ComponentKind.ThresholdPolicy));
    }
}
