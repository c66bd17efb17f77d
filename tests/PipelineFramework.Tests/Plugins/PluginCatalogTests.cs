using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Plugins;

public class PluginCatalogTests
{
    [Fact]
    public void Plugin_in_its_own_folder_is_found_with_kind_options_and_source()
    {
        var catalog = ComponentCatalog.Create([TestData.TestPluginsFolder]);
        Assert.Empty(catalog.LoadErrors);
        var descriptor = catalog.Find("test.mean-distance", ComponentKind.Scorer);
        Assert.Equal(ComponentKind.Scorer, descriptor.Kind);
        Assert.Equal("Scoring.MeanDistance", descriptor.Source);
        Assert.Contains(descriptor.Options, o => o.Name == "scale" && o.DefaultJson == "1");
        // The plugin's class lives in its own load context; only the contract is shared, so the cast works.
        var scorer = catalog.Create(descriptor, new JsonObject { ["scale"] = 2.0 }, "$.scoring");
        Assert.IsAssignableFrom<IScorer>(scorer);
        Assert.NotEqual(typeof(PluginCatalogTests).Assembly, scorer.GetType().Assembly);
    }

    [Fact]
    public void Plugin_options_are_validated_with_their_json_path()
    {
        var catalog = ComponentCatalog.Create([TestData.TestPluginsFolder]);
        var e = Assert.Throws<PipelineException>(() =>
            catalog.Create(catalog.Find("test.mean-distance"), new JsonObject { ["scale"] = -1 }, "$.scoring"));
        Assert.Contains("$.scoring.scale", e.Message);
        Assert.Contains("out of range; allowed (0, 1000]", e.Message);
    }

    [Fact]
    public void The_solution_plugins_are_placed_where_hosts_find_them()
    {
        var catalog = ComponentCatalog.CreateDefault();
        Assert.Empty(catalog.LoadErrors);
        foreach (var type in new[] { "backbone.onnx", "embedding.patch", "scoring.patchcore", "scoring.padim", "threshold.quantile" })
            Assert.Contains(catalog.Components, c => c.TypeName == type);
    }

    [Fact]
    public void Broken_plugin_is_reported_not_thrown_and_others_still_load()
    {
        var root = TestData.TempFolder("plugins");
        var broken = Directory.CreateDirectory(Path.Combine(root, "Broken.Plugin")).FullName;
        File.WriteAllText(Path.Combine(broken, "Broken.Plugin.dll"), "this is not an assembly");
        var source = Path.Combine(TestData.TestPluginsFolder, "Scoring.MeanDistance");
        var good = Directory.CreateDirectory(Path.Combine(root, "Scoring.MeanDistance")).FullName;
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(good, Path.GetFileName(file)));
        Directory.CreateDirectory(Path.Combine(root, "Empty.Plugin"));

        var catalog = ComponentCatalog.Create([root, Path.Combine(root, "does-not-exist")]);

        Assert.Contains(catalog.Components, c => c.TypeName == "test.mean-distance");
        Assert.Contains(catalog.LoadErrors, e => e.Folder.EndsWith("Broken.Plugin") && e.Message.Length > 0);
        Assert.Contains(catalog.LoadErrors, e => e.Folder.EndsWith("Empty.Plugin"));
        Assert.Contains(catalog.LoadErrors, e => e.Folder.EndsWith("does-not-exist") && e.Message.Contains("not found"));
    }

    [Fact]
    public void Unknown_type_error_lists_installed_components()
    {
        var e = Assert.Throws<PipelineException>(() => TestData.Catalog.Find("scoring.nope"));
        Assert.Contains("scoring.nope", e.Message);
        Assert.Contains("test.mean-distance", e.Message);
    }
}
