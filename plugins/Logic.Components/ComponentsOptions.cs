using PipelineFramework.Abstractions;

namespace PipelineFramework.Logic.Components;

public sealed record ComponentsOptions : IValidatableOptions
{
    /// <summary>Most component classes the colour clustering may find; the count is chosen from the data up to this.</summary>
    [OptionRange(2, 16)] public int MaxClasses { get; init; } = 10;

    /// <summary>A further class is kept while it cuts the clustering error by more than this fraction.</summary>
    [OptionRange(0.01, 0.9)] public double MinGain { get; init; } = 0.3;

    /// <summary>Smallest connected component kept, as a fraction of the image area (smaller ones are noise).</summary>
    [OptionRange(0, 0.1)] public double MinArea { get; init; } = 0.001;

    /// <summary>Pixels sampled per good image for the clustering.</summary>
    [OptionRange(100, 100000), NotSearched] public int PixelsPerImage { get; init; } = 3000;

    /// <summary>Learn rules (ranges, co-occurrences, orders) from the good parts.</summary>
    public bool LearnRules { get; init; } = true;

    /// <summary>Margin added to learned ranges beyond the leave-one-out gap, as a fraction of the range.</summary>
    [OptionRange(0, 2)] public double RuleMargin { get; init; } = 0.5;

    /// <summary>The composition threshold is the largest leave-one-out good distance times (1 + this).</summary>
    [OptionRange(0, 5)] public double CompositionMargin { get; init; } = 0.1;

    /// <summary>Side of the spatial grid of the composition vector (class area per cell).</summary>
    [OptionRange(1, 8)] public int Grid { get; init; } = 2;

    /// <summary>
    /// A plain-language description of a good part, for rules proposed by an LLM (`pf rules --propose`), e.g. "two red
    /// pins on the left, one blue bar and a green label on the right, two connectors of one colour at the bottom".
    /// </summary>
    [NotSearched] public string Description { get; init; } = "";

    /// <summary>Endpoint kind for proposals: openai, azure-openai or openai-compatible. URL and key come from the environment or user secrets, never from here.</summary>
    [NotSearched] public string LlmKind { get; init; } = "openai";

    /// <summary>Model (or Azure deployment) that proposes rules.</summary>
    [NotSearched] public string LlmModel { get; init; } = "gpt-4o-mini";

    /// <summary>Seconds a proposal may take before it is abandoned (the model is then left unchanged).</summary>
    [OptionRange(1, 600), NotSearched] public double LlmTimeoutSeconds { get; init; } = 60;

    public IEnumerable<OptionError> Validate()
    {
        if (Description.Length > 2000) yield return new OptionError("description", "at most 2000 characters");
        if (LlmModel.Contains("://", StringComparison.Ordinal))
            yield return new OptionError("llmModel", "is a URL; name the model only and put the endpoint in the environment (PF_LLM_ENDPOINT) or the user secrets file");
    }
}
