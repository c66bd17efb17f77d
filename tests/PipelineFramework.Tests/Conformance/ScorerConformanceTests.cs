using System.Collections.Concurrent;
using PipelineFramework.Abstractions;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.Conformance.ConformanceData;

namespace PipelineFramework.Tests.Conformance;

/// <summary>
/// What every scorer in the catalog must do, whoever wrote it (scikit-learn's check_estimator, for scorers): a seed
/// fixes the model, a saved model scores to the bit as the fitted one, a wrong embedding is refused with a message a
/// user can act on, and one fitted scorer serves many threads. Checked on real hazelnut embeddings; a plugin added
/// later is checked with no new test.
/// </summary>
public class ScorerConformanceTests
{
    /// <summary>Options that keep a fit short where the default is sized for a real run; everything else uses defaults.</summary>
    static readonly Dictionary<string, string> FastOptions = new()
    {
        ["scoring.simplenet"] = """{ "epochs": 2 }""",
    };

    static IEnumerable<string> ScorerTypes() =>
        TestData.Catalog.Components.Where(d => d.Kind == ComponentKind.Scorer).Select(d => d.TypeName);

    public static TheoryData<string> Scorers() => new(ScorerTypes());

    static IScorer Create(string type) => (IScorer)ConformanceData.Create(type, FastOptions.GetValueOrDefault(type, "{}"), "$.scoring");

    static IFittedScorer Fit(string type) => Create(type).Fit(new ScorerFitInputs { Good = FitFeatures }, Context);

    /// <summary>One fitted scorer per type, shared by the tests that only use it.</summary>
    static IFittedScorer Fitted(string type) => FittedByType.GetOrAdd(type, t => new Lazy<IFittedScorer>(() => Fit(t))).Value;
    static readonly ConcurrentDictionary<string, Lazy<IFittedScorer>> FittedByType = new();

    [Fact]
    public void The_suite_covers_the_shipped_scorers()
    {
        var covered = ScorerTypes().ToHashSet();
        Assert.Superset(covered, new HashSet<string> { "scoring.patchcore", "scoring.padim", "scoring.simplenet", "test.mean-distance" });
    }

    [Theory]
    [MemberData(nameof(Scorers))]
    public void Scores_have_the_batch_shape_and_are_finite_and_not_constant(string type)
    {
        var scores = Fitted(type).Score(RunFeatures);
        Assert.Equal((RunFeatures.Count, RunFeatures.Height, RunFeatures.Width), (scores.Count, scores.Height, scores.Width));
        Assert.All(scores.Values, v => Assert.True(float.IsFinite(v), $"{type}: patch score {v}"));
        Assert.All(scores.ImageScores, v => Assert.True(float.IsFinite(v), $"{type}: image score {v}"));
        Assert.True(scores.Values.Distinct().Count() > 1, $"{type}: every patch got the same score.");
    }

    [Theory]
    [MemberData(nameof(Scorers))]
    public void Fitting_twice_with_the_same_seed_gives_bit_identical_scores(string type)
    {
        var first = Fitted(type).Score(RunFeatures);
        using var again = Fit(type);
        Bits.Equal(first, again.Score(RunFeatures), $"{type} fitted twice with seed {Seed}");
    }

    [Theory]
    [MemberData(nameof(Scorers))]
    public void Saved_and_loaded_scorer_gives_bit_identical_scores(string type)
    {
        var fitted = Fitted(type);
        var store = new MemoryModelStore();
        fitted.Save(store);
        using var loaded = Create(type).Load(store, Context);
        Bits.Equal(fitted.Score(RunFeatures), loaded.Score(RunFeatures), $"{type} after save and load");
    }

    [Theory]
    [MemberData(nameof(Scorers))]
    public void Embeddings_one_dimension_larger_give_a_pipeline_exception_naming_both_sizes(string type)
    {
        var features = RunFeatures;
        int dim = features.Dim, wider = dim + 1;
        var data = new float[(long)features.PatchCount * wider];
        for (int p = 0; p < features.PatchCount; p++) features.Patch(p).CopyTo(data.AsSpan(p * wider, dim));
        var widened = new FeatureBatch(features.Count, features.Height, features.Width, wider, data);

        var e = Assert.Throws<PipelineException>(() => Fitted(type).Score(widened));
        Assert.Contains(dim.ToString(), e.Message);
        Assert.Contains(wider.ToString(), e.Message);
    }

    /// <summary>
    /// A scorer that learns per position must refuse another grid, naming both (as HxW); one that does not must score
    /// the new grid. Either is fine; an index error or scores of the wrong shape is not. A non-square crop catches
    /// height and width swapped.
    /// </summary>
    [Theory]
    [MemberData(nameof(Scorers))]
    public void Another_patch_grid_is_scored_at_its_own_shape_or_refused_naming_both_grids(string type)
    {
        var features = RunFeatures;
        int height = features.Height / 2, width = features.Width * 3 / 4, dim = features.Dim;
        var data = new float[(long)features.Count * height * width * dim];
        for (int i = 0; i < features.Count; i++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    features.Patch((i * features.Height + y) * features.Width + x).CopyTo(data.AsSpan(((i * height + y) * width + x) * dim, dim));
        var cropped = new FeatureBatch(features.Count, height, width, dim, data);

        PatchScores scores;
        try
        {
            scores = Fitted(type).Score(cropped);
        }
        catch (PipelineException e)
        {
            Assert.Contains($"{height}x{width}", e.Message);
            Assert.Contains($"{features.Height}x{features.Width}", e.Message);
            return;
        }
        Assert.Equal((features.Count, height, width), (scores.Count, scores.Height, scores.Width));
        Assert.All(scores.Values, v => Assert.True(float.IsFinite(v), $"{type}: patch score {v}"));
    }

    const int Rounds = 10;

    [Theory]
    [MemberData(nameof(Scorers))]
    public void Eight_threads_scoring_at_once_match_one_thread(string type)
    {
        var fitted = Fitted(type);
        int count = RunFeatures.Count;
        var inputs = Enumerable.Range(0, count).Select(shift => Rotate.Batch(RunFeatures, shift)).ToArray();
        var expected = inputs.Select(input => Snapshot.Of(fitted.Score(input))).ToArray();
        var results = OnEightThreadsAtOnce(t => Snapshot.Of(fitted.Score(inputs[t % count])), Rounds);
        for (int i = 0; i < results.Length; i++) Bits.Equal(expected[i / Rounds % count], results[i], $"{type} thread {i / Rounds}");
    }
}
