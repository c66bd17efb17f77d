using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Explain;

namespace PipelineFramework.Cli;

static partial class Commands
{
    /// <summary>
    /// <c>pf explain --model m.pfmodel --image part.png [--ask "question"]...</c>: scores one image and prints why it got
    /// its verdict, by the model's explainer (offline unless the pipeline named another), then answers each question
    /// in the same conversation. <c>--json</c> prints the whole conversation as JSON instead.
    /// </summary>
    public static Command Explain(Option<string[]> plugins, CancellationToken cancellation)
    {
        var modelOption = new Option<string>("--model") { Description = "Model file from `pf fit`.", Required = true };
        var imageOption = new Option<string>("--image") { Description = "The image of the part to explain.", Required = true };
        var askOption = new Option<string[]>("--ask") { Description = "A follow-up question about the part (repeat for more; asked in order, in one conversation).", AllowMultipleArgumentsPerToken = false };
        var jsonOption = new Option<bool>("--json") { Description = "Print the verdict and every answer as JSON (the shape of explanations.json)." };
        var command = new Command("explain", "Why did a part get its verdict? Scores one image and explains it from the measured facts; --ask continues the conversation.")
            { modelOption, imageOption, askOption, jsonOption };
        command.SetAction(async (parse, _) =>
        {
            var catalog = Catalog(parse.GetValue(plugins));
            var modelPath = parse.GetValue(modelOption)!;
            var image = parse.GetValue(imageOption)!;
            var questions = parse.GetValue(askOption) ?? [];
            UserPaths.RequireFile(image, "Image", "Give the path of one image file with --image.");
            foreach (var q in questions)
                if (string.IsNullOrWhiteSpace(q)) throw new PipelineException("--ask is empty; give a question, e.g. --ask \"is it on the label or on the glass?\".");

            using var model = AnomalyModel.Load(modelPath, catalog, Services, cancellation);
            var result = model.Inspect([image], null, cancellation)[0];
            var conversation = model.Converse(result);
            var first = await conversation.ExplainAsync(cancellation);
            var answers = new List<(string Question, Explanation Answer)> { ("", first) };
            foreach (var question in questions)
                answers.Add((question, await conversation.AskAsync(question, cancellation)));

            if (parse.GetValue(jsonOption))
            {
                var json = new JsonObject
                {
                    ["image"] = result.Id, ["score"] = result.Score, ["raw_score"] = result.RawScore, ["threshold"] = model.Threshold,
                    ["is_anomaly"] = result.IsAnomaly, ["input_warning"] = result.InputWarning,
                    ["explanation"] = ExplanationJson.ToJson(first),
                    ["follow_ups"] = new JsonArray(answers.Skip(1).Select(a => (JsonNode)new JsonObject
                    {
                        ["question"] = a.Question, ["answer"] = ExplanationJson.ToJson(a.Answer),
                    }).ToArray()),
                };
                Console.WriteLine(json.ToJsonString(Json));
                return ExitCodes.Ok;
            }
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine($"{result.Id}: {first.Verdict}, score {result.Score.ToString("0.000", c)} (raw {result.RawScore.ToString("0.###", c)}, threshold {model.Threshold.ToString("0.###", c)})");
            foreach (var (question, answer) in answers)
            {
                if (question.Length > 0) Console.WriteLine($"\nQ: {question}");
                Console.WriteLine((question.Length > 0 ? "A: " : "") + answer.Summary);
                foreach (var reason in answer.Evidence)
                    Console.WriteLine($"  - {reason.Text}{(reason.Facts.Count > 0 ? $"  [{string.Join(", ", reason.Facts)}]" : "")}");
                Console.WriteLine($"  confidence {answer.Confidence.ToString("0.00", c)}, explained by {answer.Source}");
                foreach (var note in answer.Notes) Console.WriteLine($"  note: {note}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
