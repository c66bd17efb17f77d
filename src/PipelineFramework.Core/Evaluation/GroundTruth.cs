using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// A defective test image's ground-truth mask, read and checked for the pixel metrics: <c>pf evaluate</c> and the
/// AutoML audit read masks through here, so both count the same pixels.
/// </summary>
public static class GroundTruth
{
    /// <summary>
    /// The mask of a defective image taken through the model's geometry (1 = defect, <see cref="ImageLoader.LoadMask"/>),
    /// or why it cannot be used. A mask is refused when it is missing, unreadable, of another size than its image
    /// (compared on the files before any resizing, which would hide a mismatch), marks no defect pixel or every pixel,
    /// or when its defect is lost in the geometry (too small for the map, or outside the centre crop): each of these
    /// would otherwise count a defective image's pixels as good, or its whole background as defect.
    /// </summary>
    public static (Grid2D? Mask, MaskProblem? Problem) Load(DatasetImage image, string root, Preprocessing preprocessing)
    {
        if (image.MaskPath is null)
        {
            var stem = Path.GetFileNameWithoutExtension(image.Path);
            var folder = Path.Combine("ground_truth", image.DefectType);
            return (null, new MaskProblem(image.Path, null,
                $"no mask: none of {folder}/{stem}_mask.png, {stem}.png or {image.Name} exists under {root}"));
        }
        MaskProblem Problem(string problem) => new(image.Path, image.MaskPath, problem);
        try
        {
            var mask = ImageLoader.LoadMask(image.MaskPath);
            var (width, height) = ImageLoader.ReadSize(image.Path);
            if (mask.Width != width || mask.Height != height)
                return (null, Problem($"mask is {mask.Width} x {mask.Height} pixels but its image is {width} x {height}; a mask must have its image's size"));
            int defect = DefectPixels(mask);
            if (defect == 0)
                return (null, Problem("mask marks no defect: every pixel is 0 (black). Mark the defect with nonzero pixels (MVTec uses 255); " +
                    "a 16-bit mask is read at 8 bits, so values under 256 read as 0"));
            if (defect == mask.Values.Length)
                return (null, Problem("mask marks every pixel as defective (no pixel is 0); mark only the defect and leave the rest 0 (black)"));
            var taken = preprocessing.ApplyToMask(mask);
            if (DefectPixels(taken) == 0)
                return (null, Problem($"the mask's {defect} defect pixel{(defect == 1 ? "" : "s")} {(defect == 1 ? "is" : "are")} lost when it is {Geometry(preprocessing)}, as the image is: " +
                    "the defect is too small for the model's map or lies outside the part it sees"));
            return (taken, null);
        }
        catch (PipelineException e)
        {
            return (null, Problem(e.Message));
        }
    }

    static int DefectPixels(Grid2D mask)
    {
        int count = 0;
        foreach (var v in mask.Values) if (v > 0.5f) count++;
        return count;
    }

    static string Geometry(Preprocessing p) => p.Mode == ResizeMode.Square
        ? (p.Crop < p.Size ? $"resized to {p.Size} x {p.Size} and centre-cropped to {p.Crop} x {p.Crop}" : $"resized to {p.Size} x {p.Size}")
        : $"fitted into {p.Width} x {p.Height}";
}
