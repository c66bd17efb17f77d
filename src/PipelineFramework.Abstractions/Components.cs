namespace PipelineFramework.Abstractions;

/// <summary>
/// The stages a component can fill, in the order a pipeline runs them. A component's kind follows from the interface
/// it implements.
/// </summary>
public enum ComponentKind
{
    Synthesizer,
    Backbone,
    PatchEmbedding,
    Scorer,
    ThresholdPolicy,
    LogicCheck,
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

/// <summary>
/// A fitted component whose state goes into the model file (under its stage's folder). Disposing frees native or
/// device memory; components that hold none need not implement it.
/// </summary>
public interface IFittedComponent : IDisposable
{
    void Save(IModelWriter state);

    void IDisposable.Dispose() { }
}

/// <summary>
/// The valid range of a numeric option, inclusive at both ends unless marked exclusive. The host checks it for every
/// component (one place, before any work) and shows it in <c>pf plugins</c>; AutoML searches inside it, or inside
/// <see cref="SearchMin"/> .. <see cref="SearchMax"/> where those are set, on a log scale when <see cref="LogScale"/>.
/// Every numeric option has one, upper bound included: an option without a ceiling is a way to hang a fit.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = true)]
public sealed class OptionRangeAttribute(double min, double max) : Attribute
{
    public double Min { get; } = min;
    public double Max { get; } = max;
    public bool MinExclusive { get; init; }
    public bool MaxExclusive { get; init; }
    /// <summary>Search this option on a log scale (learning rates, ratios spanning decades).</summary>
    public bool LogScale { get; init; }
    /// <summary>Narrower range for AutoML; NaN = the valid range.</summary>
    public double SearchMin { get; init; } = double.NaN;
    public double SearchMax { get; init; } = double.NaN;

    public bool Contains(double value) =>
        !double.IsNaN(value)
        && (MinExclusive ? value > Min : value >= Min)
        && (MaxExclusive ? value < Max : value <= Max);

    public string Describe() => $"{(MinExclusive ? "(" : "[")}{Min:G6}, {Max:G6}{(MaxExclusive ? ")" : "]")}";
}

/// <summary>
/// Marks an option AutoML should not search (file paths, thread counts, batch sizes: settings of the run, not of the
/// method). Enum and bool options are searched over their values unless marked.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = true)]
public sealed class NotSearchedAttribute : Attribute;
