using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Features.Onnx;

public sealed record OnnxBackboneOptions : IValidatableOptions
{
    public const string BuiltinPrefix = "builtin:";
    public const string BuiltinMobileNet = "builtin:mobilenetv2-int8";

    /// <summary>An ONNX file path, or <c>builtin:mobilenetv2-int8</c> (shipped with this plugin).</summary>
    [NotSearched] public string Model { get; init; } = BuiltinMobileNet;
    /// <summary>Graph input name; null takes the model's first input.</summary>
    [NotSearched] public string? Input { get; init; }
    /// <summary>Output tensors [N,C,h,w] to compute, by name, in one pass.</summary>
    public string[] Layers { get; init; } = ["feat_f6_s8_32ch", "feat_f10_s16_64ch", "feat_f13_s16_96ch"];
    /// <summary>Images per ONNX Runtime call.</summary>
    [OptionRange(1, 256), NotSearched] public int BatchSize { get; init; } = 8;
    /// <summary>ONNX Runtime intra-op threads; 0 = one per core.</summary>
    [OptionRange(0, 1024), NotSearched] public int Threads { get; init; }

    public IEnumerable<OptionError> Validate()
    {
        if (string.IsNullOrWhiteSpace(Model)) yield return new("model", "must name an ONNX file or 'builtin:mobilenetv2-int8'");
        else if (Model.StartsWith(BuiltinPrefix, StringComparison.Ordinal) && Model != BuiltinMobileNet)
            yield return new("model", $"unknown built-in model '{Model}'; the built-in one is '{BuiltinMobileNet}'");
        if (Layers.Length == 0) yield return new("layers", "name at least one output tensor");
        if (Layers.Distinct().Count() != Layers.Length) yield return new("layers", "names a layer twice");
    }
}

/// <summary>
/// Any ONNX image backbone run with ONNX Runtime (CPU): returns the chosen intermediate layers of one pass. The graph
/// travels inside the model file, so a model scores the same wherever it is copied.
/// </summary>
[PipelineComponent("backbone.onnx", Description = "Layer maps of an ONNX backbone in one pass (built-in: MobileNetV2 int8)")]
public sealed class OnnxBackbone(OnnxBackboneOptions options) : IBackbone
{
    public OnnxBackboneOptions Options { get; } = options;

    public IFittedBackbone Fit(InputGeometry input, FitContext context) => new FittedOnnxBackbone(Options, input, ReadModel(Options.Model), context.Services);

    public IFittedBackbone Load(InputGeometry input, IModelReader state, FitContext context)
    {
        var bytes = state.ReadBytes("backbone.onnx");
        if (state.Contains("settings.json"))
        {
            SavedSettings? settings;
            try { settings = JsonSerializer.Deserialize<SavedSettings>(state.ReadText("settings.json")); }
            catch (JsonException e) { throw new PipelineException($"backbone.onnx: settings.json in the model file is not valid JSON ({e.Message}); the file is damaged. Copy it again or fit again.", e); }
            if (settings?.Sha256 is { Length: > 0 } sha && sha != Convert.ToHexStringLower(SHA256.HashData(bytes)))
                throw new PipelineException("backbone.onnx: the backbone graph in the model file does not match its recorded SHA-256; the file is damaged. Copy it again or fit again.");
        }
        return new FittedOnnxBackbone(Options, input, bytes, context.Services);
    }

    internal sealed record SavedSettings(string Model, string Sha256);

    static byte[] ReadModel(string model)
    {
        var path = ResolveModelPath(model);
        if (!File.Exists(path))
            throw new PipelineException(model.StartsWith(OnnxBackboneOptions.BuiltinPrefix, StringComparison.Ordinal)
                ? $"The built-in backbone is missing from the plugin folder ({path}); reinstall the Features.Onnx plugin."
                : $"backbone.onnx: model file '{path}' does not exist; set \"model\" to an ONNX file path or '{OnnxBackboneOptions.BuiltinMobileNet}'.");
        return File.ReadAllBytes(path);
    }

    public static string ResolveModelPath(string model) => model == OnnxBackboneOptions.BuiltinMobileNet
        ? Path.Combine(Path.GetDirectoryName(typeof(OnnxBackbone).Assembly.Location)!, "models", "mobilenetv2-12-int8-features.onnx")
        : Path.GetFullPath(model);
}

sealed class FittedOnnxBackbone : IFittedBackbone
{
    static int _warned;

    /// <summary>
    /// The backbone on the GPU through ONNX Runtime's CUDA provider, which only the opt-in build ships
    /// (<c>-p:OnnxRuntimeCuda=true</c>: Microsoft.ML.OnnxRuntime.Gpu.Linux, about 318 MB of native files, CUDA 13 + cuDNN 9).
    /// Anywhere else the backbone runs on the CPU, said once per process; the other kernels still use CUDA.
    /// </summary>
    static void UseCudaProvider(SessionOptions options, IComponentLog log)
    {
#if ONNXRUNTIME_CUDA
        try
        {
            options.AppendExecutionProvider_CUDA(0);
            return;
        }
        catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
        {
            if (Interlocked.Exchange(ref _warned, 1) == 0)
                log.Warning($"backbone.onnx: ONNX Runtime's CUDA provider did not start ({e.Message}); the backbone runs on the CPU.");
        }
#else
        if (Interlocked.Exchange(ref _warned, 1) == 0)
            log.Warning("backbone.onnx: this build of the features plugin has ONNX Runtime's CPU provider only, so the backbone runs on the CPU " +
                "(scoring and maps use CUDA). Build plugins/Features.Onnx with -p:OnnxRuntimeCuda=true for the GPU backbone.");
#endif
    }

    readonly OnnxBackboneOptions _options;
    readonly InputGeometry _input;
    readonly byte[] _modelBytes;
    readonly InferenceSession _session;
    // Held for the session's lifetime: options created inline per call can be finalised while native Run still
    // uses it (a use-after-free we hit as a segfault under GC pressure).
    readonly RunOptions _runOptions = new();
    readonly SessionOptions _sessionOptions;
    readonly string _inputName;
    readonly int _runHeight, _runWidth;
    readonly Tiling? _tiling;
    /// <summary>The layers of one graph run (one tile when tiled).</summary>
    readonly IReadOnlyList<LayerInfo> _runLayers = [];

    public FittedOnnxBackbone(OnnxBackboneOptions options, InputGeometry input, byte[] modelBytes, HostServices services)
    {
        _options = options;
        _input = input;
        _modelBytes = modelBytes;
        _sessionOptions = new SessionOptions
        {
            IntraOpNumThreads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        if (services.Device == ComputeDevice.Cuda) UseCudaProvider(_sessionOptions, services.Log);
        try
        {
            _session = new InferenceSession(modelBytes, _sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            _sessionOptions.Dispose();
            throw new PipelineException($"backbone.onnx: ONNX Runtime cannot load '{options.Model}': {e.Message}", e);
        }
        try
        {
            _inputName = options.Input ?? _session.InputNames[0];
            if (!_session.InputMetadata.ContainsKey(_inputName))
                throw new PipelineException($"backbone.onnx: the model has no input '{_inputName}'; its inputs: {string.Join(", ", _session.InputNames)}.");
            var expected = _session.InputMetadata[_inputName].Dimensions;
            if (expected.Length == 4 && expected[1] > 0 && expected[1] != input.Channels)
                throw new PipelineException($"backbone.onnx: the backbone takes {expected[1]}-channel images but the pipeline's input has {input.Channels}.");
            // A graph with a fixed size runs on tiles of that size when the input is larger (Tiling).
            _runHeight = expected.Length == 4 && expected[2] > 0 ? (int)expected[2] : input.Height;
            _runWidth = expected.Length == 4 && expected[3] > 0 ? (int)expected[3] : input.Width;
            foreach (var layer in options.Layers)
            {
                if (!_session.OutputMetadata.ContainsKey(layer))
                    throw new PipelineException($"backbone.onnx: the model has no output '{layer}'; its outputs: {string.Join(", ", _session.OutputNames)}.");
            }
            // One probe image tells the layer shapes (spatial dims are often symbolic in the graph).
            var probe = new ImageTensor(input.Channels, _runHeight, _runWidth, new float[input.Channels * _runHeight * _runWidth]);
            _runLayers = RunBatch([probe]).Layers;
            if (_runHeight != input.Height || _runWidth != input.Width) _tiling = Tiling.Plan(input, _runHeight, _runWidth, _runLayers);
            Layers = _tiling?.Layers ?? _runLayers;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public IReadOnlyList<LayerInfo> Layers { get; private set; } = [];

    public LayerMaps Run(IReadOnlyList<ImageTensor> images)
    {
        foreach (var image in images)
        {
            if (image.Channels != _input.Channels || image.Height != _input.Height || image.Width != _input.Width)
                throw new PipelineException($"backbone.onnx: got a {image.Channels}x{image.Height}x{image.Width} image; the pipeline input is {_input.Channels}x{_input.Height}x{_input.Width}.");
        }
        return _tiling is null ? RunUntiled(images) : _tiling.Stitch(RunUntiled(_tiling.Cut(images)));
    }

    LayerMaps RunUntiled(IReadOnlyList<ImageTensor> images)
    {
        var parts = new List<LayerMaps>();
        for (int start = 0; start < images.Count; start += _options.BatchSize)
            parts.Add(RunBatch(images.Skip(start).Take(_options.BatchSize).ToList()));
        return parts.Count == 0 ? new LayerMaps(0, _runLayers, _runLayers.Select(_ => Array.Empty<float>()).ToArray()) : LayerMaps.Concat(parts, _runLayers);
    }

    LayerMaps RunBatch(IReadOnlyList<ImageTensor> images)
    {
        int c = _input.Channels, h = _runHeight, w = _runWidth, plane = h * w;
        var input = new float[images.Count * c * plane];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images[i];
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
        var layers = new List<LayerInfo>(outputs.Count);
        var data = new List<float[]>(outputs.Count);
        foreach (var output in outputs)
        {
            var shape = output.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();
            var name = _options.Layers[layers.Count];
            if (shape.Length != 4)
                throw new PipelineException($"backbone.onnx: output '{name}' has shape [{string.Join(",", shape)}]; feature layers must be [N,C,H,W].");
            layers.Add(new LayerInfo { Name = name, Channels = shape[1], Height = shape[2], Width = shape[3] });
            data.Add(output.GetTensorDataAsSpan<float>().ToArray());
        }
        return new LayerMaps(images.Count, layers, data);
    }

    public void Save(IModelWriter state)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(_modelBytes));
        state.WriteText("settings.json", JsonSerializer.Serialize(new OnnxBackbone.SavedSettings(_options.Model, sha)));
        state.WriteBytes("backbone.onnx", _modelBytes);
    }

    public void Dispose()
    {
        _session?.Dispose();
        _runOptions.Dispose();
        _sessionOptions.Dispose();
    }
}
