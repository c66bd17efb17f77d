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
