using PipelineFramework.Core.Plugins;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Scoring.SimpleNet;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.SimpleNet;

public class SimpleNetTests
{
    private const int Dim = 16;

    /// <summary>
    /// Fast settings for a 16-d toy problem (the defaults are sized for real backbones): in 16 dimensions the default
    /// noise (0.015 per component) displaces a patch so little that the discriminator learns too slowly for a unit test.
    /// </summary>
    private static SimpleNetOptions Fast => new() { HiddenSize = 64, Epochs = 60, BatchSize = 128, LearningRate = 5e-3, NoiseSigma = 0.1 };

    /// <summary>One model fitted with <see cref="Fast"/> and seed 3, shared by the tests that only read it.</summary>
    private static readonly Lazy<IFittedScorer> Shared = new(() => FitFast());

    private static readonly float[][] Centres;
    private static readonly float[][][] Planes; // two orthonormal directions per centre

    static SimpleNetTests()
    {
        var rng = new TestRng(1);
        Centres = new float[4][];
        Planes = new float[4][][];
        for (int c = 0; c < 4; c++)
        {
            Centres[c] = Enumerable.Range(0, Dim).Select(_ => (float)rng.Gaussian()).ToArray();
            var u = Unit(Enumerable.Range(0, Dim).Select(_ => rng.Gaussian()).ToArray());
            var v = Enumerable.Range(0, Dim).Select(_ => rng.Gaussian()).ToArray();
            double dot = u.Zip(v, (a, b) => a * b).Sum();
            v = Unit(v.Select((x, k) => x - dot * u[k]).ToArray());
            Planes[c] = [u.Select(x => (float)x).ToArray(), v.Select(x => (float)x).ToArray()];
        }
    }

    private static double[] Unit(double[] v)
    {
        double n = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / n).ToArray();
    }

    /// <summary>
    /// Images of 8x8 patches. Good patches lie on 2-D patches of planes through four centres (spread 0.3 in the plane,
    /// 0.003 off it): low-dimensional structure, as real patch embeddings have.
    /// </summary>
    private static FeatureBatch Good(int images, int seed)
    {
        var rng = new TestRng((ulong)seed);
        var data = new float[images * 64 * Dim];
        for (int p = 0; p < images * 64; p++)
        {
            int c = rng.Next(Centres.Length);
            float a = 0.3f * (float)rng.Gaussian(), b = 0.3f * (float)rng.Gaussian();
            for (int k = 0; k < Dim; k++)
                data[p * Dim + k] = Centres[c][k] + a * Planes[c][0][k] + b * Planes[c][1][k] + 0.003f * (float)rng.Gaussian();
        }
        return new FeatureBatch(images, 8, 8, Dim, data);
    }

    /// <summary>Anomalous patches: a good point pushed 0.5 off its plane in a random direction.</summary>
    private static FeatureBatch Anomalies(int images, int seed)
    {
        var rng = new TestRng((ulong)seed);
        var good = Good(images, seed + 1).Data;
        var data = new float[good.Length];
        for (int p = 0; p < images * 64; p++)
        {
            var dir = Unit(Enumerable.Range(0, Dim).Select(_ => rng.Gaussian()).ToArray());
            for (int k = 0; k < Dim; k++) data[p * Dim + k] = good[p * Dim + k] + (float)(0.5 * dir[k]);
        }
        return new FeatureBatch(images, 8, 8, Dim, data);
    }

    private static double Auroc(IReadOnlyList<float> negatives, IReadOnlyList<float> positives)
    {
        double wins = 0;
        foreach (float p in positives)
            foreach (float n in negatives)
                wins += p > n ? 1 : p == n ? 0.5 : 0;
        return wins / ((double)positives.Count * negatives.Count);
    }

    private static IFittedScorer FitFast(int seed = 3, SimpleNetOptions? options = null, LabeledFeatures? synthetic = null) =>
        new SimpleNetScorer(options ?? Fast).Fit(new ScorerFitInputs { Good = Good(16, 100), Synthetic = synthetic }, new FitContext { Seed = seed });

    [Fact]
    public void Trained_scorer_ranks_anomalies_above_good_patches()
    {
        var fitted = Shared.Value;
        var good = fitted.Score(Good(4, 200)).Values;
        var bad = fitted.Score(Anomalies(4, 300)).Values;
        double auroc = Auroc(good, bad);
        Assert.True(auroc >= 0.95, $"Patch AUROC {auroc:F4} < 0.95.");
    }

    /// <summary>
    /// The discriminator must learn what it is trained on: with the default options (10 epochs, as the shipped
    /// pipeline), held-out good patches and noisy copies of them (the training noise, in raw units) are told apart by
    /// the sign of D. With the earlier default noise (0.015, and the shipped 0.05) it stayed at chance here, as on
    /// real features (README, "Why it did not learn").
    /// </summary>
    [Fact]
    public void Default_discriminator_tells_held_out_noisy_copies_from_clean_patches()
    {
        var (heldOut, ownBatches) = HeldOutAccuracy(new SimpleNetOptions { Epochs = 10 });
        Assert.True(heldOut >= 0.9, $"Balanced accuracy on held-out clean vs noisy patches {heldOut:F3} < 0.9.");
        Assert.True(ownBatches >= 0.9, $"Balanced accuracy on its own batches {ownBatches:F3} < 0.9.");
    }

    private static (double HeldOut, double OwnBatches) HeldOutAccuracy(SimpleNetOptions options)
    {
        var fitted = (FittedSimpleNet)new SimpleNetScorer(options).Fit(new ScorerFitInputs { Good = Good(100, 100) }, new FitContext { Seed = 3 });
        var clean = Good(8, 204);
        float rawSigma = (float)options.NoiseSigma / fitted.Weights.InvScale[0];
        var rng = new TestRng(205);
        var noisy = new FeatureBatch(8, 8, 8, Dim, clean.Data.Select(v => v + rawSigma * (float)rng.Gaussian()).ToArray());
        var cleanScores = fitted.Score(clean).Values;
        var noisyScores = fitted.Score(noisy).Values;
        double heldOut = 0.5 * (cleanScores.Count(v => v < 0) / (double)cleanScores.Length + noisyScores.Count(v => v > 0) / (double)noisyScores.Length);
        return (heldOut, fitted.Header.FinalEpochAccuracy);
    }

    /// <summary>
    /// The hand-written backward pass against central differences of an independent double-precision forward pass
    /// (adaptor, MLP, truncated L1 loss), for every parameter, with random weights (adaptor away from the identity)
    /// and the default margin, so that some rows are outside it and get no gradient.
    /// </summary>
    [Fact]
    public void Gradient_of_every_parameter_matches_finite_differences()
    {
        const int d = 6, h = 5, bg = 9, bs = 4;
        var options = new SimpleNetOptions { HiddenSize = h };
        var trainer = new SimpleNetScorer.Trainer(options, d, SeededRandom.Create(1, 2));
        var batch = new SimpleNetScorer.BatchBuffers(d, h, bg, bs);
        var rng = new TestRng(9);
        for (int i = 0; i < (bg + bs) * d; i++) batch.X[i] = (float)rng.Gaussian();
        for (int i = 0; i < bg * d; i++) batch.Noise[i] = 0.5f * (float)rng.Gaussian();
        var p = trainer.Parameters;
        for (int i = 0; i < p.Length; i++) p[i] += 0.3f * (float)rng.Gaussian();

        var (loss, anyActive) = trainer.LossAndGradient(batch, bg, bs);
        Assert.True(anyActive);
        var reference = p.Select(v => (double)v).ToArray();
        double referenceLoss = Loss(reference);
        Assert.True(Math.Abs(loss - referenceLoss) < 1e-5, $"loss {loss} against {referenceLoss}");
        int outside = Enumerable.Range(0, bg + bs + bg).Count(r => Margin(reference, r) <= 0);
        Assert.True(outside > 0 && outside < 2 * bg + bs, $"{outside} rows outside the margin: the test should have some on both sides");

        foreach (var (name, offset, length) in trainer.ParameterBlocks)
            for (int i = offset; i < offset + length; i++)
            {
                const double step = 1e-6;
                var plus = (double[])reference.Clone(); plus[i] += step;
                var minus = (double[])reference.Clone(); minus[i] -= step;
                double numeric = (Loss(plus) - Loss(minus)) / (2 * step), analytic = trainer.Gradient[i];
                Assert.True(Math.Abs(numeric - analytic) <= 1e-4 + 1e-3 * Math.Abs(numeric),
                    $"{name}[{i - offset}]: analytic {analytic:G6}, finite differences {numeric:G6}");
            }

        double Loss(double[] q) =>
            Enumerable.Range(0, bg).Sum(r => Math.Max(0, Margin(q, r))) / bg
            + Enumerable.Range(bg, bs + bg).Sum(r => Math.Max(0, Margin(q, r))) / (bs + bg);

        // Rows: good [0, bg), synthetic [bg, bg + bs), noisy copies of the good rows [bg + bs, 2 bg + bs).
        double Margin(double[] q, int row)
        {
            var blocks = trainer.ParameterBlocks.ToDictionary(b => b.Name, b => b.Offset);
            int source = row < bg + bs ? row : row - bg - bs;
            var z = new double[d];
            for (int k = 0; k < d; k++)
            {
                z[k] = q[blocks["adaptor.bias"] + k];
                for (int m = 0; m < d; m++) z[k] += q[blocks["adaptor.weight"] + k * d + m] * batch.X[source * d + m];
                if (row >= bg + bs) z[k] += batch.Noise[source * d + k];
            }
            double score = q[blocks["discriminator.fc2.bias"]];
            for (int j = 0; j < h; j++)
            {
                double a = q[blocks["discriminator.fc1.bias"] + j];
                for (int k = 0; k < d; k++) a += q[blocks["discriminator.fc1.weight"] + j * d + k] * z[k];
                score += q[blocks["discriminator.fc2.weight"] + j] * (a > 0 ? a : options.LeakySlope * a);
            }
            return row < bg ? options.LossThreshold - score : options.LossThreshold + score;
        }
    }

    [Fact]
    public void Image_score_is_the_max_patch_score()
    {
        var fitted = Shared.Value;
        var scores = fitted.Score(Good(3, 201));
        Assert.Equal((3, 8, 8), (scores.Count, scores.Height, scores.Width));
        for (int i = 0; i < 3; i++) Assert.Equal(scores.Values.Skip(i * 64).Take(64).Max(), scores.ImageScores[i]);
    }

    [Fact]
    public void Same_seed_gives_identical_weights_and_scores_and_another_seed_does_not()
    {
        var fittedA = FitFast(seed: 5);
        var fittedB = FitFast(seed: 5);
        var a = new MemoryModelStore(); fittedA.Save(a);
        var b = new MemoryModelStore(); fittedB.Save(b);
        var c = new MemoryModelStore(); FitFast(seed: 6).Save(c);
        Assert.NotEmpty(a.TensorNames);
        foreach (string name in a.TensorNames)
        {
            Assert.Equal(a.ReadTensor(name, out var shapeA), b.ReadTensor(name, out var shapeB));
            Assert.Equal(shapeA, shapeB);
        }
        Assert.NotEqual(a.ReadTensor("discriminator.fc1.weight", out _), c.ReadTensor("discriminator.fc1.weight", out _));
        var test = Anomalies(2, 301);
        Assert.Equal(fittedA.Score(test).Values, fittedB.Score(test).Values);
    }

    [Fact]
    public void Saved_and_loaded_scorer_gives_bit_identical_scores()
    {
        var fitted = Shared.Value;
        var store = new MemoryModelStore();
        fitted.Save(store);
        Assert.True(store.Contains("simplenet.json"));
        var loaded = new SimpleNetScorer(new SimpleNetOptions()).Load(store, new FitContext());

        var test = new FeatureBatch(4, 8, 8, Dim, Good(2, 202).Data.Concat(Anomalies(2, 302).Data).ToArray());
        var expected = fitted.Score(test);
        var actual = loaded.Score(test);
        Assert.Equal(expected.Values.Select(BitConverter.SingleToInt32Bits), actual.Values.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(expected.ImageScores.Select(BitConverter.SingleToInt32Bits), actual.ImageScores.Select(BitConverter.SingleToInt32Bits));

        // A second save of the loaded model writes the same tensors.
        var again = new MemoryModelStore();
        loaded.Save(again);
        foreach (string name in store.TensorNames) Assert.Equal(store.ReadTensor(name, out _), again.ReadTensor(name, out _));
    }

    [Fact]
    public void Loading_a_damaged_model_names_the_tensor()
    {
        var store = new MemoryModelStore();
        Shared.Value.Save(store);
        store.Replace("adaptor.weight", new float[10], [10]);
        var ex = Assert.Throws<PipelineException>(() => new SimpleNetScorer(new SimpleNetOptions()).Load(store, new FitContext()));
        Assert.Contains("adaptor.weight", ex.Message);
    }

    [Fact]
    public void Synthetic_anomalies_are_learned_as_anomalous()
    {
        // Synthetic anomalous patches lie IN the plane of centre 0, ~2.7 in-plane standard deviations out, where good
        // patches are rare but not absent: feature noise alone (mostly off-plane) hardly singles that region out
        // (AUROC ~0.88 here); the labelled patches do (~1.0).
        var rng = new TestRng(77);
        var place = Centres[0].Select((v, k) => v + 0.8f * Planes[0][0][k]).ToArray();
        float[] Near(float[] c) => c.Select(v => v + 0.02f * (float)rng.Gaussian()).ToArray();
        var synData = new List<float>();
        var labels = new float[2 * 64];
        for (int p = 0; p < 128; p++)
        {
            bool bad = p % 2 == 0;
            synData.AddRange(Near(bad ? place : Centres[1]));
            labels[p] = bad ? 1f : 0f;
        }
        var synthetic = new LabeledFeatures(new FeatureBatch(2, 8, 8, Dim, synData.ToArray()), labels);
        var with = FitFast(synthetic: synthetic);
        var without = FitFast(options: Fast with { UseSynthetic = false }, synthetic: synthetic);

        var probe = new FeatureBatch(1, 8, 8, Dim, Enumerable.Range(0, 64).SelectMany(_ => Near(place)).ToArray());
        var good = Good(2, 203);
        double aurocWith = Auroc(with.Score(good).Values, with.Score(probe).Values);
        double aurocWithout = Auroc(without.Score(good).Values, without.Score(probe).Values);
        Assert.True(aurocWith >= 0.95 && aurocWith >= aurocWithout + 0.05, $"AUROC on the synthetic region: {aurocWith:F4} with synthetic patches, {aurocWithout:F4} without.");
    }

    [Fact]
    public void Progress_is_reported_per_epoch_and_cancellation_is_honoured()
    {
        var updates = new List<ProgressUpdate>();
        var progress = new SyncProgress(updates.Add);
        new SimpleNetScorer(Fast with { Epochs = 3 }).Fit(new ScorerFitInputs { Good = Good(2, 100) }, new FitContext { Seed = 1, Progress = progress });
        Assert.Equal(new[] { 0, 1, 2, 3 }, updates.Select(u => u.Done));
        Assert.All(updates, u => { Assert.Equal("simplenet", u.Stage); Assert.Equal(3, u.Total); });

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new SimpleNetScorer(Fast).Fit(new ScorerFitInputs { Good = Good(2, 100) }, new FitContext { Cancellation = cts.Token }));
    }

    [Fact]
    public void Scoring_embeddings_of_another_size_is_an_actionable_error()
    {
        var fitted = Shared.Value;
        var ex = Assert.Throws<PipelineException>(() => fitted.Score(new FeatureBatch(1, 2, 2, Dim + 1, new float[4 * (Dim + 1)])));
        Assert.Contains("17", ex.Message);
    }

    [Fact]
    public void Validate_rejects_a_negative_learning_rate_by_name()
    {
        var ex = Assert.Throws<PipelineException>(() => ComponentOptions.CheckRanges(new SimpleNetOptions { LearningRate = -1e-3 }, "$.scoring"));
        Assert.Contains("$.scoring.learningRate", ex.Message);
        Assert.Empty(new SimpleNetOptions().Validate());
        ComponentOptions.CheckRanges(new SimpleNetOptions(), "$.scoring");
    }

    [Fact]
    public void Other_options_are_validated_by_name()
    {
        var errors = new SimpleNetOptions { FeatureScaling = "l2" }.Validate().Select(e => e.Option).ToList();
        Assert.Equal(new[] { "featureScaling" }, errors);
        foreach (var (options, name) in new[] { (new SimpleNetOptions { HiddenSize = 0 }, "hiddenSize"), (new SimpleNetOptions { NoiseSigma = -1 }, "noiseSigma"),
                     (new SimpleNetOptions { Epochs = 0 }, "epochs"), (new SimpleNetOptions { BatchSize = 0 }, "batchSize"), (new SimpleNetOptions { LeakySlope = 1 }, "leakySlope") })
            Assert.Contains($"$.scoring.{name}", Assert.Throws<PipelineException>(() => ComponentOptions.CheckRanges(options, "$.scoring")).Message);
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ProgressUpdate> report) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => report(value);
    }

    /// <summary>Test data generator (SplitMix64 + Box–Muller), independent of the plugin's generator.</summary>
    private sealed class TestRng(ulong seed)
    {
        private ulong _state = seed * 0x9E3779B97F4A7C15UL + 12345;

        private ulong NextULong()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));
        public int Next(int n) => (int)(NextDouble() * n);
        public double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - NextDouble())) * Math.Cos(2 * Math.PI * NextDouble());
    }
}
