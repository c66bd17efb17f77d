using PipelineFramework.Abstractions;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Tests.MLNet;

public class ShippedPluginsTests
{
    [Fact]
    public void Package_table_matches_the_plugins_the_solution_builds()
    {
        var catalog = ComponentCatalog.Create([Path.Combine(AppContext.BaseDirectory, "plugins")]);
        var fromPlugins = catalog.Components.Where(c => c.Source != "built-in").ToDictionary(c => c.TypeName, c => c.Source);
        Assert.Equal(fromPlugins.OrderBy(p => p.Key), ShippedPlugins.FolderOf.OrderBy(p => p.Key));
    }

    [Fact]
    public void Without_its_plugin_a_shipped_component_names_the_package_to_install()
    {
        var bare = ComponentCatalog.Create([]);
        var e = Assert.Throws<PipelineException>(() => bare.Find("scoring.padim", ComponentKind.Scorer));
        Assert.Contains("unknown component type 'scoring.padim'", e.Message);
        Assert.Contains("dotnet add package PipelineFramework.Plugins.Scoring.Padim", e.Message);
        var other = Assert.Throws<PipelineException>(() => bare.Find("scoring.mine", ComponentKind.Scorer));
        Assert.DoesNotContain("dotnet add package", other.Message);
    }
}
