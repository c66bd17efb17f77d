using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.Compute;

namespace PipelineFramework.AutoML.Tuners;

/// <summary>
/// Proposes points of a search space (one unit coordinate per <see cref="SearchSpec.Parameters"/>) and learns from
/// their objective (higher is better; null = the trial failed). Deterministic for a seed and a history, so a resumed
/// search proposes the same points again and the trial log answers them without running them.
/// </summary>
public interface ITuner
{
    /// <summary>The next point, or null when the tuner has nothing left to propose (a finished grid).</summary>
    double[]? Propose();
    void Tell(double[] point, double? objective);

    /// <summary>
    /// Whether the next proposal may be asked for before the outstanding ones are told (parallel trials take several
    /// at once). A tuner that learns from every result (CFO's walk) says false; proposals that do not depend on
    /// results (random, grid, CFO's starts, a halving rung) say true.
    /// </summary>
    bool ProposesAhead => false;

    /// <summary>The next trial: a point and the share of fitting images to fit it on (1 unless the tuner has rungs).</summary>
    Proposal? ProposeTrial() => Propose() is { } point ? new Proposal(point) : null;

    void Tell(Proposal proposal, double? objective) => Tell(proposal.Point, objective);
}

/// <summary>A proposed trial: the point, its successive-halving rung and the share of fitting images it is fitted on.</summary>
public sealed record Proposal(double[] Point, int Rung = 0, double Fraction = 1);

public static class TunerFactory
{
    public static readonly string[] Names = ["cfo", "random", "grid", "halving"];

    public static ITuner Create(string name, SearchSpec space, int seed) => name switch
    {
        "cfo" => new CostFrugalTuner(space, seed),
        "random" => new RandomTuner(space, seed),
        "grid" => new GridTuner(space),
        "halving" => new HalvingTuner(space.Halving, new RandomTuner(space, seed)),
        _ => throw new PipelineException($"Unknown tuner '{name}'; the tuners are {string.Join(", ", Names)}."),
    };
}

/// <summary>The base pipeline first, then uniform points.</summary>
public sealed class RandomTuner(SearchSpec space, int seed) : ITuner
{
    readonly SeededRandom _random = SeededRandom.Create(seed, 0x52414E444F4DUL); // "RANDOM"
    bool _startGiven;

    public double[]? Propose()
    {
        if (!_startGiven) { _startGiven = true; return space.StartPoint; }
        return space.Parameters.Select(_ => _random.NextDouble()).ToArray();
    }

    public void Tell(double[] point, double? objective) { }

    public bool ProposesAhead => true;
}

/// <summary>
/// Every combination of the choices and of <see cref="Levels"/> values per range (ends and middle), the base
/// pipeline first. Options of alternatives that are not chosen repeat; the trial runner answers repeats from the log.
/// </summary>
public sealed class GridTuner : ITuner
{
    public const int Levels = 3;
    readonly SearchSpec _space;
    readonly int[] _sizes;
    long _next;
    readonly long _total;
    bool _startGiven;

    public GridTuner(SearchSpec space)
    {
        _space = space;
        _sizes = space.Parameters.Select(p => p.IsChoice ? p.Choices.Count : Levels).ToArray();
        _total = _sizes.Aggregate(1L, (a, b) => a > long.MaxValue / b ? long.MaxValue : a * b);
    }

    public double[]? Propose()
    {
        if (!_startGiven) { _startGiven = true; return _space.StartPoint; }
        if (_next >= _total) return null;
        long index = _next++;
        var point = new double[_sizes.Length];
        for (int i = 0; i < _sizes.Length; i++)
        {
            int level = (int)(index % _sizes[i]);
            index /= _sizes[i];
            point[i] = _space.Parameters[i].IsChoice ? _space.Parameters[i].ChoiceUnit(level) : level / (double)(Levels - 1);
        }
        return point;
    }

    public void Tell(double[] point, double? objective) { }

    public bool ProposesAhead => true;
}

/// <summary>
/// Cost-frugal optimisation (CFO; Wu, Wang, Huang, Zhu 2021, as FLAML's FLOW2 and ML.NET's CostFrugalTuner): a
/// randomised local search that moves only to better points. It starts with the base pipeline (a cheap, known-good
/// point) and <see cref="RandomStarts"/> − 1 Latin-hypercube points, so that the choices (input handling, scorer) are
/// spread before the walk starts from the best of them; then each step tries x + δu and x − δu for a random unit
/// direction u; after 2·d steps without improvement δ halves; below <see cref="MinStep"/> it restarts from a random
/// point with the initial step.
/// </summary>
public sealed class CostFrugalTuner : ITuner
{
    public const double InitialStep = 0.3, MinStep = 0.02;
    public const int RandomStarts = 6;
    readonly SearchSpec _space;
    readonly SeededRandom _random;
    double[] _incumbent;
    double? _incumbentValue;
    double _step = InitialStep;
    double[]? _direction;
    bool _triedNegative;
    int _noImprovement;
    int _starts;
    bool _walking;
    /// <summary>Proposed and not yet told (several only while the starts are proposed ahead).</summary>
    readonly List<double[]> _pending = [];

    readonly double[][] _latinStarts;

    public CostFrugalTuner(SearchSpec space, int seed)
    {
        _space = space;
        _random = SeededRandom.Create(seed, 0x43464FUL); // "CFO"
        _incumbent = space.StartPoint;
        _latinStarts = LatinHypercube(RandomStarts - 1);
    }

    /// <summary>
    /// n points with each coordinate in a different n-th of [0, 1]: with n at least a choice's alternatives, the
    /// starts cover that choice's ends (e.g. both the first and the last input mode) instead of leaving it to chance.
    /// </summary>
    double[][] LatinHypercube(int n)
    {
        var points = Enumerable.Range(0, n).Select(_ => new double[_space.Parameters.Count]).ToArray();
        for (int d = 0; d < _space.Parameters.Count; d++)
        {
            var strata = Enumerable.Range(0, n).ToArray();
            _random.Shuffle(strata.AsSpan());
            for (int i = 0; i < n; i++) points[i][d] = (strata[i] + _random.NextDouble()) / n;
        }
        return points;
    }

    /// <summary>The starts do not depend on results; the walk does.</summary>
    public bool ProposesAhead => !_walking && _starts < RandomStarts;

    public double[]? Propose()
    {
        if (!_walking)
            return Pending(_starts++ == 0 ? (double[])_incumbent.Clone() : _latinStarts[_starts - 2]);
        if (_incumbentValue is null) return Pending((double[])_incumbent.Clone());
        if (_direction is null || _triedNegative)
        {
            _direction = RandomDirection();
            _triedNegative = false;
            return Pending(Move(+1));
        }
        _triedNegative = true;
        return Pending(Move(-1));
    }

    public void Tell(double[] point, double? objective)
    {
        int pending = _pending.FindIndex(p => p.SequenceEqual(point));
        if (pending < 0) return;
        _pending.RemoveAt(pending);
        bool better = objective is { } value && (_incumbentValue is null || value > _incumbentValue);
        if (better)
        {
            _incumbent = point;
            _incumbentValue = objective;
        }
        if (!_walking)
        {
            // The walk starts from the best start once every start is in (or from a random point if all failed).
            if (_starts >= RandomStarts && _pending.Count == 0)
            {
                _walking = true;
                if (_incumbentValue is null) _incumbent = RandomPoint();
            }
            return;
        }
        if (better)
        {
            _direction = null;
            _noImprovement = 0;
            return;
        }
        if (_direction is null)
        {
            // A restart point that failed: try another random point.
            if (_incumbentValue is null) _incumbent = RandomPoint();
            return;
        }
        if (!_triedNegative) return;
        if (++_noImprovement >= 2 * Math.Max(1, _space.Parameters.Count))
        {
            _noImprovement = 0;
            _step /= 2;
            if (_step < MinStep)
            {
                _step = InitialStep;
                _incumbent = RandomPoint();
                _incumbentValue = null;
                _direction = null;
            }
        }
    }

    double[] Pending(double[] point)
    {
        _pending.Add(point);
        return point;
    }

    double[] Move(int sign) => _incumbent.Select((x, i) => Math.Clamp(x + sign * _step * _direction![i], 0, 1)).ToArray();

    double[] RandomPoint() => _space.Parameters.Select(_ => _random.NextDouble()).ToArray();

    double[] RandomDirection()
    {
        var u = _space.Parameters.Select(_ => Gaussian()).ToArray();
        double norm = Math.Sqrt(u.Sum(x => x * x));
        return norm > 0 ? u.Select(x => x / norm).ToArray() : u;
    }

    double Gaussian()
    {
        double u1 = 1 - _random.NextDouble(), u2 = _random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
