using PipelineFramework.Abstractions;

namespace TestPlugin.Scoring.MeanDistance;

public sealed record BrightnessRangeOptions
{
    /// <summary>Tolerance added on both sides of the range the good parts span.</summary>
    [OptionRange(0, 1)] public double Margin { get; init; } = 0.02;
}

/// <summary>
/// Test plugin logic check: learns the mean brightness good parts span and fails a part outside it. Small enough to
/// check by hand; exercises a logic check's fit, state in the model file, load and rule results.
/// </summary>
[PipelineComponent("test.brightness-range", Description = "Test plugin: mean brightness within the range of good parts")]
public sealed class BrightnessRangeCheck(BrightnessRangeOptions options) : ILogicCheck
{
    public IFittedLogicCheck Fit(LogicFitInputs inputs, FitContext context)
    {
        if (inputs.Good.Count == 0) throw new PipelineException("test.brightness-range needs good parts to learn from.");
        var values = inputs.Good.Select(s => MeanBrightness(s.Image)).ToList();
        // Rounded to float as the model file stores them, so a loaded check decides exactly as the fitted one.
        return new Fitted((float)(values.Min() - options.Margin), (float)(values.Max() + options.Margin));
    }

    public IFittedLogicCheck Load(IModelReader state, FitContext context)
    {
        var range = state.ReadTensor("range", out _);
        return new Fitted(range[0], range[1]);
    }

    internal static double MeanBrightness(ImageTensor image)
    {
        double sum = 0;
        foreach (var v in image.Pixels) sum += v;
        return sum / image.Pixels.Length;
    }

    sealed class Fitted(double min, double max) : IFittedLogicCheck
    {
        public IReadOnlyList<RuleResult> Check(InspectionSubject subject)
        {
            double measured = MeanBrightness(subject.Image);
            return [new RuleResult
            {
                RuleId = "brightness", Passed = measured >= min && measured <= max, Measured = measured, ExpectedMin = min, ExpectedMax = max,
                Detail = "mean pixel value of the preprocessed part",
            }];
        }

        public void Save(IModelWriter state) => state.WriteTensor("range", [(float)min, (float)max], 2);
    }
}
