using System.Reflection;
using McMaster.NETCore.Plugins;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Plugins;

/// <summary>Each plugin in its own load context; only the contract assembly is shared, so a plugin may carry private versions of its dependencies.</summary>
public sealed class McMasterPluginLoader : IPluginAssemblyLoader
{
    static readonly Type[] SharedTypes = [typeof(IScorer), typeof(PipelineComponentAttribute)];

    public Assembly LoadPlugin(string mainAssemblyPath)
    {
        var loader = PluginLoader.CreateFromAssemblyFile(mainAssemblyPath, sharedTypes: SharedTypes);
        return loader.LoadDefaultAssembly();
    }
}
