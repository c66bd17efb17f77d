using System.Text;

namespace PipelineFramework.Tests.Support;

/// <summary>
/// A real, tiny ONNX backbone written as protobuf bytes: input "image" [N, 3, side, side], outputs "pool4" and "pool8"
/// (4 x 4 and 8 x 8 average pooling). Run by ONNX Runtime like any backbone, it makes tests that score thousands of rows
/// take seconds where MobileNetV2 would take minutes.
/// </summary>
public static class TinyOnnx
{
    public static string Write(string folder, int side = 64)
    {
        var path = Path.Combine(folder, $"tiny-pool-{side}.onnx");
        var graph = new List<byte>();
        graph.AddRange(Field(1, Node("image", "pool4", 4)));
        graph.AddRange(Field(1, Node("image", "pool8", 8)));
        graph.AddRange(Field(2, Encoding.UTF8.GetBytes("tiny")));
        graph.AddRange(Field(11, ValueInfo("image", side)));
        graph.AddRange(Field(12, ValueInfo("pool4", side / 4)));
        graph.AddRange(Field(12, ValueInfo("pool8", side / 8)));
        var model = new List<byte>();
        model.AddRange(Varint(1 << 3)); model.AddRange(Varint(7));                      // ir_version 7
        model.AddRange(Field(7, graph.ToArray()));
        model.AddRange(Field(8, [.. Field(1, []), .. Varint(2 << 3), .. Varint(13)]));  // opset "" 13
        File.WriteAllBytes(path, model.ToArray());
        return path;
    }

    static byte[] Node(string input, string output, int kernel) =>
    [
        .. Field(1, Encoding.UTF8.GetBytes(input)), .. Field(2, Encoding.UTF8.GetBytes(output)),
        .. Field(3, Encoding.UTF8.GetBytes(output)), .. Field(4, "AveragePool"u8.ToArray()),
        .. Field(5, Ints("kernel_shape", kernel)), .. Field(5, Ints("strides", kernel)),
    ];

    static byte[] Ints(string name, int value) =>
        [.. Field(1, Encoding.UTF8.GetBytes(name)), .. Varint(8 << 3), .. Varint(value), .. Varint(8 << 3), .. Varint(value), .. Varint(20 << 3), .. Varint(7)];

    static byte[] ValueInfo(string name, int side)
    {
        byte[] shape = [.. Field(1, Field(2, "N"u8.ToArray())), .. Field(1, Dim(3)), .. Field(1, Dim(side)), .. Field(1, Dim(side))];
        byte[] tensor = [.. Varint(1 << 3), .. Varint(1), .. Field(2, shape)];                 // elem_type FLOAT
        return [.. Field(1, Encoding.UTF8.GetBytes(name)), .. Field(2, Field(1, tensor))];
    }

    static byte[] Dim(int value) => [.. Varint(1 << 3), .. Varint(value)];

    static byte[] Field(int number, byte[] payload) => [.. Varint((number << 3) | 2), .. Varint(payload.Length), .. payload];

    static byte[] Varint(long value)
    {
        var bytes = new List<byte>();
        var v = (ulong)value;
        do
        {
            byte b = (byte)(v & 0x7F);
            v >>= 7;
            bytes.Add(v != 0 ? (byte)(b | 0x80) : b);
        } while (v != 0);
        return bytes.ToArray();
    }
}
