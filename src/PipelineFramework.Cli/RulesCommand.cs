using System.CommandLine;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Rules;

namespace PipelineFramework.Cli;

static partial class Commands
{
    /// <summary>
    /// `pf rules`: lists a model's accepted rules with their source; `--add` verifies new rules on the stored facts of
    /// the good parts and writes them into the model only if every one passes on all of them (else nothing changes).
    /// </summary>
    public static Command Rules()
    {
        var modelOption = new Option<string>("--model") { Description = "Model file from `pf fit` with a logic stage.", Required = true };
        var addOption = new Option<string?>("--add") { Description = "A JSON file of rules ({\"rules\": [...]}) to verify on the good parts and add (source: hand unless the rule says)." };
        var logicOption = new Option<int>("--logic") { Description = "Which logic check of the pipeline (0 = the first).", DefaultValueFactory = _ => 0 };
        var command = new Command("rules", "List the logic rules of a model, or verify and add rules.") { modelOption, addOption, logicOption };
        command.SetAction(parse =>
        {
            var modelPath = parse.GetValue(modelOption)!;
            int index = parse.GetValue(logicOption);
            string folder = $"logic/{index}/";
            var names = ModelFileEntries.Names(modelPath);
            if (!names.Contains(folder + "rules.json"))
            {
                var checks = names.Where(n => n.StartsWith("logic/", StringComparison.Ordinal) && n.EndsWith("/rules.json", StringComparison.Ordinal)).ToList();
                throw new PipelineException(checks.Count == 0
                    ? $"Model '{modelPath}' has no logic check with rules; fit it with a pipeline that has a \"logic\" stage (e.g. patchcore-logic-mobilenet)."
                    : $"Model '{modelPath}' has no rules at --logic {index}; its checks with rules: {string.Join(", ", checks.Select(c => c.Split('/')[1]))}.");
            }
            var book = LoadBook(modelPath, folder);
            var addPath = parse.GetValue(addOption);
            if (addPath is null)
            {
                PrintRules(book);
                return ExitCodes.Ok;
            }
            if (!File.Exists(addPath)) throw new PipelineException($"Rules file '{addPath}' does not exist.");
            if (new FileInfo(addPath).Length > RuleParser.MaxDocumentBytes) throw new PipelineException($"Rules file '{addPath}' is larger than {RuleParser.MaxDocumentBytes / 1024} KiB.");
            var (updated, accepted, refused) = AddRules(book, File.ReadAllText(addPath), RuleSource.Hand);
            foreach (var r in refused) Console.Error.WriteLine($"refused: {r.Reason}");
            if (refused.Count > 0)
                throw new PipelineException($"{refused.Count} of {refused.Count + accepted.Count} rules refused (each rejects a good training part); the model is unchanged. Fix or remove them and add again.");
            ModelFileEntries.ReplaceText(modelPath, new Dictionary<string, string> { [folder + "rules.json"] = updated.RulesJson() });
            Console.WriteLine($"Added {accepted.Count} rules ({string.Join(", ", accepted.Select(r => r.Id))}), each verified on {book.Good.Count} good parts; the model now has {updated.Rules.Count}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    static RuleBook LoadBook(string modelPath, string folder)
    {
        try
        {
            return RuleBook.Load(ModelFileEntries.ReadText(modelPath, folder + "rules.json"), ModelFileEntries.ReadText(modelPath, folder + "facts.json"));
        }
        catch (RuleException e)
        {
            throw new PipelineException($"The rules stored in '{modelPath}' cannot be read ({e.Message}); fit the model again.");
        }
    }

    static (RuleBook, IReadOnlyList<Rule>, IReadOnlyList<Refusal>) AddRules(RuleBook book, string json, RuleSource source)
    {
        try
        {
            return book.Add(json, source);
        }
        catch (RuleException e)
        {
            throw new PipelineException($"The rules were not added: {e.Message}. The model is unchanged.");
        }
    }

    static void PrintRules(RuleBook book)
    {
        Console.WriteLine($"classes: {string.Join(", ", book.Classes)}; verified on {book.Good.Count} good parts");
        Console.WriteLine($"{"id",-28} {"kind",-9} {"source",-8} description / check");
        foreach (var rule in book.Rules)
            Console.WriteLine($"{rule.Id,-28} {rule.Kind.ToString().ToLowerInvariant(),-9} {rule.Source.ToString().ToLowerInvariant(),-8} {(rule.Description.Length > 0 ? rule.Description + ": " : "")}{System.Text.Json.Nodes.JsonNode.Parse(rule.Json)!["check"]!.ToJsonString()}");
    }
}
