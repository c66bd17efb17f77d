using PipelineFramework.Abstractions;
using PipelineFramework.Core.Images;

namespace PipelineFramework.Core.Data;

/// <summary>One image of a data set. <see cref="Label"/>: 0 good, 1 defect, null unknown (a plain folder).</summary>
public sealed record DatasetImage(string Path, string DefectType, int? Label, string? MaskPath)
{
    public string Name => System.IO.Path.GetFileName(Path);
}

/// <summary>
/// A product category: good training images and labelled test images. <see cref="Skipped"/>: entries left out and
/// listed so they can be reported: those named like images that are not regular files (a FIFO, a device, a broken
/// link), and hidden ones (a name starting with '.', such as macOS's <c>._03.png</c> or a <c>.ipynb_checkpoints</c> folder).
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

    /// <summary>
    /// Subfolders of a data-set root that are not categories (no train/good inside), hidden ones aside; none when the
    /// folder is a category itself. For a warning: a category copied without its train/good, or with Train/ in another
    /// case, would otherwise be left out of a root's run without a word.
    /// </summary>
    public static IReadOnlyList<string> NotCategories(string root) => IsMvtecCategory(root) ? []
        : Directory.EnumerateDirectories(root).Where(d => !IsMvtecCategory(d) && !IsHidden(d)).Order(StringComparer.Ordinal).ToList();

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

    /// <summary>
    /// Reads one category in the MVTec AD layout. Hidden entries (a name starting with '.') are not data: macOS leaves
    /// <c>._name.png</c> files of metadata beside copied images and Jupyter a <c>.ipynb_checkpoints</c> folder, which
    /// would otherwise stop the fit or become a defect type whose good images count as defective. They are left out
    /// and listed in <see cref="CategoryDataset.Skipped"/>.
    /// </summary>
    /// <exception cref="PipelineException">train/good is missing or empty, or a test folder is named <c>good</c> in
    /// another case (its good images would be counted as a defect type).</exception>
    public static CategoryDataset LoadMvtec(string categoryFolder)
    {
        var root = System.IO.Path.GetFullPath(categoryFolder);
        if (!IsMvtecCategory(root))
            throw new PipelineException($"{root} is not an MVTec AD category folder: train/good/ is missing.");
        var skipped = new List<string>();
        var train = ListData(System.IO.Path.Combine(root, "train", "good"), skipped)
            .Select(p => new DatasetImage(p, "good", 0, null)).ToList();
        if (train.Count == 0)
            throw new PipelineException($"{root}/train/good holds no PNG, JPEG or BMP images ({string.Join(", ", ImageLoader.Extensions)}, any case)" +
                (skipped.Count > 0 ? $"; {skipped.Count} entries named like images were left out (hidden, or not regular files): {string.Join(", ", skipped.Select(System.IO.Path.GetFileName))}." : "."));

        var test = new List<DatasetImage>();
        var testRoot = System.IO.Path.Combine(root, "test");
        if (Directory.Exists(testRoot))
        {
            foreach (var typeFolder in Directory.EnumerateDirectories(testRoot).Order(StringComparer.Ordinal))
            {
                var type = System.IO.Path.GetFileName(typeFolder);
                if (IsHidden(typeFolder))
                {
                    skipped.Add(typeFolder);
                    continue;
                }
                bool good = type == "good";
                if (!good && type.Equals("good", StringComparison.OrdinalIgnoreCase))
                    throw new PipelineException($"{typeFolder}: only a folder named 'good' (lower case) holds good test images; as '{type}' its images " +
                        "would count as a defect type. Rename it to test/good (merging it with an existing one).");
                var images = ListData(typeFolder, skipped);
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

    /// <summary>The images of one data-set folder, hidden ones left out and added to <paramref name="skipped"/> with the entries that are not regular files.</summary>
    static List<string> ListData(string folder, List<string> skipped)
    {
        var images = ListImages(folder, out var notRegular);
        skipped.AddRange(notRegular);
        skipped.AddRange(images.Where(IsHidden));
        return images.Where(p => !IsHidden(p)).ToList();
    }

    static bool IsHidden(string path) => System.IO.Path.GetFileName(path).StartsWith('.');

    /// <summary>A plain folder of images, labels unknown.</summary>
    public static IReadOnlyList<DatasetImage> LoadFolder(string folder) =>
        ListImages(folder).Select(p => new DatasetImage(p, "unknown", null, null)).ToList();
}
