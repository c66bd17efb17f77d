namespace PipelineFramework.Tests.Support;

/// <summary>Every file of a folder with its bytes: to show that a refused or failed run left the folder as it was.</summary>
internal static class FolderBytes
{
    public static Dictionary<string, byte[]> Read(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);

    /// <summary>The same files with the same bytes as <paramref name="before"/>, none added or removed.</summary>
    public static void AssertUnchanged(Dictionary<string, byte[]> before, string folder)
    {
        var after = Read(folder);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (file, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[file]), $"{file} changed");
    }
}
