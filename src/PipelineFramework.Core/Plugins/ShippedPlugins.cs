namespace PipelineFramework.Core.Plugins;

/// <summary>
/// Which NuGet package provides each component that ships with the framework as a plugin, so that a host without it
/// can say what to install (a test checks this table against the plugins the solution builds).
/// </summary>
public static class ShippedPlugins
{
    public const string PackagePrefix = "PipelineFramework.Plugins.";

    /// <summary>Component type name to the plugin's folder (under plugins/ in the repository and in an app).</summary>
    public static IReadOnlyDictionary<string, string> FolderOf { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["backbone.onnx"] = "Features.Onnx",
        ["scoring.patchcore"] = "Scoring.PatchCore",
        ["scoring.padim"] = "Scoring.Padim",
        ["scoring.simplenet"] = "Scoring.SimpleNet",
        ["synthesis.poisson"] = "Synthesis.Blend",
        ["synthesis.cutpaste"] = "Synthesis.CutPaste",
        ["synthesis.feature-noise"] = "Synthesis.FeatureNoise",
        ["synthesis.perlin"] = "Synthesis.Perlin",
        ["logic.components"] = "Logic.Components",
        ["explain.llm"] = "Explain.SemanticKernel",
    };

    /// <summary>The package that provides a shipped component, or null for anything else.</summary>
    public static string? PackageOf(string typeName) => FolderOf.TryGetValue(typeName, out var folder) ? PackagePrefix + folder : null;

    /// <summary>The sentence an unknown-component error adds when the component is one of ours.</summary>
    internal static string? InstallHint(string typeName) => PackageOf(typeName) is { } package
        ? $". '{typeName}' is provided by the {package} package: `dotnet add package {package}` puts it in the app's plugins/ folder at build "
          + $"(or copy the plugin's folder there, or name its folder in {ComponentCatalog.PluginPathVariable})"
        : null;
}
