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
        // The same process id with another start time: a process that ended and whose id was given to this one.
        string reusedId = Directory.CreateDirectory(Path.Combine(parent, $"run-{self.Id}-1", "x")).Parent!.FullName;
        string gone = Directory.CreateDirectory(Path.Combine(parent, $"run-{int.MaxValue}-1", "x")).Parent!.FullName;
        string notARun = Directory.CreateDirectory(Path.Combine(parent, "eval-bottle-1234abcd")).FullName;
        string oddName = Directory.CreateDirectory(Path.Combine(parent, "run-x-1")).FullName;

        TestData.SweepFoldersOfEndedRuns(parent);

        Assert.True(Directory.Exists(running));
        Assert.False(Directory.Exists(reusedId));
        Assert.False(Directory.Exists(gone));
        Assert.True(Directory.Exists(notARun));
        Assert.True(Directory.Exists(oddName));
    }
}
