using PipelineFramework.Abstractions;
using SkiaSharp;

namespace PipelineFramework.Core.Images;

/// <summary>A grid of images with their defect masks outlined in red and a caption, for people to look at.</summary>
public static class ContactSheet
{
    public static void Save(IReadOnlyList<(ImageTensor Image, Grid2D? Mask, string Caption)> tiles, string path, int tileSize = 160, int columns = 6)
    {
        if (tiles.Count == 0) throw new ArgumentException("A contact sheet needs at least one image.");
        columns = Math.Min(columns, tiles.Count);
        int rows = (tiles.Count + columns - 1) / columns, caption = 16;
        using var sheet = new SKBitmap(columns * tileSize, rows * (tileSize + caption));
        using var canvas = new SKCanvas(sheet);
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 11);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (int i = 0; i < tiles.Count; i++)
        {
            var (image, mask, label) = tiles[i];
            using var bitmap = ImageLoader.ToBitmap(image);
            if (mask is not null) Outline(bitmap, mask);
            int x = i % columns * tileSize, y = i / columns * (tileSize + caption);
            using var skImage = SKImage.FromBitmap(bitmap);
            canvas.DrawImage(skImage, new SKRect(x, y, x + tileSize, y + tileSize), new SKSamplingOptions(SKFilterMode.Linear));
            canvas.DrawText(label, x + 3, y + tileSize + 12, font, text);
        }
        using var encoded = sheet.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, stream => encoded.SaveTo(stream));
    }

    /// <summary>Marks mask pixels that touch a non-mask pixel (4-neighbourhood).</summary>
    static void Outline(SKBitmap bitmap, Grid2D mask)
    {
        if (mask.Height != bitmap.Height || mask.Width != bitmap.Width) return;
        var pixels = bitmap.GetPixelSpan();
        int bytesPerPixel = bitmap.BytesPerPixel;
        for (int y = 0; y < mask.Height; y++)
            for (int x = 0; x < mask.Width; x++)
            {
                if (mask[y, x] < 0.5f) continue;
                bool edge = x == 0 || y == 0 || x == mask.Width - 1 || y == mask.Height - 1
                    || mask[y, x - 1] < 0.5f || mask[y, x + 1] < 0.5f || mask[y - 1, x] < 0.5f || mask[y + 1, x] < 0.5f;
                if (!edge) continue;
                int o = (y * mask.Width + x) * bytesPerPixel;
                pixels[o] = 255; pixels[o + 1] = 0; pixels[o + 2] = 0;
            }
    }
}
