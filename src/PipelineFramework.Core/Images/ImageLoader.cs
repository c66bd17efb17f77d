using PipelineFramework.Abstractions;
using SkiaSharp;

namespace PipelineFramework.Core.Images;

/// <summary>Decodes PNG, JPEG and BMP files (8-bit grey or colour, any size) into float tensors.</summary>
public static class ImageLoader
{
    /// <summary>Decodes to RGB planar floats in [0, 1] at the file's own size; grey images are repeated on 3 channels.</summary>
    public static ImageTensor LoadRgb(string path) => Decode(path, grey: false);

    /// <summary>Decodes one channel (luminance) in [0, 1]: ground-truth masks.</summary>
    public static Grid2D LoadGrey(string path)
    {
        var image = Decode(path, grey: true);
        return new Grid2D(image.Height, image.Width, image.Pixels);
    }

    static ImageTensor Decode(string path, bool grey)
    {
        if (!File.Exists(path))
            throw new PipelineException($"Image file not found: {path}. Check the path or the data folder.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new PipelineException($"Cannot read image file {path}: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new PipelineException($"Cannot read image file {path}: {e.Message}", e); }
        return Decode(bytes, path, grey);
    }

    /// <summary>Decodes image bytes; <paramref name="name"/> only labels errors.</summary>
    public static ImageTensor Decode(byte[] bytes, string name, bool grey = false)
    {
        if (bytes.Length == 0) throw new PipelineException($"Image file is empty: {name}.");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new PipelineException($"Cannot decode image {name}: not a PNG, JPEG or BMP file, or its header is corrupt.");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result == SKCodecResult.IncompleteInput || result == SKCodecResult.ErrorInInput)
            throw new PipelineException($"Image {name} is truncated or damaged ({result}); re-export or remove the file.");
        if (result != SKCodecResult.Success)
            throw new PipelineException($"Cannot decode image {name}: {result}.");

        int width = info.Width, height = info.Height, plane = width * height;
        var rgba = bitmap.GetPixelSpan();
        const float scale = 1f / 255f;
        if (grey)
        {
            var values = new float[plane];
            for (int i = 0; i < plane; i++)
            {
                int o = i * 4;
                // Rec. 601 luma, as PIL's convert("L") does.
                values[i] = (0.299f * rgba[o] + 0.587f * rgba[o + 1] + 0.114f * rgba[o + 2]) * scale;
            }
            return new ImageTensor(1, height, width, values);
        }
        var pixels = new float[3 * plane];
        for (int i = 0; i < plane; i++)
        {
            int o = i * 4;
            pixels[i] = rgba[o] * scale;
            pixels[plane + i] = rgba[o + 1] * scale;
            pixels[2 * plane + i] = rgba[o + 2] * scale;
        }
        return new ImageTensor(3, height, width, pixels);
    }

    /// <summary>Writes an RGB tensor in [0, 1] as PNG, atomically.</summary>
    public static void SavePng(ImageTensor image, string path)
    {
        using var bitmap = ToBitmap(image);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, stream => encoded.SaveTo(stream));
    }

    public static SKBitmap ToBitmap(ImageTensor image)
    {
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var span = bitmap.GetPixelSpan();
        int plane = image.Width * image.Height;
        var p = image.Pixels;
        for (int i = 0; i < plane; i++)
        {
            byte r = ToByte(p[i]);
            byte g = image.Channels > 1 ? ToByte(p[plane + i]) : r;
            byte b = image.Channels > 2 ? ToByte(p[2 * plane + i]) : r;
            int o = i * 4;
            span[o] = r; span[o + 1] = g; span[o + 2] = b; span[o + 3] = 255;
        }
        return bitmap;
    }

    static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
}
