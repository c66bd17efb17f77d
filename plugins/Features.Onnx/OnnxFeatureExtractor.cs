using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using PipelineFramework.Abstractions;
using PipelineFramework.Compute;

namespace PipelineFramework.Features.Onnx;

public enum DimensionReduction
{
    /// <summary>Keep every channel of every chosen layer.</summary>
    None,
    /// <summary>Seeded Gaussian random projection to <see cref="OnnxFeatureOptions.TargetDim"/>.</summary>
    Projection,
    /// <summary>Average adjacent channels down to <see cref="OnnxFeatureOptions.TargetDim"/> (PatchCore's adaptive pooling).</summary>
    Pool,
}

public sealed record OnnxFeatureOptions : IValidatableOptions
{
    public const string BuiltinPrefix = "builtin:";
    public const string BuiltinMobileNet = "builtin:mobilenetv2-int8";

    /// <summary>An ONNX file path, or <c>builtin:mobilenetv2-int8</c> (shipped with this plugin).</summary>
    public string Model { get; init; } = BuiltinMobileNet;
    /// <summary>Graph input name; null takes the model's first input.</summary>
    public string? Input { get; init; }
    /// <summary>Output tensors [N,C,h,w] to use, by name; each is upsampled to the finest grid among them and concatenated.</summary>
    public string[] Layers { get; init; } = ["feat_f6_s8_32ch", "feat_f10_s16_64ch", "feat_f13_s16_96ch"];
    /// <summary>Local neighbourhood aggregation: mean over a PatchSize x PatchSize window per layer (PatchCore uses 3; 1 = off).</summary>
    public int PatchSize { get; init; } = 3;
    public DimensionReduction Reduction { get; init; } = DimensionReduction.None;
    /// <summary>Embedding size after reduction (ignored when Reduction is none).</summary>
    public int TargetDim { get; init; } = 128;
    /// <summary>Images per ONNX Runtime call.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>ONNX Runtime intra-op threads; 0 = one per core.</summary>
    public int Threads { get; init; }

    public IEnumerable<OptionError> Validate()
    {
        if (string.IsNullOrWhiteSpace(Model)) yield return new("model", "must name an ONNX file or 'builtin:mobilenetv2-int8'");
        else if (Model.StartsWith(BuiltinPrefix, StringComparison.Ordinal) && Model != BuiltinMobileNet)
            yield return new("model", $"unknown built-in model '{Model}'; the built-in one is '{BuiltinMobileNet}'");
        if (Layers.Length == 0) yield return new("layers", "name at least one output tensor");
        if (PatchSize < 1 || PatchSize % 2 == 0) yield return new("patchSize", "must be an odd number >= 1");
        if (Reduction != DimensionReduction.None && TargetDim < 1) yield return new("targetDim", "must be >= 1");
        if (BatchSize < 1) yield return new("batchSize", "must be >= 1");
        if (Threads < 0) yield return new("threads", "must be >= 0 (0 = one per core)");
    }
}

/// <summary>
/// Patch embeddings from any ONNX backbone: chosen layers, each averaged over a local neighbourhood, upsampled to a
/// common grid and concatenated (PatchCore's "locally aware patch features"), optionally reduced.
/// </summary>
[PipelineComponent("features.onnx", Description = "Patch embeddings from ONNX backbone layers (built-in: MobileNetV2 int8)")]
public sealed class OnnxFeatureExtractor(OnnxFeatureOptions options) : IFeatureExtractor
{
    public OnnxFeatureOptions Options { get; } = options;

    public IFittedFeatureExtractor Fit(InputGeometry input, FitContext context)
    {
        var modelBytes = ReadModel(Options.Model);
        return new FittedOnnxFeatureExtractor(Options, input, modelBytes, context.Seed);
    }

    public IFittedFeatureExtractor Load(InputGeometry input, IModelReader state, FitContext context)
    {
        var settings = JsonSerializer.Deserialize<SavedSettings>(state.ReadText("settings.json"))
            ?? throw new PipelineException("features/settings.json is empty.");
        return new FittedOnnxFeatureExtractor(Options, input, state.ReadBytes("backbone.onnx"), settings.Seed);
    }

    internal sealed record SavedSettings(int Seed, string Model, string Sha256);

    static byte[] ReadModel(string model)
    {
        var path = ResolveModelPath(model);
        if (!File.Exists(path))
            throw new PipelineException(model.StartsWith(OnnxFeatureOptions.BuiltinPrefix, StringComparison.Ordinal)
                ? $"The built-in backbone is missing from the plugin folder ({path}); reinstall the features.onnx plugin."
                : $"features.onnx: model file '{path}' does not exist; set \"model\" to an ONNX file path or '{OnnxFeatureOptions.BuiltinMobileNet}'.");
        return File.ReadAllBytes(path);
    }

    public static string ResolveModelPath(string model) => model == OnnxFeatureOptions.BuiltinMobileNet
        ? Path.Combine(Path.GetDirectoryName(typeof(OnnxFeatureExtractor).Assembly.Location)!, "models", "mobilenetv2-12-int8-features.onnx")
        : Path.GetFullPath(model);
}

sealed class FittedOnnxFeatureExtractor : IFittedFeatureExtractor
{
    readonly OnnxFeatureOptions _options;
    readonly InputGeometry _input;
    readonly byte[] _modelBytes;
    readonly int _seed;
    readonly InferenceSession _session;
    // Held for the session's lifetime: options created inline per call can be finalised while native Run still
    // uses it (a use-after-free we hit as a segfault under GC pressure).
    readonly RunOptions _runOptions = new();
    readonly SessionOptions _sessionOptions;
    readonly string _inputName;
    readonly (int Channels, int Height, int Width)[] _layerShapes;
    readonly int _gridHeight, _gridWidth, _concatDim;
    readonly float[]? _projection;

    public FittedOnnxFeatureExtractor(OnnxFeatureOptions options, InputGeometry input, byte[] modelBytes, int seed)
    {
        _options = options;
        _input = input;
        _modelBytes = modelBytes;
        _seed = seed;
        _sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        try
        {
            _session = new InferenceSession(modelBytes, _sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new PipelineException($"features.onnx: ONNX Runtime cannot load '{options.Model}': {e.Message}", e);
        }
        _inputName = options.Input ?? _session.InputNames[0];
        if (!_session.InputMetadata.ContainsKey(_inputName))
            throw new PipelineException($"features.onnx: the model has no input '{_inputName}'; its inputs: {string.Join(", ", _session.InputNames)}.");
        var expected = _session.InputMetadata[_inputName].Dimensions;
        if (expected.Length == 4 && ((expected[1] > 0 && expected[1] != input.Channels) || (expected[2] > 0 && expected[2] != input.Height) || (expected[3] > 0 && expected[3] != input.Width)))
            throw new PipelineException($"features.onnx: the backbone takes {expected[1]}x{expected[2]}x{expected[3]} images but the pipeline's input is " +
                $"{input.Channels}x{input.Height}x{input.Width}; set \"input\": {{ \"crop\": {expected[2]} }} (and a size of at least that).");
        foreach (var layer in options.Layers)
        {
            if (!_session.OutputMetadata.ContainsKey(layer))
                throw new PipelineException($"features.onnx: the model has no output '{layer}'; its outputs: {string.Join(", ", _session.OutputNames)}.");
        }

        // One probe image tells the layer shapes (spatial dims are often symbolic in the graph).
        var probe = new ImageTensor(input.Channels, input.Height, input.Width, new float[input.Channels * input.Height * input.Width]);
        _layerShapes = RunBackbone([probe]).Select(o => (o.Shape[1], o.Shape[2], o.Shape[3])).ToArray();
        _gridHeight = _layerShapes.Max(s => s.Height);
        _gridWidth = _layerShapes.Max(s => s.Width);
        _concatDim = _layerShapes.Sum(s => s.Channels);
        if (options.Reduction == DimensionReduction.Projection)
            _projection = RandomProjection.CreateMatrix(_concatDim, options.TargetDim, seed);
    }

    public (int Height, int Width, int Dim) OutputShape =>
        (_gridHeight, _gridWidth, _options.Reduction == DimensionReduction.None ? _concatDim : _options.TargetDim);

    public FeatureBatch Extract(IReadOnlyList<ImageTensor> images)
    {
        var (h, w, dim) = OutputShape;
        int perImage = h * w * dim;
        var data = new float[(long)images.Count * perImage];
        for (int start = 0; start < images.Count; start += _options.BatchSize)
        {
            int count = Math.Min(_options.BatchSize, images.Count - start);
            var layers = RunBackbone(images.Skip(start).Take(count).ToList());
            Parallel.For(0, count, i => Embed(layers, i, data.AsSpan((start + i) * perImage, perImage)));
        }
        return new FeatureBatch(images.Count, h, w, dim, data);
    }

    /// <summary>One image: aggregate each layer, upsample to the grid, write channels-last, then reduce.</summary>
    void Embed(IReadOnlyList<LayerOutput> layers, int image, Span<float> destination)
    {
        int positions = _gridHeight * _gridWidth;
        var concat = new float[positions * _concatDim];
        int channelOffset = 0;
        foreach (var layer in layers)
        {
            int c = layer.Shape[1], lh = layer.Shape[2], lw = layer.Shape[3];
            var planes = layer.Data.AsSpan(image * c * lh * lw, c * lh * lw);
            var aggregated = _options.PatchSize > 1 ? MapOps.BoxFilterChw(planes, c, lh, lw, _options.PatchSize) : planes.ToArray();
            for (int ch = 0; ch < c; ch++)
            {
                var plane = aggregated.AsSpan(ch * lh * lw, lh * lw);
                var grid = lh == _gridHeight && lw == _gridWidth ? plane.ToArray() : MapOps.ResizeBilinear(plane, lh, lw, _gridHeight, _gridWidth);
                int column = channelOffset + ch;
                for (int p = 0; p < positions; p++) concat[p * _concatDim + column] = grid[p];
            }
            channelOffset += c;
        }
        switch (_options.Reduction)
        {
            case DimensionReduction.None:
                concat.CopyTo(destination);
                break;
            case DimensionReduction.Projection:
                RandomProjection.Project(concat, positions, _concatDim, _projection!, _options.TargetDim).CopyTo(destination);
                break;
            case DimensionReduction.Pool:
                MapOps.AdaptiveAvgPoolLastDim(concat, positions, _concatDim, _options.TargetDim).CopyTo(destination);
                break;
        }
    }

    sealed record LayerOutput(float[] Data, int[] Shape);

    List<LayerOutput> RunBackbone(IReadOnlyList<ImageTensor> images)
    {
        int c = _input.Channels, h = _input.Height, w = _input.Width, plane = h * w;
        var input = new float[images.Count * c * plane];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
            if (image.Channels != c || image.Height != h || image.Width != w)
                throw new PipelineException($"features.onnx: got a {image.Channels}x{image.Height}x{image.Width} image; the pipeline input is {c}x{h}x{w}.");
            for (int ch = 0; ch < c; ch++)
            {
                float scale = 1f / _input.Std[ch], shift = -_input.Mean[ch] / _input.Std[ch];
                var source = image.Plane(ch);
                var target = input.AsSpan((i * c + ch) * plane, plane);
                for (int p = 0; p < plane; p++) target[p] = source[p] * scale + shift;
            }
        }
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, [images.Count, c, h, w]);
        using var outputs = _session.Run(_runOptions, [_inputName], [inputValue], _options.Layers);
        var result = new List<LayerOutput>(outputs.Count);
        foreach (var output in outputs)
        {
            var shape = output.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();
            if (shape.Length != 4)
                throw new PipelineException($"features.onnx: output '{_options.Layers[result.Count]}' has shape [{string.Join(",", shape)}]; feature layers must be [N,C,H,W].");
            result.Add(new LayerOutput(output.GetTensorDataAsSpan<float>().ToArray(), shape));
        }
        return result;
    }

    public void Save(IModelWriter state)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(_modelBytes));
        state.WriteText("settings.json", JsonSerializer.Serialize(new OnnxFeatureExtractor.SavedSettings(_seed, _options.Model, sha)));
        // The backbone travels inside the model file, so a model scores the same wherever it is copied.
        state.WriteBytes("backbone.onnx", _modelBytes);
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
        _sessionOptions.Dispose();
    }
}
