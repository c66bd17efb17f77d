using System.Reflection;
using McMaster.NETCore.Plugins;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Plugins;

/// <summary>
/// Each plugin in its own load context, so a plugin may carry private versions of its dependencies. Shared with the
/// host: the contract, and the compute assemblies (Compute, Compute.Gpu with ILGPU), so that every plugin uses the
/// process's one GPU accelerator and memory budget instead of opening its own.
/// </summary>
public sealed class McMasterPluginLoader : IPluginAssemblyLoader
{
    static readonly Type[] SharedTypes = [typeof(IScorer), typeof(PipelineComponentAttribute), typeof(Compute.NearestNeighbourIndex), typeof(Compute.Gpu.ComputeBackend)];

    public Assembly LoadPlugin(string mainAssemblyPath)
    {
        var loader = PluginLoader.CreateFromAssemblyFile(mainAssemblyPath, sharedTypes: SharedTypes);
        return loader.LoadDefaultAssembly();
    }
}
