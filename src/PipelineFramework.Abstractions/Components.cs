namespace PipelineFramework.Abstractions;

/// <summary>The stages a component can fill. A component's kind follows from the interface it implements.</summary>
public enum ComponentKind
{
    Synthesizer,
    FeatureExtractor,
    Scorer,
    LogicCheck,
    ThresholdPolicy,
    Explainer,
}

/// <summary>
/// Marks a class as a pipeline component and gives the stable type name used in JSON (<c>"scoring.patchcore"</c>).
/// The class has one public constructor; its single parameter, if any, is the options record (hyperparameters only,
/// defaults in the record). Fitting returns a separate fitted object, so the component itself stays immutable.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class PipelineComponentAttribute(string typeName) : Attribute
{
    public string TypeName { get; } = typeName;

    /// <summary>One line shown by <c>pf plugins</c>.</summary>
    public string Description { get; init; } = "";
}

/// <summary>An options record that can check its own values. Validation lives in one place: here.</summary>
public interface IValidatableOptions
{
    IEnumerable<OptionError> Validate();
}

/// <summary>A problem with one option; <paramref name="Option"/> is the JSON name (camelCase).</summary>
public sealed record OptionError(string Option, string Message);

/// <summary>
/// An error a user can act on: what is wrong and what to do. Components throw it for bad input or configuration;
/// front ends print its message without a stack trace.
/// </summary>
public class PipelineException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Progress of long work, reported through <see cref="IProgress{T}"/>.</summary>
public readonly record struct ProgressUpdate(string Stage, int Done, int Total);
