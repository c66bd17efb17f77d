using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Data;

namespace PipelineFramework.Cli;

/// <summary>
/// The one place that decides whether a command may write where it was told to, checked before any work starts: never
/// onto one of its inputs, never into a folder of inputs (outputs would mix with the data and be read back as input
/// next time), never under a regular file, and only where this user can write. Paths are compared after
/// <see cref="Path.GetFullPath(string)"/> with symbolic links resolved, so <c>./m.json</c>, <c>../x/m.json</c> and a
/// link to it are the same file.
/// </summary>
static class OutputPaths
{
    static readonly StringComparison PathComparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

    /// <summary>An input a command reads: a file or a folder, and how the user named it (e.g. "the model file (--model)").</summary>
    public sealed record Input(string Path, string What);

    /// <summary>
    /// Refuses an output file that is an existing folder, is one of <paramref name="inputs"/> (or lies in an input
    /// folder's place), or cannot be created.
    /// </summary>
    public static void CheckFile(string option, string path, IEnumerable<Input> inputs)
    {
        RequireShortNames(option, path, System.IO.Path.GetFullPath(path), AtomicFile.MaxFileNameBytes);
        var output = Canonical(path);
        if (Directory.Exists(output))
            throw new PipelineException($"{option} {path}: is a folder; give a file name, e.g. {System.IO.Path.Combine(path, "out" + OutputExtension(option))}");
        foreach (var input in inputs)
        {
            if (string.Equals(output, Canonical(input.Path), PathComparison))
                throw new PipelineException($"{option} {path}: is {input.What}; writing there would overwrite it. Choose another file name.");
        }
        RequireWritableFolder(option, path, System.IO.Path.GetDirectoryName(output)!);
    }

    /// <summary>
    /// Refuses an output folder that is an existing file, is one of the input folders or lies inside one, or cannot be
    /// created or written.
    /// </summary>
    public static void CheckFolder(string option, string path, IEnumerable<Input> inputFolders)
    {
        RequireShortNames(option, path, System.IO.Path.GetFullPath(path), MaxNameBytes);
        var output = Canonical(path);
        if (File.Exists(output))
            throw new PipelineException($"{option} {path}: is a file, not a folder; give a folder for the outputs.");
        foreach (var input in inputFolders)
        {
            var folder = Canonical(input.Path);
            if (IsSameOrInside(output, folder))
                throw new PipelineException($"{option} {path}: is {(output.Length == folder.Length ? "" : "inside ")}{input.What}; " +
                    "outputs would mix with the inputs. Choose a folder outside it.");
        }
        RequireWritableFolder(option, path, output);
    }

    /// <summary>
    /// <see cref="CheckFolder"/> for the results of <c>pf evaluate</c>, <c>pf automl</c> and <c>pf demo</c>, which go by
    /// category: over a data-set root (a folder without train/good of its own) each category's results go to
    /// <c>&lt;out&gt;/&lt;category&gt;</c>, and each of those is checked against the data folder too. With --out the data
    /// folder's parent and a category named like the data folder (<c>--data d/bottle --out d</c>, d/bottle/bottle a
    /// category), that category's metrics, report, trials and model went into d/bottle, the data set itself. Any other
    /// ancestor of the data folder is harmless: the results land beside the data, never in it (docs/reliability.md).
    /// </summary>
    public static void CheckResultsFolder(string option, string path, Input data)
    {
        CheckFolder(option, path, [data]);
        if (ImageDataset.IsMvtecCategory(data.Path)) return;
        var dataFolder = Canonical(data.Path);
        foreach (var category in Directory.EnumerateDirectories(data.Path).Where(ImageDataset.IsMvtecCategory))
        {
            var results = System.IO.Path.Combine(path, System.IO.Path.GetFileName(category));
            if (IsSameOrInside(Canonical(results), dataFolder))
                throw new PipelineException($"{option} {path}: over a data-set root each category's results go to <out>/<category>, and {results} is " +
                    $"{data.What}; outputs would mix with the inputs. Choose another folder, e.g. {System.IO.Path.GetFullPath(data.Path).TrimEnd(System.IO.Path.DirectorySeparatorChar)}-results.");
        }
    }

    /// <summary>
    /// <see cref="CheckFolder"/> for a folder of images (<c>pf synth --out</c>, <c>pf score --maps</c>), also refused
    /// where a data set reads images from: a category's <c>test/&lt;type&gt;</c> or <c>train/good</c>. <c>pf synth --data
    /// c/train/good --out c/test/synth</c> was accepted (the output is not inside the data folder), and the next
    /// <c>pf evaluate --data c</c> scored the synthetic images, their masks and the contact sheet as defect type "synth".
    /// </summary>
    public static void CheckImageFolder(string option, string path, IEnumerable<Input> inputFolders)
    {
        CheckFolder(option, path, inputFolders);
        var output = Canonical(path);
        var parent = System.IO.Path.GetDirectoryName(output);
        var category = System.IO.Path.GetDirectoryName(parent ?? "");
        if (string.IsNullOrEmpty(category) || !ImageDataset.IsMvtecCategory(category)) return;
        if (System.IO.Path.GetFileName(parent) == "test")
            throw new PipelineException($"{option} {path}: is a test folder of the category {category}; pf evaluate would score the images written there " +
                $"as test images of type '{System.IO.Path.GetFileName(output)}'. Choose a folder outside {System.IO.Path.Combine(category, "test")}.");
        if (System.IO.Path.GetFileName(parent) == "train" && System.IO.Path.GetFileName(output) == "good")
            throw new PipelineException($"{option} {path}: is the training folder of the category {category}; pf fit and pf evaluate would fit on the images " +
                "written there. Choose a folder outside it.");
    }

    /// <summary>The absolute path with every symbolic link along it resolved (as far as the path exists).</summary>
    public static string Canonical(string path) => ResolveLinks(System.IO.Path.GetFullPath(path), depth: 0);

    static string ResolveLinks(string full, int depth)
    {
        // Deeper than this is a link loop; the path is then used as written and the OS reports the loop if it matters.
        if (depth > 32) return full;
        var root = System.IO.Path.GetPathRoot(full)!;
        var current = root;
        var parts = full[root.Length..].Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            current = System.IO.Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (!info.Exists || info.LinkTarget is null) continue;
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null) continue;
            var rest = string.Join(System.IO.Path.DirectorySeparatorChar, parts[(i + 1)..]);
            return ResolveLinks(System.IO.Path.Combine(System.IO.Path.GetFullPath(target.FullName), rest), depth + 1);
        }
        return current;
    }

    static bool IsSameOrInside(string path, string folder)
    {
        var withSeparator = folder.EndsWith(System.IO.Path.DirectorySeparatorChar) ? folder : folder + System.IO.Path.DirectorySeparatorChar;
        return string.Equals(path, folder, PathComparison) || path.StartsWith(withSeparator, PathComparison);
    }

    /// <summary>
    /// Creating the folder later needs write access to its nearest existing ancestor, so that is where a probe file is
    /// created and deleted: cheap, and it asks the file system itself (permissions, read-only mounts, ACLs) rather than
    /// guessing from mode bits.
    /// </summary>
    static void RequireWritableFolder(string option, string given, string folder)
    {
        var existing = folder;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing))
                throw new PipelineException($"{option} {given}: {existing} is a file, so nothing can be written under it. Choose a path in a folder.");
            existing = System.IO.Path.GetDirectoryName(existing)
                ?? throw new PipelineException($"{option} {given}: no existing folder along this path. Choose another path.");
        }
        var probe = System.IO.Path.Combine(existing, $".pf-write-probe-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new PipelineException($"{option} {given}: cannot write in {existing} ({e.Message.TrimEnd('.')}). Choose a folder you can write to.");
        }
    }

    const int MaxNameBytes = 255, MaxPathBytes = 4000;

    /// <summary>
    /// A name longer than the file system takes (255 bytes; less for a file, which is written through a longer-named
    /// temporary) or a path near PATH_MAX (4096) used to fail only when the result was written, after the work.
    /// </summary>
    static void RequireShortNames(string option, string given, string full, int lastNameBytes)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(full) > MaxPathBytes)
            throw new PipelineException($"{option} {Shorten(given)}: the path is longer than {MaxPathBytes} bytes; choose a shorter one.");
        var names = full.Split(System.IO.Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < names.Length; i++)
        {
            int limit = i == names.Length - 1 ? lastNameBytes : MaxNameBytes;
            if (System.Text.Encoding.UTF8.GetByteCount(names[i]) > limit)
                throw new PipelineException($"{option} {Shorten(given)}: the name '{Shorten(names[i])}' is longer than {limit} bytes; choose a shorter one.");
        }
    }

    static string Shorten(string text) => text.Length <= 60 ? text : text[..28] + "..." + text[^28..];

    static string OutputExtension(string option) => option == "--model" ? ".pfmodel" : ".json";
}

/// <summary>
/// Where <c>pf score --maps</c> puts the heat map of each image: the image's path relative to the scored folder, with
/// <c>.map.png</c> appended (<c>sub/a.jpg</c> becomes <c>sub/a.jpg.map.png</c>). Distinct images give distinct names
/// (a.jpg and a.png, or a.png in two sub-folders), so no heat map overwrites another.
/// </summary>
static class HeatMapFiles
{
    public const string Suffix = ".map.png";

    /// <param name="scoredFolder">The folder given to --images, or null when a single file was given.</param>
    public static string PathFor(string mapsFolder, string? scoredFolder, string imagePath)
    {
        var relative = scoredFolder is null
            ? Path.GetFileName(imagePath)
            : Path.GetRelativePath(Path.GetFullPath(scoredFolder), Path.GetFullPath(imagePath));
        return Path.Combine(mapsFolder, relative + Suffix);
    }
}
