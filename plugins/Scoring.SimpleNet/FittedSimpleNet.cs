using System.Numerics.Tensors;
using System.Text.Json;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Scoring.SimpleNet;

/// <summary>What the model file records besides the tensors (JSON text "simplenet.json").</summary>
internal sealed record SimpleNetHeader
{
    public int Format { get; init; } = 1;
    public int Dim { get; init; }
    public int Hidden { get; init; }
    public float LeakySlope { get; init; }
    public string FeatureScaling { get; init; } = "global";
    public int TrainGoodPatches { get; init; }
    public int TrainSyntheticAnomalies { get; init; }
    public float FinalEpochLoss { get; init; }
    /// <summary>Balanced accuracy of the last epoch on its own batches (0.5 = chance; absent, so 0, in older files).</summary>
    public float FinalEpochAccuracy { get; init; }
    public SimpleNetOptions? Options { get; init; }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}

/// <summary>The trained weights: input scaling, feature adaptor (dim × dim) and discriminator (dim → hidden → 1).</summary>
internal sealed record SimpleNetWeights(
    float[] Mean, float[] InvScale,
    float[] AdaptorWeight, float[] AdaptorBias,
    float[] Fc1Weight, float[] Fc1Bias,
    float[] Fc2Weight, float[] Fc2Bias);

/// <summary>
/// A trained SimpleNet scorer: patch score = −D(adaptor(scale(x))), image score = max patch score. Immutable and
/// thread-safe. For speed the scaling and the (linear) adaptor are folded into the first discriminator layer when the
/// object is built — the same way for a fitted and a loaded model, so both give bit-identical scores.
/// </summary>
internal sealed class FittedSimpleNet : IFittedScorer
{
    private const int ChunkSize = 64;

    private readonly SimpleNetHeader _header;
    private readonly SimpleNetWeights _weights;
    private readonly int _dim, _hidden;
    private readonly float _slope;
    private readonly float[] _foldedWeight; // hidden × dim: (W1 · Wa) · diag(invScale)
    private readonly float[] _foldedBias;   // hidden: W1 · ba + b1

    public FittedSimpleNet(SimpleNetHeader header, SimpleNetWeights weights)
    {
        _header = header;
        _weights = weights;
        _dim = header.Dim;
        _hidden = header.Hidden;
        _slope = header.LeakySlope;
        _foldedWeight = new float[_hidden * _dim];
        _foldedBias = new float[_hidden];
        int d = _dim;
        Kernels.For(_hidden, (long)d * d, j =>
        {
            var w1 = weights.Fc1Weight.AsSpan(j * d, d);
            var row = _foldedWeight.AsSpan(j * d, d);
            for (int m = 0; m < d; m++)
                if (w1[m] != 0) Kernels.AddScaled(weights.AdaptorWeight.AsSpan(m * d, d), w1[m], row);
            TensorPrimitives.Multiply(row, weights.InvScale, row);
            _foldedBias[j] = Kernels.Dot(w1, weights.AdaptorBias) + weights.Fc1Bias[j];
        });
    }

    internal SimpleNetHeader Header => _header;
    internal SimpleNetWeights Weights => _weights;

    public PatchScores Score(FeatureBatch features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Dim != _dim)
            throw new PipelineException($"scoring.simplenet was trained on {_dim}-dimensional patch embeddings but got {features.Dim}; the feature extractor must match the one it was fitted with.");
        int n = features.PatchCount;
        var values = new float[n];
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        Parallel.For(0, chunks, () => (new float[_dim], new float[_hidden]), (chunk, _, buffers) =>
        {
            var (centred, act) = buffers;
            int end = Math.Min(n, (chunk + 1) * ChunkSize);
            for (int i = chunk * ChunkSize; i < end; i++) values[i] = -Discriminate(features.Patch(i), centred, act);
            return buffers;
        }, _ => { });

        int perImage = features.PatchesPerImage;
        var imageScores = new float[features.Count];
        if (perImage > 0)
            for (int i = 0; i < features.Count; i++) imageScores[i] = TensorPrimitives.Max<float>(values.AsSpan(i * perImage, perImage));
        return new PatchScores(features.Count, features.Height, features.Width, values, imageScores);
    }

    /// <summary>D(x) for one raw patch embedding.</summary>
    private float Discriminate(ReadOnlySpan<float> x, float[] centred, float[] act)
    {
        TensorPrimitives.Subtract(x, _weights.Mean, centred);
        for (int j = 0; j < _hidden; j++)
            act[j] = Kernels.Leaky(Kernels.Dot(_foldedWeight.AsSpan(j * _dim, _dim), centred) + _foldedBias[j], _slope);
        return Kernels.Dot(_weights.Fc2Weight, act) + _weights.Fc2Bias[0];
    }

    public void Save(IModelWriter state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int d = _dim, h = _hidden;
        state.WriteText("simplenet.json", JsonSerializer.Serialize(_header, SimpleNetHeader.Json));
        state.WriteTensor("scaling.mean", _weights.Mean, d);
        state.WriteTensor("scaling.inv_scale", _weights.InvScale, d);
        state.WriteTensor("adaptor.weight", _weights.AdaptorWeight, d, d);
        state.WriteTensor("adaptor.bias", _weights.AdaptorBias, d);
        state.WriteTensor("discriminator.fc1.weight", _weights.Fc1Weight, h, d);
        state.WriteTensor("discriminator.fc1.bias", _weights.Fc1Bias, h);
        state.WriteTensor("discriminator.fc2.weight", _weights.Fc2Weight, 1, h);
        state.WriteTensor("discriminator.fc2.bias", _weights.Fc2Bias, 1);
    }

    public static FittedSimpleNet Load(IModelReader state)
    {
        ArgumentNullException.ThrowIfNull(state);
        SimpleNetHeader header;
        try
        {
            header = JsonSerializer.Deserialize<SimpleNetHeader>(state.ReadText("simplenet.json"), SimpleNetHeader.Json)
                     ?? throw new PipelineException("scoring.simplenet: the model's simplenet.json is empty.");
        }
        catch (JsonException ex)
        {
            throw new PipelineException($"scoring.simplenet: the model's simplenet.json is not valid ({ex.Message}); re-fit the model.", ex);
        }
        if (header.Format != 1)
            throw new PipelineException($"scoring.simplenet: model format {header.Format} is not supported by this plugin version (expects 1); re-fit the model.");
        int d = header.Dim, h = header.Hidden;
        if (d < 1 || h < 1) throw new PipelineException($"scoring.simplenet: the model records dim {d} and hidden {h}; re-fit the model.");
        var weights = new SimpleNetWeights(
            Read(state, "scaling.mean", d), Read(state, "scaling.inv_scale", d),
            Read(state, "adaptor.weight", d, d), Read(state, "adaptor.bias", d),
            Read(state, "discriminator.fc1.weight", h, d), Read(state, "discriminator.fc1.bias", h),
            Read(state, "discriminator.fc2.weight", 1, h), Read(state, "discriminator.fc2.bias", 1));
        return new FittedSimpleNet(header, weights);
    }

    private static float[] Read(IModelReader state, string name, params int[] expected)
    {
        var data = state.ReadTensor(name, out int[] shape);
        if (!shape.AsSpan().SequenceEqual(expected) || data.Length != expected.Aggregate(1, (a, b) => a * b))
            throw new PipelineException($"scoring.simplenet: tensor '{name}' has shape [{string.Join(", ", shape)}], expected [{string.Join(", ", expected)}]; the model file is damaged or from another version — re-fit it.");
        return data;
    }
}
