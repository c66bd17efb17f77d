namespace PipelineFramework.Abstractions;

/// <summary>
/// An image after decoding, resizing and cropping: planar (CHW) float values in [0, 1], RGB order, not yet normalised.
/// </summary>
public sealed class ImageTensor
{
    public ImageTensor(int channels, int height, int width, float[] pixels)
    {
        if (channels <= 0 || height <= 0 || width <= 0) throw new ArgumentException($"Image shape {channels}x{height}x{width} is empty.");
        if (pixels.Length != channels * height * width)
            throw new ArgumentException($"Image buffer holds {pixels.Length} values; shape {channels}x{height}x{width} needs {channels * height * width}.");
        Channels = channels; Height = height; Width = width; Pixels = pixels;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    /// <summary>Plane c, row y, column x is at <c>(c * Height + y) * Width + x</c>.</summary>
    public float[] Pixels { get; }

    public Span<float> Plane(int channel) => Pixels.AsSpan(channel * Height * Width, Height * Width);
    public ImageTensor Clone() => new(Channels, Height, Width, (float[])Pixels.Clone());
}

/// <summary>A single-channel float grid, row-major: anomaly maps, patch scores, masks (1 = defect).</summary>
public sealed class Grid2D
{
    public Grid2D(int height, int width, float[] values)
    {
        if (values.Length != height * width) throw new ArgumentException($"Grid buffer holds {values.Length} values; {height}x{width} needs {height * width}.");
        Height = height; Width = width; Values = values;
    }

    public Grid2D(int height, int width) : this(height, width, new float[height * width]) { }

    public int Height { get; }
    public int Width { get; }
    public float[] Values { get; }
    public float this[int y, int x] { get => Values[y * Width + x]; set => Values[y * Width + x] = value; }
}

/// <summary>
/// Patch embeddings of a batch of images: <c>[Count, Height, Width, Dim]</c>, each patch's vector contiguous, so that
/// a batch is directly a (Count*Height*Width) x Dim matrix for nearest-neighbour search and Gaussian statistics.
/// </summary>
public sealed class FeatureBatch
{
    public FeatureBatch(int count, int height, int width, int dim, float[] data)
    {
        if ((long)count * height * width * dim != data.Length)
            throw new ArgumentException($"Feature buffer holds {data.Length} values; {count}x{height}x{width}x{dim} needs {(long)count * height * width * dim}.");
        Count = count; Height = height; Width = width; Dim = dim; Data = data;
    }

    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public int Dim { get; }
    public float[] Data { get; }
    public int PatchesPerImage => Height * Width;
    public int PatchCount => Count * Height * Width;

    public ReadOnlySpan<float> Image(int index) => Data.AsSpan(index * PatchesPerImage * Dim, PatchesPerImage * Dim);
    public ReadOnlySpan<float> Patch(int index) => Data.AsSpan(index * Dim, Dim);
}

/// <summary>Per-patch anomaly scores <c>[Count, Height, Width]</c> and one score per image.</summary>
public sealed class PatchScores
{
    public PatchScores(int count, int height, int width, float[] values, float[] imageScores)
    {
        if (values.Length != count * height * width) throw new ArgumentException("Patch score buffer does not match its shape.");
        if (imageScores.Length != count) throw new ArgumentException("One image score per image is needed.");
        Count = count; Height = height; Width = width; Values = values; ImageScores = imageScores;
    }

    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Values { get; }
    public float[] ImageScores { get; }

    public Grid2D Map(int index) => new(Height, Width, Values.AsSpan(index * Height * Width, Height * Width).ToArray());
}

/// <summary>One named backbone layer's map shape for one image: channels, height, width.</summary>
public sealed record LayerInfo
{
    public required string Name { get; init; }
    public required int Channels { get; init; }
    public required int Height { get; init; }
    public required int Width { get; init; }
    public int ValuesPerImage => Channels * Height * Width;
}

/// <summary>
/// Backbone output for a batch of images: for each layer a planar <c>[Count, Channels, Height, Width]</c> buffer.
/// </summary>
public sealed class LayerMaps
{
    public LayerMaps(int count, IReadOnlyList<LayerInfo> layers, IReadOnlyList<float[]> data)
    {
        if (layers.Count != data.Count) throw new ArgumentException($"{layers.Count} layers but {data.Count} buffers.");
        for (int i = 0; i < layers.Count; i++)
            if ((long)count * layers[i].ValuesPerImage != data[i].Length)
                throw new ArgumentException($"Layer '{layers[i].Name}' buffer holds {data[i].Length} values; {count} images need {(long)count * layers[i].ValuesPerImage}.");
        Count = count; Layers = layers; Data = data;
    }

    public int Count { get; }
    public IReadOnlyList<LayerInfo> Layers { get; }
    public IReadOnlyList<float[]> Data { get; }

    /// <summary>One image's planes of one layer.</summary>
    public ReadOnlySpan<float> Image(int layer, int image) =>
        Data[layer].AsSpan(image * Layers[layer].ValuesPerImage, Layers[layer].ValuesPerImage);

    /// <summary>A copy of the given images, in the given order (a split, a reordering).</summary>
    public LayerMaps Gather(IReadOnlyList<int> images)
    {
        var data = new float[Layers.Count][];
        for (int l = 0; l < Layers.Count; l++)
        {
            int size = Layers[l].ValuesPerImage;
            data[l] = new float[(long)images.Count * size];
            for (int i = 0; i < images.Count; i++) Data[l].AsSpan(images[i] * size, size).CopyTo(data[l].AsSpan(i * size, size));
        }
        return new LayerMaps(images.Count, Layers, data);
    }

    /// <summary>Batches of the same layers, one after another.</summary>
    public static LayerMaps Concat(IReadOnlyList<LayerMaps> parts, IReadOnlyList<LayerInfo> layers)
    {
        if (parts.Count == 1) return parts[0];
        int total = parts.Sum(p => p.Count);
        var data = new float[layers.Count][];
        for (int l = 0; l < layers.Count; l++)
        {
            data[l] = new float[(long)total * layers[l].ValuesPerImage];
            int offset = 0;
            foreach (var part in parts)
            {
                part.Data[l].CopyTo(data[l], offset);
                offset += part.Data[l].Length;
            }
        }
        return new LayerMaps(total, layers, data);
    }

    public long SizeInBytes => Data.Sum(d => (long)d.Length) * sizeof(float);
}
