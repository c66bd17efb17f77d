using PipelineFramework.Abstractions;
using PipelineFramework.Core;

namespace PipelineFramework.AutoML.Experiment;

/// <summary>
/// One search at a time in an output folder: a <see cref="FileLock"/> on <see cref="FileName"/> inside it. Two runs into
/// one folder would each run the same trials, append them twice to trials.jsonl and overwrite each other's best.json
/// and model.
/// </summary>
public static class OutputFolderLock
{
    public const string FileName = ".automl.lock";

    public static FileLock Acquire(string folder)
    {
        Directory.CreateDirectory(folder);
        return FileLock.TryAcquire(Path.Combine(folder, FileName), TimeSpan.Zero)
            ?? throw new PipelineException($"Another AutoML run is writing to '{folder}' (it holds {FileName}); wait for it to finish, or give this run another --out.");
    }
}
