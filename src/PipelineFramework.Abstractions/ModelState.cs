namespace PipelineFramework.Abstractions;

/// <summary>
/// Where a fitted component writes its state inside the model file. Names are relative to the component;
/// the host prefixes them with the stage, so two components never collide.
/// </summary>
public interface IModelWriter
{
    void WriteTensor(string name, ReadOnlySpan<float> data, params int[] shape);
    void WriteBytes(string name, ReadOnlySpan<byte> data);
    /// <summary>Small JSON or text documents (fitted constants, vocabularies).</summary>
    void WriteText(string name, string text);
}

/// <summary>Reads what <see cref="IModelWriter"/> wrote. Missing entries throw <see cref="PipelineException"/>.</summary>
public interface IModelReader
{
    bool Contains(string name);
    float[] ReadTensor(string name, out int[] shape);
    byte[] ReadBytes(string name);
    string ReadText(string name);
}
