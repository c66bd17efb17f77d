using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Data;

public class DatasetTests
{
    [Fact]
    public void Shipped_hazelnut_set_loads_with_masks_named_like_the_image()
    {
        Assert.True(ImageDataset.IsMvtecCategory(TestData.Hazelnut));
        var data = ImageDataset.LoadMvtec(TestData.Hazelnut);
        Assert.Equal("hazelnut", data.Name);
        Assert.Equal(28, data.Train.Count);
        Assert.Equal(6, data.Test.Count(t => t.DefectType == "good"));
        Assert.Equal(17, data.Test.Count(t => t.DefectType == "colour"));
        Assert.All(data.Test.Where(t => t.DefectType == "colour"), t =>
        {
            Assert.Equal(1, t.Label);
            Assert.NotNull(t.MaskPath);
            Assert.Equal(Path.GetFileNameWithoutExtension(t.Path), Path.GetFileNameWithoutExtension(t.MaskPath));
        });
        Assert.All(data.Test.Where(t => t.DefectType == "good"), t => { Assert.Equal(0, t.Label); Assert.Null(t.MaskPath); });
    }

    [SharedDataFact]
    public void Shared_bottle_set_loads_every_defect_type_with_its_mask()
    {
        var data = ImageDataset.LoadMvtec(TestData.Bottle);
        Assert.Equal(209, data.Train.Count);
        var byType = data.Test.GroupBy(t => t.DefectType).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new Dictionary<string, int> { ["good"] = 20, ["broken_large"] = 20, ["broken_small"] = 22, ["contamination"] = 21 }, byType);
        Assert.All(data.Test.Where(t => t.Label == 1), t =>
        {
            Assert.NotNull(t.MaskPath);
            Assert.EndsWith("_mask.png", t.MaskPath);
            Assert.True(File.Exists(t.MaskPath));
        });
    }

    [SharedDataFact]
    public void Shared_root_finds_its_categories()
    {
        var categories = ImageDataset.FindCategories(Path.Combine(TestData.SharedDatasets, "mvtec_bottle_256"));
        Assert.Equal(["bottle"], categories.Select(Path.GetFileName));
        var hazelnut = ImageDataset.LoadMvtec(TestData.SharedHazelnut);
        Assert.Equal(28, hazelnut.Train.Count);
        Assert.Equal(23, hazelnut.Test.Count);
    }

    [Fact]
    public void Plain_folder_lists_images_only_in_name_order()
    {
        var folder = TestData.TempFolder("plain");
        foreach (var name in new[] { "b.png", "a.JPG", "c.bmp", "notes.txt", "d.jpeg" }) File.WriteAllText(Path.Combine(folder, name), "");
        var images = ImageDataset.LoadFolder(folder);
        Assert.Equal(["a.JPG", "b.png", "c.bmp", "d.jpeg"], images.Select(i => i.Name));
    }

    [Fact]
    public void Missing_folder_gives_a_clear_error()
    {
        var e = Assert.Throws<PipelineException>(() => ImageDataset.LoadMvtec("/no/such/category"));
        Assert.Contains("/no/such/category", e.Message);
    }
}
