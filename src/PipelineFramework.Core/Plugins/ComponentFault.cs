using PipelineFramework.Abstractions;
using PipelineFramework.Core.Spec;

namespace PipelineFramework.Core.Plugins;

/// <summary>
/// A component (built in or a plugin) threw something unexpected: a bug of that component, not of the user's input.
/// Names the component, its stage, the step and the plugin it was loaded from, so the user knows whose bug it is; the
/// component's own exception is the inner one (its stack trace goes to the log). The message names the plugin by its
/// folder's name only (a service shows it to clients, who never see the server's folders); <see cref="Advice"/> gives
/// the full path.
/// </summary>
public sealed class ComponentFaultException : Exception
{
    public ComponentFaultException(ComponentDescriptor component, string jsonPath, string step, Exception inner)
        : base($"{Naming(component, jsonPath, step)}: " + inner.Message.TrimEnd(), inner)
    {
        Component = component;
        Step = step;
        Where = Naming(component, jsonPath, step);
    }

    /// <summary>The message without the component's own: which component failed, where in the pipeline and while doing what.</summary>
    public string Where { get; }

    static string Naming(ComponentDescriptor component, string jsonPath, string step) =>
        $"The {ComponentCatalog.KindWords(component.Kind)} {component.TypeName} ({jsonPath}, {OriginWords(component)}) failed while {step}";

    public ComponentDescriptor Component { get; }
    /// <summary>What the component was doing ("fitting", "scoring", ...).</summary>
    public string Step { get; }

    /// <summary>
    /// Whose bug it is and what the user can do about it, to follow the message; <paramref name="log"/> is where the
    /// details were written (null when nowhere).
    /// </summary>
    public string Advice(string? log)
    {
        var with = log is null ? "with the command you ran" : $"with the log {log}";
        var other = $"choose another {ComponentCatalog.KindWords(Component.Kind)} in the pipeline";
        var loaded = Component.Folder is { } folder ? $" (loaded from {folder})" : "";
        return Component.ShipsWithPf
            ? $"This is a bug in PipelineFramework{loaded}, not in your input: please report it to us {with}; meanwhile {other}."
            : $"This is a bug in the plugin {Component.Source}{loaded}, not in your input or in pf: report it to the plugin's author {with}, or {other}.";
    }

    static string OriginWords(ComponentDescriptor component) =>
        component.Folder is null ? "built into pf" : $"plugin {component.Source}{(component.ShipsWithPf ? ", shipped with pf" : "")}";

    /// <summary>
    /// What the guard wraps: anything but the component's own clear message about the input (a
    /// <see cref="PipelineException"/>), a cancellation or running out of memory (AutoML's memory share and cancellation
    /// read those), the machine's files failing (a full disk while a component writes its state is not its bug; the
    /// message names the file), or a fault already named. An AggregateException (a component's own parallel loop) is
    /// wrapped when anything inside it would be.
    /// </summary>
    public static bool IsFault(Exception e) => e switch
    {
        PipelineException or OperationCanceledException or OutOfMemoryException or IOException or UnauthorizedAccessException
            or ComponentFaultException => false,
        AggregateException aggregate => aggregate.Flatten().InnerExceptions.Any(IsFault),
        _ => true,
    };

    /// <summary>The fault in <paramref name="e"/>: itself, or the first one inside an AggregateException (a host's parallel loop over components).</summary>
    public static ComponentFaultException? In(Exception e) => e switch
    {
        ComponentFaultException fault => fault,
        AggregateException aggregate => aggregate.Flatten().InnerExceptions.OfType<ComponentFaultException>().FirstOrDefault(),
        _ => null,
    };
}

public static class ComponentGuard
{
    /// <summary>
    /// Calls into the component <paramref name="component"/> names: what it throws unexpectedly becomes a
    /// <see cref="ComponentFaultException"/> naming it. Around a batch call, not a patch: the try costs nothing, and the
    /// component is looked up only when it fails.
    /// </summary>
    public static T Guard<T>(this IComponentCatalog catalog, ComponentSpec component, string step, Func<T> call)
    {
        try { return call(); }
        catch (Exception e) when (ComponentFaultException.IsFault(e)) { throw new ComponentFaultException(catalog.Find(component.Type), component.JsonPath, step, e); }
    }

    /// <inheritdoc cref="Guard{T}(IComponentCatalog, ComponentSpec, string, Func{T})"/>
    public static void Guard(this IComponentCatalog catalog, ComponentSpec component, string step, Action call)
    {
        try { call(); }
        catch (Exception e) when (ComponentFaultException.IsFault(e)) { throw new ComponentFaultException(catalog.Find(component.Type), component.JsonPath, step, e); }
    }
}

/// <summary>
/// What a component's author needs to find a bug: the exception's type and stack trace, and its inner exceptions',
/// without their messages. A message can carry what must never be written to a file (an SDK's error names its endpoint
/// URL, a connection string or a key); type names and code locations carry no data.
/// </summary>
public static class StackTraces
{
    public static string WithoutMessages(Exception exception)
    {
        var text = new System.Text.StringBuilder();
        Append(exception, 0);
        return text.ToString().TrimEnd();

        void Append(Exception e, int depth)
        {
            text.Append(depth == 0 ? "" : new string(' ', depth - 1) + "---> ").AppendLine(e.GetType().FullName);
            if (e.StackTrace is { } trace) text.AppendLine(trace);
            IReadOnlyList<Exception> inner = e is AggregateException aggregate ? aggregate.InnerExceptions : e.InnerException is { } one ? [one] : [];
            foreach (var i in inner) Append(i, depth + 1);
        }
    }
}
