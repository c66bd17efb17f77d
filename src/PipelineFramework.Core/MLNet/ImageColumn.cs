using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.MLNet;

/// <summary>The three ways an ML.NET app holds an image in a column.</summary>
public enum ImageColumnKind
{
    /// <summary>Text: a file path.</summary>
    Path,
    /// <summary>A byte vector of encoded PNG / JPEG / BMP bytes (<c>byte[]</c>, or <c>LoadRawImageBytes</c>).</summary>
    EncodedBytes,
    /// <summary><c>MLImage</c> from <c>LoadImages</c> or an app's own <c>MLImage.CreateFromPixels</c>.</summary>
    Image,
    /// <summary>A float vector holding a feature map [C, h, w] (a pipeline whose backbone is <c>backbone.features</c>).</summary>
    Features,
}

/// <summary>
/// Reads an image column of any supported kind into <see cref="ImageSource"/>s, so one engine path scores them all.
/// Paths and bytes go through the same decoder as files; an <c>MLImage</c> arrives decoded, so its pixels are turned
/// into the same [0, 1] planes the decoder makes (same arithmetic), and the same image gives the same bits.
/// </summary>
public static class ImageColumn
{
    public static ImageColumnKind KindOf(DataViewSchema schema, string columnName)
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new PipelineException($"The data view has no column '{columnName}'; columns: {string.Join(", ", schema.Select(c => c.Name))}. "
                + "Name the image column with the imageColumnName argument.");
        return KindOf(column.Type)
            ?? throw new PipelineException($"Column '{columnName}' is {column.Type}; an image column must be text (file paths), "
                + "a byte vector of encoded images (byte[] or mlContext.Transforms.LoadRawImageBytes) or an MLImage (mlContext.Transforms.LoadImages).");
    }

    internal static ImageColumnKind? KindOf(DataViewType type) => type switch
    {
        TextDataViewType => ImageColumnKind.Path,
        VectorDataViewType { ItemType: var item } when item == NumberDataViewType.Byte => ImageColumnKind.EncodedBytes,
        ImageDataViewType => ImageColumnKind.Image,
        _ => null,
    };

    /// <summary>
    /// A reader of the current row's image (or, with <paramref name="features"/>, its feature map of that shape); the
    /// value is copied now, so the row may move on.
    /// </summary>
    public static Func<ImageSource> Reader(DataViewRow row, DataViewSchema.Column column, LayerInfo? features = null)
    {
        if (features is not null)
        {
            FeatureFitting.ShapeOf(column);
            var getter = row.GetGetter<VBuffer<float>>(column);
            VBuffer<float> value = default;
            return () =>
            {
                getter(ref value);
                string id = RowId(row, column);
                return FeatureFitting.Source(id, FeatureFitting.ToTensor(value, features, id));
            };
        }
        switch (KindOf(row.Schema, column.Name))
        {
            case ImageColumnKind.Path:
            {
                var getter = row.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> value = default;
                return () =>
                {
                    getter(ref value);
                    if (value.Span.IsWhiteSpace()) throw new PipelineException($"{RowId(row, column)} is empty; every row must hold an image file path.");
                    return ImageSource.FromFile(value.ToString());
                };
            }
            case ImageColumnKind.EncodedBytes:
            {
                var getter = row.GetGetter<VBuffer<byte>>(column);
                VBuffer<byte> value = default;
                return () =>
                {
                    getter(ref value);
                    return ImageSource.FromBytes(RowId(row, column), value.DenseValues().ToArray());
                };
            }
            default:
            {
                var getter = row.GetGetter<MLImage>(column);
                MLImage value = null!;
                return () =>
                {
                    getter(ref value);
                    string id = RowId(row, column);
                    if (value is null) throw new PipelineException($"{id} has no image (the image loader gave none); check the image paths.");
                    return ImageSource.FromPixels(id, ToTensor(value, id));
                };
            }
        }
    }

    /// <summary>
    /// The columns that tell the current row from the others cheaply, to check that two cursors over a view are on the
    /// same row. A path or encoded bytes are the image itself. An MLImage or a feature map is not read twice (its
    /// getter may decode a file or run a network), so the row is told by its text, number and byte columns instead
    /// (the path LoadImages read, a frame id); only a view without such columns has its image column read twice.
    /// </summary>
    internal static IReadOnlyList<DataViewSchema.Column> RowIdentity(DataViewSchema schema, DataViewSchema.Column image)
    {
        if (KindOf(image.Type) is ImageColumnKind.Path or ImageColumnKind.EncodedBytes) return [image];
        var cheap = schema.Where(c => !c.IsHidden && IsCheapToRead(c.Type)).ToList();
        return cheap.Count > 0 ? cheap : [image];
    }

    static bool IsCheapToRead(DataViewType type) =>
        type is TextDataViewType or NumberDataViewType or BooleanDataViewType
        || type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Byte;

    /// <summary>A hash of the current row's <see cref="RowIdentity"/> columns.</summary>
    internal static Func<int> Fingerprint(DataViewRow row, IReadOnlyList<DataViewSchema.Column> columns)
    {
        var prints = columns.Select(column => ValuePrint(row, column)).ToArray();
        return () =>
        {
            var hash = new HashCode();
            foreach (var print in prints) hash.Add(print());
            return hash.ToHashCode();
        };
    }

    static Func<int> ValuePrint(DataViewRow row, DataViewSchema.Column column)
    {
        switch (column.Type)
        {
            case TextDataViewType:
            {
                var getter = row.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> value = default;
                return () =>
                {
                    getter(ref value);
                    return string.GetHashCode(value.Span);
                };
            }
            case VectorDataViewType { ItemType: var item } when item == NumberDataViewType.Byte:
                return VectorPrint<byte>(row, column);
            case VectorDataViewType { ItemType: var item } when item == NumberDataViewType.Single:
                return VectorPrint<float>(row, column);
            case ImageDataViewType:
            {
                var getter = row.GetGetter<MLImage>(column);
                MLImage value = null!;
                return () =>
                {
                    getter(ref value);
                    if (value is null) return 0;
                    var hash = new HashCode();
                    hash.AddBytes(PixelBytes(value).Bytes);
                    return hash.ToHashCode();
                };
            }
            default:
                return (Func<int>)ScalarPrintMethod.MakeGenericMethod(column.Type.RawType).Invoke(null, [row, column])!;
        }
    }

    static Func<int> VectorPrint<T>(DataViewRow row, DataViewSchema.Column column) where T : unmanaged
    {
        var getter = row.GetGetter<VBuffer<T>>(column);
        VBuffer<T> value = default;
        return () =>
        {
            getter(ref value);
            var hash = new HashCode();
            hash.Add(value.Length);
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.IsDense ? value.GetValues() : value.DenseValues().ToArray()));
            return hash.ToHashCode();
        };
    }

    static readonly System.Reflection.MethodInfo ScalarPrintMethod =
        typeof(ImageColumn).GetMethod(nameof(ScalarPrint), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;

    static Func<int> ScalarPrint<T>(DataViewRow row, DataViewSchema.Column column)
    {
        var getter = row.GetGetter<T>(column);
        T value = default!;
        return () =>
        {
            getter(ref value);
            return value is null ? 0 : EqualityComparer<T>.Default.GetHashCode(value);
        };
    }

    static string RowId(DataViewRow row, DataViewSchema.Column column) => $"row {row.Position} of column '{column.Name}'";

    // ML.NET 5.0.1's MLImage.Pixels calls SKBitmap.GetPixelSpan() as SkiaSharp 2 declared it; SkiaSharp 3 (the
    // solution's pin) changed its signature, so the property throws MissingMethodException. The bitmap MLImage wraps
    // is read directly instead; Pixels stays the fallback for an ML.NET that fixes it.
    static readonly System.Reflection.FieldInfo? BitmapField = typeof(MLImage)
        .GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
        .FirstOrDefault(f => f.FieldType == typeof(SkiaSharp.SKBitmap));

    /// <summary>The pixel bytes, and whether Skia holds them multiplied by their alpha (what <c>MLImage.Pixels</c> gives too).</summary>
    static (byte[] Bytes, bool Premultiplied) PixelBytes(MLImage image) =>
        BitmapField?.GetValue(image) is SkiaSharp.SKBitmap bitmap
            ? (bitmap.Bytes, bitmap.AlphaType == SkiaSharp.SKAlphaType.Premul)
            : (image.Pixels.ToArray(), true);

    /// <summary>
    /// Interleaved 8-bit RGBA / BGRA to planar RGB in [0, 1], as <see cref="ImageLoader.Decode"/> does it. The decoder
    /// keeps a pixel's colour whatever its alpha; ML.NET's <c>LoadImages</c> stores a PNG with transparency multiplied
    /// by its alpha, which loses the colour under it. Such an image is refused rather than scored differently from its
    /// file (measured: raw score 5.00 against 4.03 for the same hazelnut PNG).
    /// </summary>
    public static ImageTensor ToTensor(MLImage image, string? id = null)
    {
        var (r, g, b) = image.PixelFormat switch
        {
            MLPixelFormat.Rgba32 => (0, 1, 2),
            MLPixelFormat.Bgra32 => (2, 1, 0),
            _ => throw new PipelineException($"MLImage pixel format {image.PixelFormat} is not supported; use Rgba32 or Bgra32."),
        };
        int width = image.Width, height = image.Height, plane = width * height;
        var (source, premultiplied) = PixelBytes(image);
        if (source.Length != 4 * plane)
            throw new PipelineException($"MLImage of {width} x {height} holds {source.Length} bytes; 4 per pixel were expected.");
        if (premultiplied && HasTransparency(source))
            throw new PipelineException($"{id ?? "An MLImage"} has transparent pixels, and ML.NET's image loader stored their colours multiplied "
                + "by their alpha, so the colours under them are lost and the score would differ from scoring the file. Give the image "
                + "column as file paths, or as encoded bytes (mlContext.Transforms.LoadRawImageBytes), instead of LoadImages.");
        const float scale = 1f / 255f;
        var pixels = new float[3 * plane];
        for (int i = 0, o = 0; i < plane; i++, o += 4)
        {
            pixels[i] = source[o + r] * scale;
            pixels[plane + i] = source[o + g] * scale;
            pixels[2 * plane + i] = source[o + b] * scale;
        }
        return new ImageTensor(3, height, width, pixels);
    }

    static bool HasTransparency(byte[] rgba)
    {
        for (int o = 3; o < rgba.Length; o += 4)
            if (rgba[o] != 255) return true;
        return false;
    }
}
