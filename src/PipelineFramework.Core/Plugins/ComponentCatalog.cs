using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Plugins;

/// <summary>
/// One option of a component: its JSON name, type and default, read from the options record, with its valid range
/// (numeric options) and whether AutoML may search it.
/// </summary>
public sealed record OptionInfo(string Name, Type Type, string DefaultJson)
{
    public OptionRangeAttribute? Range { get; init; }
    public bool Searchable { get; init; }
    /// <summary>The values of an enum or bool option, as written in JSON; empty for other types.</summary>
    public IReadOnlyList<string> Choices { get; init; } = [];
}

/// <summary>What the catalog knows of a component without creating it.</summary>
public sealed record ComponentDescriptor(
    string TypeName,
    ComponentKind Kind,
    string Description,
    Type ImplementationType,
    Type? OptionsType,
    IReadOnlyList<OptionInfo> Options,
    string Source,
    string Version)
{
    /// <summary>The plugin folder the component was loaded from; null for components built into Core.</summary>
    public string? Folder { get; init; }

    /// <summary>Built into Core or one of the plugins we ship, from its own folder: its bugs are ours to fix.</summary>
    public bool ShipsWithPf => Folder is null || ShippedPlugins.FolderOf.GetValueOrDefault(TypeName) == Source;
}

/// <summary>A plugin folder that could not be loaded, and why.</summary>
public sealed record PluginLoadError(string Folder, string Message);

/// <summary>The components a host can use, by JSON type name.</summary>
public interface IComponentCatalog
{
    IReadOnlyList<ComponentDescriptor> Components { get; }
    IReadOnlyList<PluginLoadError> LoadErrors { get; }

    /// <summary>Finds a component; an unknown name throws <see cref="PipelineException"/> listing the known ones.</summary>
    ComponentDescriptor Find(string typeName, ComponentKind? expectedKind = null);

    /// <summary>Creates a component from its options object (a JSON object without "type").</summary>
    object Create(ComponentDescriptor descriptor, JsonObject options, string jsonPath);

    /// <summary>The options with every default filled in, as they would be written back to JSON.</summary>
    JsonObject NormalizeOptions(ComponentDescriptor descriptor, JsonObject options, string jsonPath);
}

public static class ComponentCatalogExtensions
{
    /// <summary>Creates the component a spec names, checking that it is of the stage's kind.</summary>
    public static T Create<T>(this IComponentCatalog catalog, Spec.ComponentSpec component, ComponentKind kind) =>
        (T)catalog.Create(catalog.Find(component.Type, kind), component.Options, component.JsonPath);

    /// <summary>Type, plugin folder and version of every component of a spec that the catalog has, by manifest key.</summary>
    public static Dictionary<string, ModelFiles.ComponentManifest> Describe(this IComponentCatalog catalog, Spec.PipelineSpec spec) =>
        Engine.StageKinds.All
            .SelectMany(stage => spec.Components(stage).Select((c, i) => (Key: stage.ManifestKey(i), c.Type)))
            .Where(p => catalog.Components.Any(c => c.TypeName == p.Type))
            .ToDictionary(p => p.Key, p => { var d = catalog.Find(p.Type); return new ModelFiles.ComponentManifest(p.Type, d.Source, d.Version); });
}

/// <summary>Loads the assemblies of a plugin folder. McMaster.NETCore.Plugins today; a plain AssemblyLoadContext tomorrow.</summary>
public interface IPluginAssemblyLoader
{
    Assembly LoadPlugin(string mainAssemblyPath);
}

/// <summary>
/// Built-in components (in Core) plus plugins found in folders: each subfolder of a plugin directory is one plugin,
/// loaded in its own load context that shares only the contract assembly with the host.
/// </summary>
public sealed class ComponentCatalog : IComponentCatalog
{
    /// <summary>Extra plugin directories, separated by the platform's path separator.</summary>
    public const string PluginPathVariable = "PF_PLUGIN_PATH";

    readonly Dictionary<string, ComponentDescriptor> _byName = new(StringComparer.Ordinal);
    readonly List<PluginLoadError> _errors = [];

    public IReadOnlyList<ComponentDescriptor> Components => _byName.Values.OrderBy(d => d.Kind).ThenBy(d => d.TypeName, StringComparer.Ordinal).ToList();
    public IReadOnlyList<PluginLoadError> LoadErrors => _errors;

    ComponentCatalog() { }

    /// <summary>
    /// The catalog a host normally uses: built-ins, the plugins the build placed in <c>&lt;app&gt;/plugins</c>,
    /// the directories in <see cref="PluginPathVariable"/>, and <paramref name="extraPluginDirectories"/>.
    /// </summary>
    public static ComponentCatalog CreateDefault(IEnumerable<string>? extraPluginDirectories = null, IPluginAssemblyLoader? loader = null)
    {
        var dirs = new List<string> { Path.Combine(AppContext.BaseDirectory, "plugins") };
        var fromEnvironment = Environment.GetEnvironmentVariable(PluginPathVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
            dirs.AddRange(fromEnvironment.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        if (extraPluginDirectories is not null) dirs.AddRange(extraPluginDirectories);
        return Create(dirs, loader);
    }

    public static ComponentCatalog Create(IEnumerable<string> pluginDirectories, IPluginAssemblyLoader? loader = null)
    {
        var catalog = new ComponentCatalog();
        catalog.AddAssembly(typeof(ComponentCatalog).Assembly, "built-in");
        loader ??= new McMasterPluginLoader();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var dir in pluginDirectories)
        {
            var full = Path.GetFullPath(dir);
            if (!seen.Add(full)) continue;
            if (!Directory.Exists(full))
            {
                if (full != Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "plugins")))
                    catalog._errors.Add(new PluginLoadError(full, "plugin directory not found"));
                continue;
            }
            foreach (var folder in Directory.EnumerateDirectories(full).Order(StringComparer.Ordinal))
                catalog.AddPluginFolder(folder, loader);
        }
        return catalog;
    }

    /// <summary>Loads one plugin folder; a failure is recorded in <see cref="LoadErrors"/>, never thrown.</summary>
    public void AddPluginFolder(string folder, IPluginAssemblyLoader loader)
    {
        var name = Path.GetFileName(folder);
        try
        {
            var main = FindMainAssembly(folder);
            var assembly = loader.LoadPlugin(main);
            if (AddAssembly(assembly, name, folder) == 0)
                _errors.Add(new PluginLoadError(folder, $"{Path.GetFileName(main)} holds no class marked [PipelineComponent]"));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var detail = e is ReflectionTypeLoadException r && r.LoaderExceptions.FirstOrDefault() is { } first ? first.Message : e.Message;
            _errors.Add(new PluginLoadError(folder, detail));
        }
    }

    static string FindMainAssembly(string folder)
    {
        // The build writes <Assembly>.deps.json next to a plugin's main assembly; third-party folders may ship just <Folder>.dll.
        var deps = Directory.EnumerateFiles(folder, "*.deps.json").Order(StringComparer.Ordinal).FirstOrDefault();
        if (deps is not null)
        {
            var dll = deps[..^".deps.json".Length] + ".dll";
            if (File.Exists(dll)) return dll;
        }
        var named = Path.Combine(folder, Path.GetFileName(folder) + ".dll");
        if (File.Exists(named)) return named;
        throw new PipelineException($"no plugin assembly: expected <name>.deps.json with <name>.dll, or {Path.GetFileName(folder)}.dll");
    }

    /// <summary>Where each component came from, to name both places when a second copy offers the same type.</summary>
    readonly Dictionary<string, string> _origins = new(StringComparer.Ordinal);

    /// <summary>Adds the assembly's components; returns how many it marks, including those already provided elsewhere.</summary>
    int AddAssembly(Assembly assembly, string source, string? folder = null)
    {
        int marked = 0;
        Type[] types;
        try { types = assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { types = e.Types.Where(t => t is not null).ToArray()!; }
        var version = assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        foreach (var type in types)
        {
            var attribute = type.GetCustomAttribute<PipelineComponentAttribute>();
            if (attribute is null || type.IsAbstract) continue;
            marked++;
            var kind = KindOf(type) ?? throw new PipelineException(
                $"{type.FullName} is marked [PipelineComponent(\"{attribute.TypeName}\")] but implements no component interface.");
            var constructors = type.GetConstructors();
            if (constructors.Length != 1 || constructors[0].GetParameters().Length > 1)
                throw new PipelineException($"{type.FullName} must have one public constructor taking its options record (or nothing).");
            var optionsType = constructors[0].GetParameters().FirstOrDefault()?.ParameterType;
            var descriptor = new ComponentDescriptor(attribute.TypeName, kind, attribute.Description, type, optionsType,
                optionsType is null ? [] : ComponentOptions.Describe(optionsType), source, version) { Folder = folder };
            var origin = folder ?? source;
            if (_byName.ContainsKey(attribute.TypeName))
            {
                // The same plugin in two plugin folders (an old copy left in PF_PLUGIN_PATH, say): the first one found is used.
                _errors.Add(new PluginLoadError(origin, $"component '{attribute.TypeName}' is already provided by {_origins[attribute.TypeName]}; this copy is ignored"));
                continue;
            }
            _byName[attribute.TypeName] = descriptor;
            _origins[attribute.TypeName] = origin;
        }
        return marked;
    }

    static ComponentKind? KindOf(Type type) =>
        typeof(IScorer).IsAssignableFrom(type) ? ComponentKind.Scorer
        : typeof(IBackbone).IsAssignableFrom(type) ? ComponentKind.Backbone
        : typeof(IPatchEmbedding).IsAssignableFrom(type) ? ComponentKind.PatchEmbedding
        : typeof(IImageSynthesizer).IsAssignableFrom(type) || typeof(IFeatureSynthesizer).IsAssignableFrom(type) ? ComponentKind.Synthesizer
        : typeof(IThresholdPolicy).IsAssignableFrom(type) ? ComponentKind.ThresholdPolicy
        : typeof(ILogicCheck).IsAssignableFrom(type) ? ComponentKind.LogicCheck
        : typeof(IExplainer).IsAssignableFrom(type) ? ComponentKind.Explainer
        : null;

    public ComponentDescriptor Find(string typeName, ComponentKind? expectedKind = null)
    {
        if (!_byName.TryGetValue(typeName, out var descriptor))
        {
            var known = _byName.Values.Where(d => expectedKind is null || d.Kind == expectedKind).Select(d => d.TypeName).Order(StringComparer.Ordinal);
            var message = $"unknown component type '{typeName}'; known{(expectedKind is null ? "" : " " + KindWords(expectedKind.Value) + "s")}: {string.Join(", ", known)}";
            message += ShippedPlugins.InstallHint(typeName);
            if (_errors.Count > 0) message += $". Plugins that failed to load: {string.Join("; ", _errors.Select(e => $"{Path.GetFileName(e.Folder)} ({e.Message})"))}";
            throw new PipelineException(message);
        }
        if (expectedKind is { } kind && descriptor.Kind != kind)
            throw new PipelineException($"'{typeName}' is a {KindWords(descriptor.Kind)}, not a {KindWords(kind)}");
        return descriptor;
    }

    public static string KindWords(ComponentKind kind) => Engine.StageKinds.Of(kind).Words;

    public object Create(ComponentDescriptor descriptor, JsonObject options, string jsonPath)
    {
        var parsed = ComponentOptions.Parse(descriptor, options, jsonPath);
        const BindingFlags Constructor = BindingFlags.Public | BindingFlags.Instance | BindingFlags.DoNotWrapExceptions;
        try
        {
            return Activator.CreateInstance(descriptor.ImplementationType, Constructor, null, parsed is null ? [] : [parsed], null)!;
        }
        catch (PipelineException p) { throw new PipelineException($"{jsonPath}: {p.Message}", p); }
        catch (Exception e) when (ComponentFaultException.IsFault(e)) { throw new ComponentFaultException(descriptor, jsonPath, "starting", e); }
    }

    public JsonObject NormalizeOptions(ComponentDescriptor descriptor, JsonObject options, string jsonPath)
    {
        var parsed = ComponentOptions.Parse(descriptor, options, jsonPath);
        return parsed is null ? new JsonObject() : (JsonObject)JsonSerializer.SerializeToNode(parsed, descriptor.OptionsType!, ComponentOptions.Json)!;
    }
}
