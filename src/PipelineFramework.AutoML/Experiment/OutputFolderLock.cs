using PipelineFramework.Abstractions;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>
/// One search at a time in an output folder. Two runs into one folder would each run the same trials, append them twice
/// to trials.jsonl and overwrite each other's best.json and model. The lock is the operating system's (an exclusive
/// share of <see cref="FileName"/>), so it ends with the process that holds it, a killed one included; the empty file
/// stays behind.
/// </summary>
public sealed class OutputFolderLock : IDisposable
{
    public const string FileName = ".automl.lock";
    readonly FileStream _held;

    OutputFolderLock(FileStream held) => _held = held;

    public static OutputFolderLock Acquire(string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        try { return new OutputFolderLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
        catch (IOException)
        {
            throw new PipelineException($"Another AutoML run is writing to '{folder}' (it holds {FileName}); wait for it to finish, or give this run another --out.");
        }
    }

    public void Dispose() => _held.Dispose();
}
