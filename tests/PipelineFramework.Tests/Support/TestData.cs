using System.Collections.Concurrent;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Tests.Support;

/// <summary>Where the tests find the repository's shipped data and, when present, ../shared.</summary>
public static class TestData
{
    public static string RepoRoot { get; } = FindRepoRoot();

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PipelineFramework.sln"))) return dir.FullName;
        throw new InvalidOperationException("Cannot find PipelineFramework.sln above the test output folder.");
    }

    /// <summary>The demo data shipped in the repository (always present).</summary>
    public static string Hazelnut => Path.Combine(RepoRoot, "samples", "data", "hazelnut");

    public static string Pipeline(string name) => Path.Combine(RepoRoot, "pipelines", name + ".json");

    /// <summary>The shipped pipeline files; <c>automl-*.json</c> beside them are AutoML search files, not pipelines.</summary>
    public static IEnumerable<string> ShippedPipelineFiles => Directory.GetFiles(Path.Combine(RepoRoot, "pipelines"), "*.json")
        .Where(f => !Path.GetFileName(f).StartsWith("automl-", StringComparison.Ordinal)).Order(StringComparer.Ordinal);

    public static string SharedDatasets => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "datasets"));
    public static string Bottle => Path.Combine(SharedDatasets, "mvtec_bottle_256", "bottle");
    public static string SharedHazelnut => Path.Combine(SharedDatasets, "hazelnut_toy", "hazelnut");

    public static string TestPluginsFolder => Path.Combine(AppContext.BaseDirectory, "test-plugins");

    /// <summary>Built-ins, the solution's plugins and the test plugin; one per test run (plugins load once).</summary>
    public static ComponentCatalog Catalog => LazyCatalog.Value;
    static readonly Lazy<ComponentCatalog> LazyCatalog = new(() => ComponentCatalog.CreateDefault([TestPluginsFolder]));

    /// <summary>
    /// The default pipeline (patchcore-mobilenet) evaluated once per category folder and test run, with a gallery of
    /// <see cref="GallerySize"/>; the tests that read its numbers, files and report share it instead of fitting again.
    /// </summary>
    public static CategoryResult PatchcoreEvaluation(string category) =>
        Evaluations.GetOrAdd(category, c => new Lazy<CategoryResult>(() => Evaluator.Run(
            AnomalyPipeline.FromFile(Pipeline("patchcore-mobilenet"), Catalog), c,
            TempFolder("eval-" + Path.GetFileName(c)), new EvaluationOptions { GallerySize = GallerySize })[0])).Value;

    public const int GallerySize = 8;
    static readonly ConcurrentDictionary<string, Lazy<CategoryResult>> Evaluations = new();

    /// <summary>
    /// Writes the image at <paramref name="source"/> shrunk to an eighth of each side, as PNG at <paramref name="target"/>:
    /// an image unlike the ones a model was fitted on (see GoodImageSizes).
    /// </summary>
    public static string WriteThumbnail(string source, string target)
    {
        var pixels = Core.Images.ImageLoader.LoadRgb(source);
        Core.Images.ImageLoader.SavePng(Core.Images.Resample.Resize(pixels, pixels.Height / 8, pixels.Width / 8), target);
        return target;
    }

    public static string TempFolder(string name)
    {
        var path = Path.Combine(RunTempRoot.Value, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Set to keep a run's temporary folders (under pf-tests/run-*) for a look after the run.</summary>
    public const string KeepTempFilesVariable = "PF_KEEP_TEST_FILES";

    // One folder per test process, removed when it is over: a run writes hundreds of MB (model fuzzing alone ~300 MB)
    // and the runs before this folder left 41 GB in /tmp on the team machine, until its disk was full. vstest ends
    // a test host that overstays by killing it, so ProcessExit does not always run; the next run sweeps the folders of runs whose process is
    // gone, so at most the last run's files stay. Only the id is compared: Process.StartTime is derived from an
    // estimate of the boot time that differs between processes, and comparing it swept a running run's folder (its
    // service tests then failed). A reused id keeps a dead run's folder until that process ends too: files kept
    // longer, never a running run's lost.
    static readonly Lazy<string> RunTempRoot = new(() =>
    {
        string parent = Path.Combine(Path.GetTempPath(), "pf-tests");
        SweepFoldersOfEndedRuns(parent);
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        string root = Path.Combine(parent, RunFolderName(self));
        Directory.CreateDirectory(root);
        if (Environment.GetEnvironmentVariable(KeepTempFilesVariable) is not { Length: > 0 })
            AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        return root;
    });

    internal static string RunFolderName(System.Diagnostics.Process process) =>
        $"run-{process.Id}-{process.StartTime.ToUniversalTime().Ticks}";

    internal static void SweepFoldersOfEndedRuns(string parent)
    {
        if (!Directory.Exists(parent)) return;
        foreach (var folder in Directory.EnumerateDirectories(parent, "run-*"))
        {
            var parts = Path.GetFileName(folder).Split('-');
            if (parts.Length != 3 || !int.TryParse(parts[1], out int pid)) continue;
            if (!IsRunning(pid)) TryDelete(folder);
        }
    }

    static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }          // no such process
        catch (InvalidOperationException) { return false; }  // it ended meanwhile
    }

    static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }                  // a file still open or a process still writing: the next run sweeps it
        catch (UnauthorizedAccessException) { }  // a test made something read-only (chattr +i) and failed to undo it
    }
}

/// <summary>A fact that needs ../shared/datasets; skipped with a clear message where it is absent (a user's clone).</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public static string Reason =>
        $"needs ../shared/datasets beside the repository ({TestData.SharedDatasets} not found); CI has it, a user's clone does not";

    public SharedDataFactAttribute()
    {
        if (!Directory.Exists(TestData.SharedDatasets)) Skip = Reason;
    }
}
