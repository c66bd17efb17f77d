using System.Numerics.Tensors;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Scoring.SimpleNet;

/// <summary>
/// SimpleNet (Liu, Zhou, Xu, Wang, CVPR 2023) as a patch scorer on the pipeline's embeddings: a linear feature
/// adaptor (initialised to the identity) and a 2-layer MLP discriminator (dim → hidden → 1, LeakyReLU) are trained
/// with Adam and the truncated L1 loss — good: max(0, th − D(z)), anomalous: max(0, th + D(z)) — where anomalous
/// features are adapted good ones plus Gaussian noise, and, when the pipeline provides them, labelled patches of
/// synthetic anomaly images. Patch score = −D(adaptor(x)); image score = max patch score.
/// </summary>
[PipelineComponent("scoring.simplenet", Description = "SimpleNet (Liu et al. 2023): feature adaptor + MLP discriminator trained against Gaussian-noised features.")]
public sealed class SimpleNetScorer : IScorer
{
    private const ulong Salt = 0x5349_4D50_4C45_4E54UL; // "SIMPLENT"
    private const double AdamBeta1 = 0.9, AdamBeta2 = 0.999, AdamEpsilon = 1e-8;

    private readonly SimpleNetOptions _options;

    public SimpleNetScorer(SimpleNetOptions options)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
    }

    public SimpleNetOptions Options => _options;

    public IFittedScorer Load(IModelReader state, FitContext context) => FittedSimpleNet.Load(state);

    public IFittedScorer Fit(ScorerFitInputs inputs, FitContext context)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(context);
        var errors = _options.Validate().ToList();
        if (errors.Count > 0)
            throw new PipelineException("scoring.simplenet options are invalid: " + string.Join(" ", errors.Select(e => $"{e.Option}: {e.Message}")));
        var good = inputs.Good ?? throw new PipelineException("scoring.simplenet needs good patch embeddings to fit.");
        if (good.PatchCount == 0 || good.Dim == 0)
            throw new PipelineException("scoring.simplenet got no good patch embeddings to fit on; check that the training folder holds good images.");
        int d = good.Dim;
        var synthetic = _options.UseSynthetic ? inputs.Synthetic : null;
        if (synthetic is not null)
        {
            if (synthetic.Features.Dim != d)
                throw new PipelineException($"scoring.simplenet: synthetic patches have {synthetic.Features.Dim} dimensions but good ones {d}.");
            if (synthetic.PatchLabels.Length != synthetic.Features.PatchCount)
                throw new PipelineException($"scoring.simplenet: {synthetic.PatchLabels.Length} synthetic patch labels for {synthetic.Features.PatchCount} patches.");
        }
        context.Cancellation.ThrowIfCancellationRequested();

        var rng = SeededRandom.Create(context.Seed, Salt);

        // ---- training sets: good rows (good batch + synthetic label-0 patches) and synthetic anomalous rows.
        var synGood = new List<int>();
        var synBad = new List<int>();
        if (synthetic is not null)
            for (int i = 0; i < synthetic.PatchLabels.Length; i++) (synthetic.PatchLabels[i] >= 0.5f ? synBad : synGood).Add(i);
        int goodPool = good.PatchCount + synGood.Count;
        long largest = (long)Math.Min(Math.Max(goodPool, synBad.Count), _options.MaxTrainPatches) * Math.Max(d, _options.HiddenSize);
        if (largest > Array.MaxLength / 4)
            throw new PipelineException($"scoring.simplenet: {Math.Min(goodPool, _options.MaxTrainPatches)} training patches of {d} dimensions are too many to hold; lower maxTrainPatches.");
        int[] goodPick = Choose(goodPool, _options.MaxTrainPatches, rng);
        int[] badPick = Choose(synBad.Count, _options.MaxTrainPatches, rng);
        float[] goodX = Gather(goodPick, d, r => r < good.PatchCount ? good.Patch(r) : synthetic!.Features.Patch(synGood[r - good.PatchCount]));
        float[] badX = Gather(badPick, d, r => synthetic!.Features.Patch(synBad[r]));

        // ---- input scaling from the good rows.
        var (mean, invScale) = FitScaling(goodX, goodPick.Length, d, _options.FeatureScaling);
        Standardise(goodX, goodPick.Length, d, mean, invScale);
        Standardise(badX, badPick.Length, d, mean, invScale);

        var trainer = new Trainer(_options, d, rng);
        float loss = trainer.Train(goodX, goodPick.Length, badX, badPick.Length, context);

        var header = new SimpleNetHeader
        {
            Dim = d,
            Hidden = _options.HiddenSize,
            LeakySlope = (float)_options.LeakySlope,
            FeatureScaling = _options.FeatureScaling,
            TrainGoodPatches = goodPick.Length,
            TrainSyntheticAnomalies = badPick.Length,
            FinalEpochLoss = loss,
            FinalEpochAccuracy = trainer.FinalEpochAccuracy,
            Options = _options,
        };
        return new FittedSimpleNet(header, trainer.Weights(mean, invScale));
    }

    /// <summary>Indices 0..total−1, or a seeded random subset of <paramref name="max"/> of them in increasing order.</summary>
    private static int[] Choose(int total, int max, SeededRandom rng)
    {
        var all = new int[total];
        for (int i = 0; i < total; i++) all[i] = i;
        if (total <= max) return all;
        for (int i = 0; i < max; i++)
        {
            int j = i + rng.NextInt(total - i);
            (all[i], all[j]) = (all[j], all[i]);
        }
        var pick = all.AsSpan(0, max).ToArray();
        Array.Sort(pick);
        return pick;
    }

    private delegate ReadOnlySpan<float> RowSource(int row);

    private static float[] Gather(int[] rows, int d, RowSource source)
    {
        var x = new float[(long)rows.Length * d];
        for (int i = 0; i < rows.Length; i++) source(rows[i]).CopyTo(x.AsSpan(i * d, d));
        return x;
    }

    private static (float[] Mean, float[] InvScale) FitScaling(float[] x, int n, int d, string mode)
    {
        var mean = new float[d];
        var inv = new float[d];
        Array.Fill(inv, 1f);
        if (mode == "none") return (mean, inv);

        var sum = new double[d];
        for (int i = 0; i < n; i++) { var row = x.AsSpan(i * d, d); for (int k = 0; k < d; k++) sum[k] += row[k]; }
        for (int k = 0; k < d; k++) mean[k] = (float)(sum[k] / n);
        var sq = new double[d];
        for (int i = 0; i < n; i++) { var row = x.AsSpan(i * d, d); for (int k = 0; k < d; k++) { double c = row[k] - mean[k]; sq[k] += c * c; } }
        if (mode == "global")
        {
            double meanVariance = sq.Sum() / ((double)n * d);
            float s = meanVariance > 1e-24 ? (float)(1.0 / Math.Sqrt(meanVariance)) : 1f;
            Array.Fill(inv, s);
        }
        else
        {
            for (int k = 0; k < d; k++)
            {
                double variance = sq[k] / n;
                inv[k] = variance > 1e-24 ? (float)(1.0 / Math.Sqrt(variance)) : 1f;
            }
        }
        return (mean, inv);
    }

    private static void Standardise(float[] x, int n, int d, float[] mean, float[] inv)
    {
        Kernels.For(n, d, i =>
        {
            var row = x.AsSpan(i * d, d);
            TensorPrimitives.Subtract(row, mean, row);
            TensorPrimitives.Multiply(row, inv, row);
        });
    }

    /// <summary>The adaptor + discriminator parameters in one flat array (for Adam) and the training loop.</summary>
    internal sealed class Trainer
    {
        private readonly SimpleNetOptions _o;
        private readonly int _d, _h;
        private readonly SeededRandom _rng;
        private readonly float[] _p, _g, _m, _v;
        private readonly int _oWa, _oBa, _oW1, _oB1, _oW2, _oB2, _count;
        private long _step;

        public Trainer(SimpleNetOptions options, int d, SeededRandom rng)
        {
            _o = options; _d = d; _h = options.HiddenSize; _rng = rng;
            _oWa = 0; _oBa = _oWa + d * d; _oW1 = _oBa + d; _oB1 = _oW1 + _h * d; _oW2 = _oB1 + _h; _oB2 = _oW2 + _h; _count = _oB2 + 1;
            _p = new float[_count]; _g = new float[_count]; _m = new float[_count]; _v = new float[_count];
            // Adaptor = identity, biases 0; discriminator layers Xavier-normal as SimpleNet.
            for (int k = 0; k < d; k++) _p[_oWa + k * d + k] = 1f;
            _rng.FillGaussian(_p.AsSpan(_oW1, _h * d), (float)Math.Sqrt(2.0 / (d + _h)));
            _rng.FillGaussian(_p.AsSpan(_oW2, _h), (float)Math.Sqrt(2.0 / (_h + 1)));
        }

        private Memory<float> P(int offset, int length) => _p.AsMemory(offset, length);

        /// <summary>Balanced accuracy of the last epoch on its own batches: good rows scored above 0, anomalous below.</summary>
        public float FinalEpochAccuracy { get; private set; }

        /// <summary>All parameters and the gradient of the last <see cref="LossAndGradient"/>, same layout (for the gradient test).</summary>
        internal float[] Parameters => _p;
        internal float[] Gradient => _g;

        internal IReadOnlyList<(string Name, int Offset, int Length)> ParameterBlocks =>
        [
            ("adaptor.weight", _oWa, _d * _d), ("adaptor.bias", _oBa, _d),
            ("discriminator.fc1.weight", _oW1, _h * _d), ("discriminator.fc1.bias", _oB1, _h),
            ("discriminator.fc2.weight", _oW2, _h), ("discriminator.fc2.bias", _oB2, 1),
        ];

        public SimpleNetWeights Weights(float[] mean, float[] invScale) => new(
            mean, invScale,
            _p.AsSpan(_oWa, _d * _d).ToArray(), _p.AsSpan(_oBa, _d).ToArray(),
            _p.AsSpan(_oW1, _h * _d).ToArray(), _p.AsSpan(_oB1, _h).ToArray(),
            _p.AsSpan(_oW2, _h).ToArray(), _p.AsSpan(_oB2, 1).ToArray());

        /// <summary>Runs all epochs; returns the mean loss of the last epoch.</summary>
        public float Train(float[] goodX, int nGood, float[] badX, int nBad, FitContext context)
        {
            int d = _d, epochs = _o.Epochs;
            int batch = Math.Min(_o.BatchSize, nGood);
            var b = new BatchBuffers(d, _h, batch, Math.Min(nBad, batch));
            var perm = new int[nGood];
            for (int i = 0; i < nGood; i++) perm[i] = i;
            var badPerm = new int[nBad];
            for (int i = 0; i < nBad; i++) badPerm[i] = i;
            int badNext = nBad;
            float sigma = (float)_o.NoiseSigma;
            bool trainAdaptor = _o.AdaptorLearningRate > 0;
            float epochLoss = 0;

            context.Progress?.Report(new ProgressUpdate("simplenet", 0, epochs));
            for (int epoch = 0; epoch < epochs; epoch++)
            {
                Shuffle(perm);
                double lossSum = 0; int batches = 0;
                long goodRows = 0, goodRight = 0, badRows = 0, badRight = 0;
                for (int start = 0; start < nGood; start += batch)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    int bg = Math.Min(batch, nGood - start), bs = Math.Min(nBad, bg);
                    for (int i = 0; i < bg; i++) goodX.AsSpan(perm[start + i] * d, d).CopyTo(b.X.AsSpan(i * d, d));
                    for (int i = 0; i < bs; i++)
                    {
                        if (badNext == nBad) { Shuffle(badPerm); badNext = 0; }
                        badX.AsSpan(badPerm[badNext++] * d, d).CopyTo(b.X.AsSpan((bg + i) * d, d));
                    }
                    _rng.FillGaussian(b.Noise.AsSpan(0, bg * d), sigma);

                    var (loss, anyActive) = LossAndGradient(b, bg, bs);
                    lossSum += loss; batches++;
                    goodRows += bg; goodRight += b.GoodRight; badRows += bg + bs; badRight += b.BadRight;
                    if (!anyActive) continue;
                    _step++;
                    if (trainAdaptor) Adam(0, _oW1, _o.AdaptorLearningRate);
                    Adam(_oW1, _count, _o.LearningRate);
                }
                epochLoss = (float)(lossSum / Math.Max(1, batches));
                FinalEpochAccuracy = (float)(0.5 * ((double)goodRight / Math.Max(1, goodRows) + (double)badRight / Math.Max(1, badRows)));
                context.Progress?.Report(new ProgressUpdate("simplenet", epoch + 1, epochs));
            }
            return epochLoss;
        }

        /// <summary>
        /// The truncated L1 loss of one batch and its gradient (into <see cref="Gradient"/>; the adaptor's part only when
        /// the adaptor trains). Rows of x: good [0, bg), synthetic anomalies [bg, bg + bs); the noisy copies are the
        /// adapted good rows plus Noise. Returns false for AnyActive when every row is outside the margin (no gradient).
        /// </summary>
        internal (double Loss, bool AnyActive) LossAndGradient(BatchBuffers b, int bg, int bs)
        {
            int d = _d, h = _h;
            int rowsX = bg + bs, rows = rowsX + bg;
            float th = (float)_o.LossThreshold, slope = (float)_o.LeakySlope;
            float[] x = b.X, z = b.Z, pre = b.Pre, act = b.Act, score = b.Score, dScore = b.DScore, dPre = b.DPre, dPreT = b.DPreT, zT = b.ZT;
            int[] active = b.Active;

            // Rows of z: the adapted rows of x, then the noisy copies of the good rows.
            Kernels.Affine(x, rowsX, d, P(_oWa, d * d), P(_oBa, d), d, z);
            TensorPrimitives.Add(b.Noise.AsSpan(0, bg * d), z.AsSpan(0, bg * d), z.AsSpan(rowsX * d, bg * d));

            // Discriminator forward.
            Kernels.Affine(z, rows, d, P(_oW1, h * d), P(_oB1, h), h, pre);
            Kernels.For(rows, h, r =>
            {
                var pr = pre.AsSpan(r * h, h); var ar = act.AsSpan(r * h, h);
                for (int j = 0; j < h; j++) ar[j] = Kernels.Leaky(pr[j], slope);
                score[r] = Kernels.Dot(_p.AsSpan(_oW2, h), ar) + _p[_oB2];
            });

            // Truncated L1 loss: mean over good rows + mean over anomalous rows.
            float wGood = 1f / bg, wBad = 1f / (rows - bg);
            double loss = 0; int nActive = 0;
            b.GoodRight = 0; b.BadRight = 0;
            for (int r = 0; r < rows; r++)
            {
                if (r < bg) { if (score[r] > 0) b.GoodRight++; }
                else if (score[r] < 0) b.BadRight++;
                float margin = r < bg ? th - score[r] : th + score[r];
                if (margin > 0)
                {
                    loss += margin * (r < bg ? wGood : wBad);
                    dScore[r] = r < bg ? -wGood : wBad;
                    active[nActive++] = r;
                }
                else dScore[r] = 0;
            }
            if (nActive == 0) return (loss, false);

            // Backward.
            Array.Clear(_g);
            var gW2 = _g.AsSpan(_oW2, h);
            for (int a = 0; a < nActive; a++)
            {
                int r = active[a];
                Kernels.AddScaled(act.AsSpan(r * h, h), dScore[r], gW2);
                _g[_oB2] += dScore[r];
            }
            // dL/d(pre-activation) of the active rows, row-major (active × hidden) and transposed, with the
            // active rows of z transposed: weight gradients become dot products over the active rows.
            var w2 = _p.AsSpan(_oW2, h);
            for (int a = 0; a < nActive; a++)
            {
                int r = active[a];
                float ds = dScore[r];
                for (int j = 0; j < h; j++)
                {
                    float g = ds * w2[j] * (pre[r * h + j] > 0 ? 1f : slope);
                    dPre[a * h + j] = g;
                    dPreT[j * nActive + a] = g;
                }
                for (int k = 0; k < d; k++) zT[k * nActive + a] = z[r * d + k];
            }
            Kernels.For(h, (long)nActive * d, j =>
            {
                var dj = dPreT.AsSpan(j * nActive, nActive);
                var row = _g.AsSpan(_oW1 + j * d, d);
                for (int k = 0; k < d; k++) row[k] = Kernels.Dot(dj, zT.AsSpan(k * nActive, nActive));
                _g[_oB1 + j] = Kernels.Sum(dj);
            });

            if (_o.AdaptorLearningRate > 0)
            {
                float[] w1T = b.W1T, dZ = b.DZ, dX = b.DX, dXT = b.DXT, xT = b.XT;
                for (int j = 0; j < h; j++)
                    for (int k = 0; k < d; k++) w1T[k * h + j] = _p[_oW1 + j * d + k];
                Array.Clear(dZ, 0, rows * d);
                Kernels.For(nActive, (long)h * d, a =>
                {
                    var dp = dPre.AsSpan(a * h, h);
                    var dz = dZ.AsSpan(active[a] * d, d);
                    for (int k = 0; k < d; k++) dz[k] = Kernels.Dot(dp, w1T.AsSpan(k * h, h));
                });
                // A noisy copy depends on its good row through the adaptor: its gradient flows back there.
                dZ.AsSpan(0, rowsX * d).CopyTo(dX);
                TensorPrimitives.Add(dX.AsSpan(0, bg * d), dZ.AsSpan(rowsX * d, bg * d), dX.AsSpan(0, bg * d));
                for (int r = 0; r < rowsX; r++)
                    for (int k = 0; k < d; k++) { dXT[k * rowsX + r] = dX[r * d + k]; xT[k * rowsX + r] = x[r * d + k]; }
                Kernels.For(d, (long)rowsX * d, k =>
                {
                    var gk = dXT.AsSpan(k * rowsX, rowsX);
                    var row = _g.AsSpan(_oWa + k * d, d);
                    for (int m = 0; m < d; m++) row[m] = Kernels.Dot(gk, xT.AsSpan(m * rowsX, rowsX));
                    _g[_oBa + k] = Kernels.Sum(gk);
                });
            }
            return (loss, true);
        }

        private void Adam(int from, int to, double learningRate)
        {
            double correction1 = 1 - Math.Pow(AdamBeta1, _step), correction2 = 1 - Math.Pow(AdamBeta2, _step);
            float stepSize = (float)(learningRate * Math.Sqrt(correction2) / correction1);
            float epsilon = (float)(AdamEpsilon * Math.Sqrt(correction2));
            const float b1 = (float)AdamBeta1, b2 = (float)AdamBeta2;
            for (int i = from; i < to; i++)
            {
                float g = _g[i];
                float m = _m[i] = b1 * _m[i] + (1 - b1) * g;
                float v = _v[i] = b2 * _v[i] + (1 - b2) * g * g;
                _p[i] -= stepSize * m / (MathF.Sqrt(v) + epsilon);
            }
        }

        private void Shuffle(int[] a)
        {
            for (int i = a.Length - 1; i > 0; i--)
            {
                int j = _rng.NextInt(i + 1);
                (a[i], a[j]) = (a[j], a[i]);
            }
        }
    }

    /// <summary>
    /// One batch's input (X: good rows, then synthetic anomalies; Noise: one row per good row) and the scratch arrays of
    /// <see cref="Trainer.LossAndGradient"/>, allocated once per fit.
    /// </summary>
    internal sealed class BatchBuffers
    {
        public BatchBuffers(int d, int h, int maxGood, int maxSynthetic)
        {
            int maxX = maxGood + maxSynthetic, maxRows = maxX + maxGood;
            X = new float[maxX * d]; Noise = new float[maxGood * d];
            Z = new float[maxRows * d]; Pre = new float[maxRows * h]; Act = new float[maxRows * h];
            Score = new float[maxRows]; DScore = new float[maxRows];
            DPre = new float[maxRows * h]; DPreT = new float[h * maxRows]; ZT = new float[d * maxRows];
            W1T = new float[d * h]; DZ = new float[maxRows * d]; DX = new float[maxX * d]; DXT = new float[d * maxX]; XT = new float[d * maxX];
            Active = new int[maxRows];
        }

        public float[] X { get; }
        public float[] Noise { get; }
        /// <summary>Good rows scored above 0 and anomalous rows scored below 0 in the last batch.</summary>
        public int GoodRight { get; set; }
        public int BadRight { get; set; }
        internal float[] Z { get; }
        internal float[] Pre { get; }
        internal float[] Act { get; }
        internal float[] Score { get; }
        internal float[] DScore { get; }
        internal float[] DPre { get; }
        internal float[] DPreT { get; }
        internal float[] ZT { get; }
        internal float[] W1T { get; }
        internal float[] DZ { get; }
        internal float[] DX { get; }
        internal float[] DXT { get; }
        internal float[] XT { get; }
        internal int[] Active { get; }
    }
}
