using System.Diagnostics;

namespace PipelineFramework.Tests.Support;

/// <summary>The suite's temporary files go when their run ends, so repeated runs do not fill the disk.</summary>
public sealed class TestTempFolderTests
{
    [Fact]
    public void A_temp_folder_lies_in_this_runs_own_folder()
    {
        string folder = TestData.TempFolder("where");
        using var self = Process.GetCurrentProcess();
        Assert.Equal(TestData.RunFolderName(self), Path.GetFileName(Path.GetDirectoryName(folder)));
        Assert.True(Directory.Exists(folder));
    }

    [Fact]
    public void Folders_of_ended_runs_are_swept_and_running_ones_kept()
    {
        string parent = TestData.TempFolder("sweep");
        using var self = Process.GetCurrentProcess();
        string running = Directory.CreateDirectory(Path.Combine(parent, TestData.RunFolderName(self), "x")).Parent!.FullName;
        // The same id with another start time: kept, since start times read in two processes differ (that swept a
        // running run's folder); a dead run whose id was reused keeps its folder until that process ends.
        string sameId = Directory.CreateDirectory(Path.Combine(parent, $"run-{self.Id}-1", "x")).Parent!.FullName;
        string gone = Directory.CreateDirectory(Path.Combine(parent, $"run-{int.MaxValue}-1", "x")).Parent!.FullName;
        string notARun = Directory.CreateDirectory(Path.Combine(parent, "eval-bottle-1234abcd")).FullName;
        string oddName = Directory.CreateDirectory(Path.Combine(parent, "run-x-1")).FullName;

        // Another test run, still going (a process of its own): its folder must survive this run's sweep.
        using var other = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        string otherRun = Directory.CreateDirectory(Path.Combine(parent, $"run-{other.Id}-{other.StartTime.Ticks + 12345}", "x")).Parent!.FullName;

        TestData.SweepFoldersOfEndedRuns(parent);
        other.Kill();

        Assert.True(Directory.Exists(running));
        Assert.True(Directory.Exists(otherRun));
        Assert.True(Directory.Exists(sameId));
        Assert.False(Directory.Exists(gone));
        Assert.True(Directory.Exists(notARun));
        Assert.True(Directory.Exists(oddName));
    }
}
