using PipelineFramework.Abstractions;

namespace PipelineFramework.Tests.Support;

/// <summary>A model file in a dictionary: what a component writes, it reads back (copies, so nothing is shared).</summary>
internal sealed class MemoryModelStore : IModelWriter, IModelReader
{
    private readonly Dictionary<string, (float[] Data, int[] Shape)> _tensors = new();
    private readonly Dictionary<string, byte[]> _bytes = new();
    private readonly Dictionary<string, string> _texts = new();

    public IReadOnlyCollection<string> TensorNames => _tensors.Keys;

    public void WriteTensor(string name, ReadOnlySpan<float> data, params int[] shape)
    {
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (expected != data.Length) throw new ArgumentException($"Tensor '{name}': {data.Length} values for shape [{string.Join(", ", shape)}].");
        _tensors[name] = (data.ToArray(), (int[])shape.Clone());
    }

    public void WriteBytes(string name, ReadOnlySpan<byte> data) => _bytes[name] = data.ToArray();
    public void WriteText(string name, string text) => _texts[name] = text;

    public bool Contains(string name) => _tensors.ContainsKey(name) || _bytes.ContainsKey(name) || _texts.ContainsKey(name);

    public float[] ReadTensor(string name, out int[] shape)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new PipelineException($"Model entry '{name}' is missing.");
        shape = (int[])t.Shape.Clone();
        return (float[])t.Data.Clone();
    }

    public byte[] ReadBytes(string name) =>
        _bytes.TryGetValue(name, out var b) ? (byte[])b.Clone() : throw new PipelineException($"Model entry '{name}' is missing.");

    public string ReadText(string name) =>
        _texts.TryGetValue(name, out var t) ? t : throw new PipelineException($"Model entry '{name}' is missing.");

    public void Replace(string name, float[] data, int[] shape) => _tensors[name] = (data, shape);
}
