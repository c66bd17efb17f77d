using System.Globalization;
using PipelineFramework.Abstractions;
using PipelineFramework.Rules;

namespace PipelineFramework.Logic.Components;

/// <summary>
/// LogiCode-style logic check: colour classes learned from the good parts, connected components and their facts,
/// rules learned from the good parts (plus rules added later by hand or by an LLM, each verified on the good parts),
/// and a PSAD-style composition score. Works on the whole image (the resize before the centre crop) and learns from every
/// good training image (the hold-out parts and the scorer's fitting images).
/// </summary>
[PipelineComponent("logic.components", Description = "Component classes, facts and verified rules (LogiCode-style), plus a composition score fused with the image score")]
public sealed class ComponentsCheck(ComponentsOptions options) : ILogicCheck
{
    public IFittedLogicCheck Fit(LogicFitInputs inputs, FitContext context)
    {
        // Every good image teaches it: the hold-out parts and the images the scorer was fitted on (no map is needed).
        var good = inputs.FittingImages.Select(g => (g.Id, g.Image)).Concat(inputs.Good.Select(s => (s.Id, Image: Whole(s)))).ToList();
        if (good.Count < 3)
            throw new PipelineException($"logic.components needs at least 3 good images to learn from, got {good.Count}; add good images.");
        var images = good.Select(g => g.Image).ToList();
        var palette = Palette.Learn(images, options, context.SeedFor("logic.components"));
        // File names only: refusals name the good part, and the model file should not carry the training machine's folders.
        var facts = good.Select(g => ComponentAnalysis.Measure(Path.GetFileName(g.Id), g.Image, palette, options.MinArea)).ToList();
        var rules = options.LearnRules ? RuleLearner.Learn(palette.Names, facts, options.RuleMargin) : [];
        var book = new RuleBook(palette.Names, rules, facts);
        // Learned rules pass on the parts they were learned from by construction; checked anyway, one rule at a time.
        var refused = rules.Select(book.Verify).OfType<Refusal>().ToList();
        if (refused.Count > 0) book = new RuleBook(palette.Names, rules.Where(r => refused.All(x => x.RuleId != r.Id)).ToList(), facts);
        var composition = Composition.Fit(facts, palette.Names, options.Grid, options.CompositionMargin);
        context.Services.Log.Info($"logic.components: {palette.Count} classes ({string.Join(", ", palette.Names)}), {book.Rules.Count} learned rules on {facts.Count} good parts");
        return new Fitted(options, palette, book, composition);
    }

    public IFittedLogicCheck Load(IModelReader state, FitContext context)
    {
        var centres = state.ReadTensor("palette", out _);
        var book = RuleBook.Load(state.ReadText("rules.json"), state.ReadText("facts.json"));
        var palette = new Palette(centres, book.Classes.ToArray());
        var bank = state.ReadTensor("composition-bank", out _);
        var scale = state.ReadTensor("composition-scale", out _);
        var calibration = state.ReadTensor("composition-calibration", out _);
        return new Fitted(options, palette, book, new Composition(palette.Count, options.Grid, bank, scale, calibration[0], calibration[1]));
    }

    static ImageTensor Whole(InspectionSubject subject) => subject.WholeImage ?? subject.Image;

    internal sealed class Fitted(ComponentsOptions options, Palette palette, RuleBook book, Composition composition) : IFittedLogicCheck
    {
        public IReadOnlyList<RuleResult> Check(InspectionSubject subject) => Inspect(subject).Rules;

        public LogicOutcome Inspect(InspectionSubject subject)
        {
            var facts = ComponentAnalysis.Measure(subject.Id, Whole(subject), palette, options.MinArea);
            var results = new List<RuleResult>();
            double worst = double.NegativeInfinity;
            foreach (var (rule, outcome) in book.Evaluate(facts))
            {
                results.Add(new RuleResult
                {
                    RuleId = rule.Id, Passed = outcome.Passed, Measured = outcome.Measured, ExpectedMin = outcome.ExpectedMin, ExpectedMax = outcome.ExpectedMax,
                    Component = outcome.Component, Detail = $"[{rule.Kind.ToString().ToLowerInvariant()}, {rule.Source.ToString().ToLowerInvariant()}] {outcome.Detail}{Where(facts, outcome.Component)}",
                });
                // A broken rule puts the part past the threshold, further the further it is outside the expected range.
                if (!outcome.Passed) worst = Math.Max(worst, Math.Log(19) * outcome.Severity);
            }
            double score = composition.Score(facts, palette.Names);
            double margin = (score - composition.Threshold) / composition.Spread;
            results.Add(new RuleResult
            {
                RuleId = "composition", Passed = score <= composition.Threshold, Measured = score, ExpectedMax = composition.Threshold,
                Detail = "distance of the part's composition (class counts, areas and where they lie) to the nearest good part",
            });
            return new LogicOutcome { Rules = results, Margin = Math.Max(margin, worst) };
        }

        /// <summary>Where the concerned component is, in image fractions, so a reader can find it.</summary>
        static string Where(PartFacts facts, string component)
        {
            if (component.Length == 0) return "";
            var parts = component.Split(" #");
            var comps = facts.Class(parts[0])?.Components;
            if (comps is null || comps.Count == 0) return "";
            int k = parts.Length > 1 && int.TryParse(parts[1], out var n) ? n - 1 : 0;
            if (k >= comps.Count) return "";
            var b = comps[k].Box;
            return string.Create(CultureInfo.InvariantCulture, $"; at box x {b[0]:0.###}, y {b[1]:0.###}, w {b[2]:0.###}, h {b[3]:0.###} (image fractions)");
        }

        public void Save(IModelWriter state)
        {
            state.WriteTensor("palette", palette.Centres, palette.Count, 3);
            state.WriteText("rules.json", book.RulesJson());
            state.WriteText("facts.json", PartFacts.ToJson(book.Good));
            state.WriteTensor("composition-bank", composition.Bank, composition.Bank.Length / composition.Dim, composition.Dim);
            state.WriteTensor("composition-scale", composition.Scale, composition.Scale.Length);
            state.WriteTensor("composition-calibration", [(float)composition.Threshold, (float)composition.Spread], 2);
        }
    }
}
