using PipelineFramework.AutoML.SearchSpace;

namespace PipelineFramework.AutoML.Tuners;

/// <summary>
/// Successive halving on training-set size (Jamieson and Talwalkar 2016; the bracket of Hyperband, Li et al. 2017)
/// over the points of another tuner: a bracket fits eta^(R−1) points on the smallest fraction of the fitting images,
/// promotes the best 1/eta of them to the next fraction, and so on until the survivors are fitted on all images; then
/// the next bracket starts. Every rung is validated on the same hold-out and synthetic anomalies, so rungs compare.
/// <para>
/// The R rung fractions run geometrically from <see cref="HalvingOptions.MinFraction"/> to 1, with R = 1 +
/// ⌈log_eta(1 / minFraction)⌉ (0.25 and eta 3: 1/4, 1/2, all). The inner tuner proposes the cheapest rung's points and
/// is told their cheap objective. Deterministic for the inner tuner's seed and the results, as every tuner here.
/// </para>
/// </summary>
public sealed class HalvingTuner : ITuner
{
    readonly ITuner _inner;
    readonly int _eta;

    /// <summary>Proposed trials of the rung in progress, in proposal order; a null objective = failed or not told yet.</summary>
    readonly List<Entry> _rung = [];
    /// <summary>Points promoted to the rung in progress and not yet proposed.</summary>
    readonly Queue<double[]> _promoted = new();
    int _level;
    bool _innerExhausted;

    sealed class Entry(double[] point)
    {
        public double[] Point { get; } = point;
        public bool Told { get; set; }
        public double? Objective { get; set; }
    }

    public HalvingTuner(HalvingOptions options, ITuner inner)
    {
        _inner = inner;
        _eta = options.Eta;
        Fractions = RungFractions(options.MinFraction, options.Eta);
        FirstRungSize = (int)Math.Pow(_eta, Fractions.Count - 1);
    }

    /// <summary>The share of the fitting images of each rung, cheapest first, the last 1.</summary>
    public IReadOnlyList<double> Fractions { get; }

    /// <summary>Points a bracket starts with: eta^(R−1), so that one survives to the full fraction.</summary>
    public int FirstRungSize { get; }

    public static IReadOnlyList<double> RungFractions(double minFraction, int eta)
    {
        if (minFraction >= 1) return [1.0];
        int rungs = 1 + (int)Math.Ceiling(Math.Log(1 / minFraction) / Math.Log(eta) - 1e-9);
        if (rungs < 2) rungs = 2;
        // Rounded so that the same fraction is written (and looked up in the log) on every run.
        return Enumerable.Range(0, rungs).Select(i => i == rungs - 1 ? 1.0 : Math.Round(Math.Pow(minFraction, 1 - i / (double)(rungs - 1)), 6)).ToArray();
    }

    bool RungFull => _level == 0 ? _innerExhausted || _rung.Count >= FirstRungSize : _promoted.Count == 0;

    public bool ProposesAhead => !RungFull && (_level > 0 || _inner.ProposesAhead || _rung.All(e => e.Told));

    public double[]? Propose() => ProposeTrial()?.Point;

    public Proposal? ProposeTrial()
    {
        if (RungFull && _rung.All(e => e.Told)) Advance();
        if (_level == 0 && !RungFull)
        {
            if (_inner.Propose() is { } point) return Add(point);
            _innerExhausted = true;
            if (_rung.Count == 0) return null;
        }
        if (_level > 0 && _promoted.TryDequeue(out var promoted)) return Add(promoted);
        if (_rung.All(e => e.Told))
        {
            Advance();
            return _level == 0 && _innerExhausted ? null : ProposeTrial();
        }
        throw new InvalidOperationException("The halving rung is proposed in full; tell its results before asking for more (see ProposesAhead).");
    }

    Proposal Add(double[] point)
    {
        _rung.Add(new Entry(point));
        return new Proposal(point, _level, Fractions[_level]);
    }

    /// <summary>A finished rung: its best 1/eta (at least one; failed trials never) go up, or the next bracket starts.</summary>
    void Advance()
    {
        var ranked = _rung.Select((e, i) => (e, i)).Where(x => x.e.Objective is not null)
            .OrderByDescending(x => x.e.Objective!.Value).ThenBy(x => x.i).Select(x => x.e.Point).ToList();
        int keep = Math.Max(1, _rung.Count / _eta);
        _rung.Clear();
        if (_level + 1 < Fractions.Count && ranked.Count > 0)
        {
            _level++;
            foreach (var point in ranked.Take(keep)) _promoted.Enqueue(point);
        }
        else
        {
            _level = 0;
            _promoted.Clear();
        }
    }

    public void Tell(double[] point, double? objective)
    {
        var entry = _rung.FirstOrDefault(e => !e.Told && e.Point.SequenceEqual(point));
        if (entry is null) return;
        entry.Told = true;
        entry.Objective = objective;
        if (_level == 0) _inner.Tell(point, objective);
    }

    public void Tell(Proposal proposal, double? objective)
    {
        if (proposal.Rung == _level) Tell(proposal.Point, objective);
    }
}
