using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Service;

/// <summary>
/// A reject's heat map kept beside its image (raw scores and the colour scale), so the overlay is drawn when someone
/// first looks at it rather than while the line waits for its verdict; then kept. The drawing is the evaluation
/// report's (jet at alpha 0.5 over the preprocessed image); the image goes through the category's model's own
/// preprocessing (<see cref="AnomalyModel.Preprocessing"/>), whatever its resize and colour modes.
/// </summary>
static class RejectOverlay
{
    static ReadOnlySpan<byte> Magic => "PFHM"u8;

    /// <summary>
    /// Colour scale: from the raw score the median good part gets (normalised 0.05, see the score normalisation) to the
    /// map's peak, and at least as far above the threshold as that is below it.
    /// </summary>
    public static byte[] HeatFile(InspectionResult result, AnomalyModel model)
    {
        var n = model.Normalization;
        double lo = n.Center + n.Scale * Math.Log(0.05 / 0.95);
        double hi = Math.Max(result.RawMap.Values.Max(), model.Threshold + (model.Threshold - lo));
        var map = result.RawMap;
        using var stream = new MemoryStream(32 + 4 * map.Values.Length);
        using var writer = new BinaryWriter(stream);
        writer.Write(Magic);
        writer.Write(map.Width); writer.Write(map.Height);
        writer.Write(lo); writer.Write(hi);
        foreach (var v in map.Values) writer.Write(v);
        writer.Flush();
        return stream.ToArray();
    }

    /// <summary>The overlay PNG from the image as sent and its heat file.</summary>
    public static byte[] Render(byte[] image, byte[] heatFile, string name, Preprocessing preprocessing)
    {
        using var reader = new BinaryReader(new MemoryStream(heatFile));
        if (!reader.ReadBytes(4).AsSpan().SequenceEqual(Magic)) throw new PipelineException($"The heat map file of {name} is damaged.");
        int width = reader.ReadInt32(), height = reader.ReadInt32();
        double lo = reader.ReadDouble(), hi = reader.ReadDouble();
        var values = new float[width * height];
        for (int i = 0; i < values.Length; i++) values[i] = reader.ReadSingle();
        var prepared = preprocessing.DecodePrepared(image, name).Image;
        return HtmlReport.Overlay(new GalleryItem(name, "", 1, 0, true, prepared, new Grid2D(height, width, values), null), lo, hi);
    }
}
