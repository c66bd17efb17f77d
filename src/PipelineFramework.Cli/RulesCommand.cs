using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Llm;
using PipelineFramework.Rules;

namespace PipelineFramework.Cli;

static partial class Commands
{
    /// <summary>
    /// `pf rules`: lists a model's accepted rules with their source; `--add` verifies new rules on the stored facts of
    /// the good parts and writes them into the model only if every one passes on all of them (else nothing changes);
    /// `--propose` asks the logic stage's LLM for rules from its description and the measured facts, and adds those
    /// that pass on every good part (the others are refused with the reason).
    /// </summary>
    public static Command Rules(CancellationToken cancellation)
    {
        var modelOption = new Option<string>("--model") { Description = "Model file from `pf fit` with a logic stage.", Required = true };
        var addOption = new Option<string?>("--add") { Description = "A JSON file of rules ({\"rules\": [...]}) to verify on the good parts and add (source: hand unless the rule says)." };
        var logicOption = new Option<int>("--logic") { Description = "Which logic check of the pipeline (0 = the first).", DefaultValueFactory = _ => 0 };
        var proposeOption = new Option<bool>("--propose") { Description = "Ask the LLM named in the logic stage (llmKind, llmModel; endpoint and key from the environment or user secrets) for rules from its description; verify and add them." };
        var command = new Command("rules", "List the logic rules of a model, or verify and add rules (by hand or proposed by an LLM).") { modelOption, addOption, logicOption, proposeOption };
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
            var addPath = parse.GetValue(addOption);
            bool propose = parse.GetValue(proposeOption);
            if (propose && addPath is not null) throw new PipelineException("Give --add or --propose, not both.");
            if (!propose && addPath is null)
            {
                PrintRules(LoadBook(modelPath, folder));
                return ExitCodes.Ok;
            }
            string? addText = addPath is null ? null : ReadRulesFile(addPath);
            // Read, change and write the model under one lock: two changes at once would each write the rules they
            // read plus their own, and the first one's rules would be lost while both reported success.
            using var held = ModelChangeLock.Acquire(modelPath, cancellation);
            var book = LoadBook(modelPath, folder);
            if (addText is null) return Propose(modelPath, index, folder, book, cancellation);
            var (updated, accepted, refused, warnings) = AddRules(book, addText, RuleSource.Hand);
            if (accepted.Count + refused.Count == 0)
                throw new PipelineException($"Rules file '{addPath}' holds no rules; nothing to add. Write {{\"rules\": [ {{ \"id\": ..., \"kind\": ..., \"check\": ... }} ]}}.");
            foreach (var w in warnings) Console.Error.WriteLine($"warning: {w.Reason}");
            foreach (var r in refused) Console.Error.WriteLine($"refused: {r.Reason}");
            if (refused.Count > 0)
                throw new PipelineException($"{refused.Count} of {refused.Count + accepted.Count} rules refused (reasons above); the model is unchanged. Fix or remove them and add again.");
            ModelFileEntries.ReplaceText(modelPath, new Dictionary<string, string> { [folder + "rules.json"] = updated.RulesJson() });
            Console.WriteLine($"Added {accepted.Count} rules ({string.Join(", ", accepted.Select(r => r.Id))}), each verified on {book.Good.Count} good parts; the model now has {updated.Rules.Count}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// One proposal round. Any failure before the rules are verified (no endpoint configured, no answer in time, a
    /// reply without usable JSON) is one clear error and leaves the model file untouched.
    /// </summary>
    static int Propose(string modelPath, int index, string folder, RuleBook book, CancellationToken cancellation)
    {
        var manifest = JsonNode.Parse(ModelFileEntries.ReadText(modelPath, "manifest.json"));
        var stage = manifest?["pipeline"]?["logic"]?[index] as JsonObject
            ?? throw new PipelineException($"Model '{modelPath}' does not record the options of logic check {index}; fit it again.");
        string description = stage["description"]?.GetValue<string>() ?? "";
        if (description.Trim().Length == 0)
            throw new PipelineException($"The logic stage of '{modelPath}' has no \"description\" of a good part; add one to the pipeline's logic stage (e.g. \"two red pins and one blue bar\") and fit again.");
        var endpoint = new LlmEndpointOptions
        {
            Kind = stage["llmKind"]?.GetValue<string>() ?? LlmKinds.OpenAI,
            Model = stage["llmModel"]?.GetValue<string>() ?? "",
            TimeoutSeconds = stage["llmTimeoutSeconds"]?.GetValue<double>() ?? 60,
        };
        var chat = LlmConnection.CreateChatService(endpoint, Services);
        var history = new ChatHistory();
        history.AddSystemMessage(RuleProposals.SystemPrompt);
        history.AddUserMessage(RuleProposals.UserPrompt(description, book));
        Console.WriteLine($"Asking {LlmConnection.Describe(endpoint)} for rules ({book.Classes.Count} classes, {book.Good.Count} good parts)");
        string? reply;
        try
        {
            reply = LlmFailure.CallAsync(endpoint, "llmTimeoutSeconds",
                async deadline => (await chat.GetChatMessageContentAsync(history, cancellationToken: deadline).ConfigureAwait(false)).Content,
                cancellation).GetAwaiter().GetResult();
        }
        catch (PipelineException e)
        {
            throw new PipelineException($"{e.Message}; the model is unchanged.");
        }
        RuleBook updated;
        IReadOnlyList<Rule> accepted;
        IReadOnlyList<Refusal> refused;
        try
        {
            (updated, accepted, refused, _) = book.Add(RuleProposals.ExtractJson(reply), RuleSource.Llm, DescriptionProblem);
        }
        catch (RuleException e)
        {
            throw new PipelineException($"The reply of {LlmConnection.Describe(endpoint)} is not a usable rules document ({e.Message}); the model is unchanged.");
        }
        foreach (var r in refused) Console.WriteLine($"refused: {r.Reason}");
        if (accepted.Count == 0)
        {
            // Refusals are for failing good parts, a range that checks nothing, or an id, source or description that cannot be taken (above).
            Console.WriteLine($"No proposed rule was added ({refused.Count} refused, reasons above); the model is unchanged.");
            return ExitCodes.Ok;
        }
        ModelFileEntries.ReplaceText(modelPath, new Dictionary<string, string> { [folder + "rules.json"] = updated.RulesJson() });
        Console.WriteLine($"Accepted {accepted.Count} proposed rules ({string.Join(", ", accepted.Select(r => r.Id))}), each verified on {book.Good.Count} good parts; {refused.Count} refused.");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Why a rule's description is refused before the rule is verified, or null, for a rule added by hand or proposed:
    /// the description is stored in the model, printed by `pf rules` and shown to the explainer's model later, so it is
    /// printable (no terminal escapes) and does not try to instruct a model. (That adding never replaces a rule nor
    /// claims another source is <see cref="RuleBook.Add"/>'s own check.)
    /// </summary>
    static string? DescriptionProblem(Rule rule)
    {
        if (LlmText.FirstControlCharacter(rule.Description) is { } c)
            return $"rule '{rule.Id}': its description holds the control character U+{(int)c:X4} (terminal escapes are never stored or printed)";
        return LlmText.Instruction(rule.Description) is { } words
            ? $"rule '{rule.Id}': its description holds text that tries to instruct a model (\"{words}\")"
            : null;
    }

    static string ReadRulesFile(string path)
    {
        UserPaths.RequireFile(path, "Rules file", "Write one as plugins/Logic.Components/README.md shows ({\"rules\": [...]}), or ask for proposals with --propose.");
        if (new FileInfo(path).Length > RuleParser.MaxDocumentBytes) throw new PipelineException($"Rules file '{path}' is larger than {RuleParser.MaxDocumentBytes / 1024} KiB.");
        return UserPaths.ReadUtf8Text(path, "Rules file");
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

    static (RuleBook, IReadOnlyList<Rule>, IReadOnlyList<Refusal>, IReadOnlyList<LooseRange>) AddRules(RuleBook book, string json, RuleSource source)
    {
        try
        {
            return book.Add(json, source, DescriptionProblem);
        }
        catch (RuleException e)
        {
            throw new PipelineException($"The rules were not added: {e.Message.TrimEnd('.')}. The model is unchanged.");
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
