using SkiaSharp;

namespace PipelineFramework.Service;

/// <summary>
/// What a request body declares, read from its header alone: refuses bytes that are not PNG/JPEG/BMP and images over
/// the pixel limit before any decoding memory is spent. The engine repeats its own (looser) checks when it decodes.
/// </summary>
static class ImageHeader
{
    public sealed record Refusal(int Status, string Title, string Detail);

    /// <param name="pixels">The declared width x height, for the queue's bound on pixels decoded at once.</param>
    public static Refusal? Check(byte[] bytes, long maxPixels, out string extension, out long pixels)
    {
        extension = ".bin";
        pixels = 0;
        if (bytes.Length == 0)
            return new(400, "Empty body", "The request has no image. Send the encoded image (PNG, JPEG or BMP) as the body, or as a file part of a multipart form.");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null)
            return new(415, "Not an image", $"The {bytes.Length} bytes sent are not a PNG, JPEG or BMP image (or its header is corrupt). Send the encoded image file as it was saved.");
        extension = codec.EncodedFormat switch
        {
            SKEncodedImageFormat.Png => ".png", SKEncodedImageFormat.Jpeg => ".jpg", SKEncodedImageFormat.Bmp => ".bmp", _ => "",
        };
        if (extension.Length == 0)
            return new(415, "Image format not accepted", $"The image is in {codec.EncodedFormat.ToString().ToUpperInvariant()} format; only PNG, JPEG and BMP are accepted. Convert it.");
        pixels = (long)codec.Info.Width * codec.Info.Height;
        if (codec.Info.Width <= 0 || codec.Info.Height <= 0)
            return new(415, "Not an image", $"The image declares an empty size {codec.Info.Width} x {codec.Info.Height}; its header is corrupt.");
        // The engine's own limit per side, refused here like every other size: 413, not a decoding failure (422) later.
        if (Math.Max(codec.Info.Width, codec.Info.Height) > Core.Images.ImageLoader.MaxSide)
            return new(413, "Image too large",
                $"The image is {codec.Info.Width} x {codec.Info.Height}; sides longer than {Core.Images.ImageLoader.MaxSide} pixels are not accepted. Downscale or crop it before sending.");
        if (pixels > maxPixels)
            return new(413, "Image too large",
                $"The image is {codec.Info.Width} x {codec.Info.Height} = {pixels / 1e6:0.#} megapixels; this service accepts up to {maxPixels / 1e6:0.#} megapixels. Downscale or crop it before sending.");
        return null;
    }
}
