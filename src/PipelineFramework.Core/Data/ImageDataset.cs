using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Data;

/// <summary>One image of a data set. <see cref="Label"/>: 0 good, 1 defect, null unknown (a plain folder).</summary>
public sealed record DatasetImage(string Path, string DefectType, int? Label, string? MaskPath)
{
    public string Name => System.IO.Path.GetFileName(Path);
}

/// <summary>
/// A product category: good training images and labelled test images. <see cref="Skipped"/>: entries named like
/// images that are not regular files (a FIFO, a device, a broken link), left out and listed so they can be reported.
/// </summary>
public sealed record CategoryDataset(string Name, string Root, IReadOnlyList<DatasetImage> Train, IReadOnlyList<DatasetImage> Test)
{
    public bool HasMasks => Test.Any(t => t.MaskPath is not null);
    public IReadOnlyList<string> Skipped { get; init; } = [];
}

/// <summary>
/// Finds images on disk. Reads the MVTec AD layout (<c>train/good</c>, <c>test/&lt;type&gt;</c>,
/// <c>ground_truth/&lt;type&gt;/&lt;name&gt;_mask.png</c>), a root holding several such categories, and plain folders.
/// </summary>
public static class ImageDataset
{
    /// <summary>Whether the loader reads files of this name: the same extensions, the same case rule (<see cref="ImageLoader.Extensions"/>).</summary>
    public static bool IsImageFile(string path) => ImageLoader.HasImageExtension(path);

    /// <summary>Image files of a folder (not recursive), sorted by name so runs are repeatable.</summary>
    public static IReadOnlyList<string> ListImages(string folder) => ListImages(folder, out _);

    /// <summary>
    /// Image files of a folder (not recursive), sorted by name: the regular files with an image extension.
    /// <paramref name="skipped"/>: entries with an image extension that are not regular files (opening a FIFO would
    /// block, reading a device would not end), also sorted.
    /// </summary>
    public static IReadOnlyList<string> ListImages(string folder, out IReadOnlyList<string> skipped)
    {
        if (!Directory.Exists(folder)) throw new PipelineException($"Folder not found: {folder}.");
        var images = new List<string>();
        var notRegular = new List<string>();
        foreach (var path in Directory.EnumerateFiles(folder).Where(IsImageFile).Order(StringComparer.Ordinal))
            (RegularFile.Problem(path) is null ? images : notRegular).Add(path);
        skipped = notRegular;
        return images;
    }

    public static bool IsMvtecCategory(string folder) =>
        Directory.Exists(System.IO.Path.Combine(folder, "train", "good"));

    /// <summary>Category folders below a data-set root (each with train/good), sorted.</summary>
    public static IReadOnlyList<string> FindCategories(string root)
    {
        if (!Directory.Exists(root)) throw new PipelineException($"Data folder not found: {root}.");
        if (IsMvtecCategory(root)) return [root];
        var found = Directory.EnumerateDirectories(root).Where(IsMvtecCategory).Order(StringComparer.Ordinal).ToList();
        if (found.Count == 0)
            throw new PipelineException(
                $"No category found in {root}: expected the MVTec AD layout <category>/train/good/*.png (and test/<type>/*), " +
                "or a folder whose subfolders are such categories.");
        return found;
    }

    /// <summary>Reads one category in the MVTec AD layout.</summary>
    public static CategoryDataset LoadMvtec(string categoryFolder)
    {
        var root = System.IO.Path.GetFullPath(categoryFolder);
        if (!IsMvtecCategory(root))
            throw new PipelineException($"{root} is not an MVTec AD category folder: train/good/ is missing.");
        var skipped = new List<string>();
        var train = ListImages(System.IO.Path.Combine(root, "train", "good"), out var skippedTrain)
            .Select(p => new DatasetImage(p, "good", 0, null)).ToList();
        skipped.AddRange(skippedTrain);
        if (train.Count == 0)
            throw new PipelineException($"{root}/train/good holds no PNG, JPEG or BMP images ({string.Join(", ", ImageLoader.Extensions)}, any case)" +
                (skipped.Count > 0 ? $"; {skipped.Count} entries named like images are not regular files: {string.Join(", ", skipped.Select(System.IO.Path.GetFileName))}." : "."));

        var test = new List<DatasetImage>();
        var testRoot = System.IO.Path.Combine(root, "test");
        if (Directory.Exists(testRoot))
        {
            foreach (var typeFolder in Directory.EnumerateDirectories(testRoot).Order(StringComparer.Ordinal))
            {
                var type = System.IO.Path.GetFileName(typeFolder);
                bool good = type == "good";
                var images = ListImages(typeFolder, out var skippedTest);
                skipped.AddRange(skippedTest);
                foreach (var image in images)
                {
                    string? mask = null;
                    if (!good)
                    {
                        // MVTec names masks <stem>_mask.png; other sets use <stem>.png or the image's own name.
                        var stem = System.IO.Path.GetFileNameWithoutExtension(image);
                        var folder = System.IO.Path.Combine(root, "ground_truth", type);
                        mask = new[] { stem + "_mask.png", stem + ".png", System.IO.Path.GetFileName(image) }
                            .Select(n => System.IO.Path.Combine(folder, n)).FirstOrDefault(File.Exists);
                    }
                    test.Add(new DatasetImage(image, type, good ? 0 : 1, mask));
                }
            }
        }
        return new CategoryDataset(System.IO.Path.GetFileName(root), root, train, test) { Skipped = skipped };
    }

    /// <summary>A plain folder of images, labels unknown.</summary>
    public static IReadOnlyList<DatasetImage> LoadFolder(string folder) =>
        ListImages(folder).Select(p => new DatasetImage(p, "unknown", null, null)).ToList();
}
