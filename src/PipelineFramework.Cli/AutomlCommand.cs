using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.Experiment;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Selection;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Core;

namespace PipelineFramework.Cli;

static partial class Commands
{
    public static Command Automl(Option<string[]> plugins, CancellationToken cancellation)
    {
        var searchOption = new Option<string>("--search") { Description = "Search file (JSON) or shipped search name.", DefaultValueFactory = _ => "automl-default" };
        var dataOption = new Option<string>("--data") { Description = "A category folder (only train/good is read) or a root of category folders.", Required = true };
        var outOption = new Option<string>("--out") { Description = "Output folder: per category trials.jsonl, best.json, model.pfmodel, report.html; summary.json for a root.", Required = true };
        var budgetOption = new Option<string?>("--budget") { Description = "Time per category, e.g. 10m, 90s, 1h (default: the search file's)." };
        var trialsOption = new Option<int?>("--trials") { Description = "Most trials per category (default: the search file's)." };
        var tunerOption = new Option<string?>("--tuner") { Description = $"Tuner: {string.Join(", ", TunerFactory.Names)} (default: the search file's)." };
        var parallelOption = new Option<string?>("--parallel")
        {
            Description = "Trials at once: a number or auto (one per 4 cores and 2 GB of --memory share; 1 on a 2-core machine). Default: the search file's budget.parallel, else auto.",
        };
        var pickOption = new Option<string>("--pick") { Description = "Choice from the Pareto front: best, fastest:<ms per image>, weight:<w>.", DefaultValueFactory = _ => "best" };
        var auditOption = new Option<bool>("--audit")
        {
            Description = "After the search, fit the audited trials and score the real test set (test/, ground_truth/): audit.json with Kendall's tau between validation and test AUROC. The search itself never reads them.",
        };
        var auditTrialsOption = new Option<int>("--audit-trials") { Description = "Most trials audited per category (spread over the validation ranking).", DefaultValueFactory = _ => 30 };
        var command = new Command("automl", "Search pipelines per product category from good training images only; resumes from trials.jsonl.")
        {
            searchOption, dataOption, outOption, budgetOption, trialsOption, tunerOption, parallelOption, pickOption, auditOption, auditTrialsOption,
        };
        command.SetAction(parse =>
        {
            var catalog = Catalog(parse.GetValue(plugins));
            var searchPath = ResolvePipeline(parse.GetValue(searchOption)!);
            var space = SearchSpec.ParseFile(searchPath, catalog, name => ResolvePipeline(name));
            var search = new AutoMLSearch(space, catalog, Services) { Pick = Pick.Parse(parse.GetValue(pickOption)!) };
            if (parse.GetValue(budgetOption) is { } budget) search.Budget = search.Budget with { Time = SearchSpec.ParseDuration(budget, "--budget") };
            if (parse.GetValue(trialsOption) is { } trials)
                search.Budget = search.Budget with { Trials = trials > 0 ? trials : throw new PipelineException($"--trials {trials}: must be at least 1.") };
            if (parse.GetValue(tunerOption) is { } tuner)
                search.TunerName = TunerFactory.Names.Contains(tuner) ? tuner : throw new PipelineException($"--tuner '{tuner}' is not known; use {string.Join(", ", TunerFactory.Names)}.");
            if (parse.GetValue(parallelOption) is { } parallel) search.Budget = search.Budget with { Parallel = SearchSpec.ParseParallel(parallel, "--parallel") };
            if (search.Budget.Parallel is { } asked && asked > search.Parallel)
                Console.Error.WriteLine($"note: {asked} trials at once is more than this machine's {Environment.ProcessorCount} cores; {search.Parallel} run at once " +
                    "(more would only share the cores, and each trial's ms/image would count the others' work).");
            int auditTrials = parse.GetValue(auditTrialsOption);
            if (auditTrials < 2) throw new PipelineException($"--audit-trials {auditTrials}: Kendall's tau needs at least 2 trials.");

            var data = parse.GetValue(dataOption)!;
            var categories = CategorySearch.Categories(data);
            WarnNotCategories(data);
            var outDir = Path.GetFullPath(parse.GetValue(outOption)!);
            OutputPaths.CheckResultsFolder("--out", outDir, new(data, "the data folder (--data)"));
            bool root = categories.Count > 1 || Path.GetFullPath(categories[0]) != Path.GetFullPath(data);
            var targets = categories.Select(category =>
            {
                string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(category)));
                return (Category: category, Name: name, Folder: root ? Path.Combine(outDir, name) : outDir);
            }).ToList();
            using var outputLock = OutputFolderLock.Acquire([outDir, .. targets.Select(t => t.Folder)]);
            Console.Error.WriteLine($"AutoML '{space.Name}' ({searchPath}): {space.Parameters.Count} parameters, tuner {search.TunerName}, " +
                $"budget {search.Budget.Time.TotalMinutes:0.#} min / {search.Budget.Trials} trials per category, {search.Parallel} at once, {categories.Count} categor{(categories.Count == 1 ? "y" : "ies")}");

            var outcomes = new List<CategoryOutcome>();
            var audits = new List<CategoryAudit>();
            // Rewritten before the first category and after each: an earlier run's summary never stays beside this run's
            // category folders, and a run stopped on the way leaves one that says so (complete false, pending categories).
            var leftOut = Core.Data.ImageDataset.NotCategories(data).Select(f => Path.GetFileName(f)!).ToList();
            void WriteSummary()
            {
                if (!root) return;
                var pending = targets.Select(t => t.Name).Where(n => outcomes.All(o => o.Category != n)).ToList();
                AtomicFile.WriteText(Path.Combine(outDir, "summary.json"), CategorySearch.Summary(outcomes, pending, leftOut).ToJsonString(Json));
            }
            WriteSummary();
            foreach (var (category, name, folder) in targets)
            {
                var progress = new SearchProgressLine(name);
                try
                {
                    var outcome = CategorySearch.Run(search, category, folder, catalog, Services, progress, cancellation);
                    outcomes.Add(outcome);
                    if (cancellation.IsCancellationRequested) break;
                    var r = outcome.Result;
                    Console.Error.WriteLine($"[{name}] search ended ({r.StopReason}) after {r.Trials.Count} trials ({r.TrialsRun} this run, {r.Trials.Count - r.TrialsRun} from trials.jsonl)");
                    if (r.Trials.Count(t => t.FaultTrace is not null) is > 0 and var faulty)
                        Console.Error.WriteLine($"[{name}] {faulty} trial{(faulty == 1 ? "" : "s")} failed with a bug (the reason in trials.jsonl names the component and whom to tell); " +
                            $"the stack traces for its author are in {new TrialLog(Path.Combine(folder, CategorySearch.TrialsFile)).ErrorsPath}");
                    if (parse.GetValue(auditOption) && outcome.Result.Chosen is not null)
                    {
                        var audit = Audit.Run(category, outcome.Result.Trials, outcome.Result.Chosen.Number, catalog, Services, space.Objective, auditTrials,
                            new Progress<string>(line => Console.Error.WriteLine($"[{name}] {line}")), cancellation);
                        audits.Add(audit);
                        AtomicFile.WriteText(Path.Combine(folder, "audit.json"), JsonSerializer.Serialize(audit, Json));
                        AtomicFile.WriteText(Path.Combine(folder, CategorySearch.ReportFile),
                            AutoML.Report.AutoMLReport.Render($"AutoML on {name}", outcome.Result, search.Pick.ToString(),
                                File.ReadAllText(outcome.BestJsonPath!), audit));
                    }
                }
                catch (PipelineException e) when (root)
                {
                    Console.Error.WriteLine($"[{name}] failed: {e.Message}");
                    var kept = UserPaths.IsUnused(folder, OutputFolderLock.FileName) ? null : folder;
                    outcomes.Add(new CategoryOutcome(name, kept, new SearchResult([], [], null, 0, 0, 0, TimeSpan.Zero, "failed"), null, null, e.Message));
                }
                WriteSummary();
            }
            WriteSummary();
            Console.Write(Table(outcomes, audits));
            Console.WriteLine($"Results in {outDir}");
            if (cancellation.IsCancellationRequested)
            {
                Console.Error.WriteLine("Cancelled: finished trials are in trials.jsonl; run the same command again to continue.");
                return ExitCodes.Cancelled;
            }
            return outcomes.Any(o => o.Error is not null) ? ExitCodes.InputError : ExitCodes.Ok;
        });
        return command;
    }

    static string Table(IReadOnlyList<CategoryOutcome> outcomes, IReadOnlyList<CategoryAudit> audits)
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine($"{"category",-14} {"trials",6} {"val obj",8} {"val img",8} {"val px",8} {"ms/img",8} {"search s",9} {"test img",9} {"tau",6}  chosen");
        foreach (var o in outcomes)
        {
            var c = o.Result.Chosen;
            var v = c?.Validation;
            var audit = audits.FirstOrDefault(a => a.Category == o.Category);
            var test = audit?.Trials.FirstOrDefault(t => t.Trial == c?.Number);
            string F(double? x) => x is { } d && double.IsFinite(d) ? d.ToString("F4", inv) : "-";
            text.AppendLine($"{o.Category,-14} {o.Result.Trials.Count,6} {F(v?.Objective),8} {F(v?.ImageAuroc),8} {F(v?.PixelAuroc),8} " +
                $"{(c is null ? "-" : c.TotalMs.ToString("F1", inv)),8} {o.Result.Elapsed.TotalSeconds.ToString("F0", inv),9} {F(test?.TestImageAuroc),9} {(audit?.TauObjective is { } tau ? tau.ToString("F2", inv) : "-"),6}  " +
                (o.Error ?? (o.Result.ChosenAsWritten is { } written ? AutoML.Report.AutoMLReport.Summary(written) : "no successful trial")));
        }
        return text.ToString();
    }

    /// <summary>One line per finished trial on stderr: trials done, this trial, best so far, time left.</summary>
    sealed class SearchProgressLine(string category) : IProgress<SearchProgress>
    {
        public void Report(SearchProgress p)
        {
            var left = p.Budget - p.Elapsed;
            string trial = p.Last.Succeeded ? $"objective {p.Last.Validation!.Objective:F4}, {p.Last.TotalMs:F1} ms/img" : $"{p.Last.Status}: {p.Last.Reason}";
            string best = p.Best is { } b ? $"best {b.Validation!.Objective:F4} (#{b.Number})" : "no best yet";
            if (!p.Last.FullFraction) trial += $", {p.Last.FitImages} fitting images (rung {p.Last.Rung})";
            Console.Error.WriteLine($"[{category}] trial {p.Last.Number} ({p.TrialsDone} done, {p.TrialsRun} this run): {trial} | {best} | {Math.Max(0, left.TotalMinutes):F1} min left");
        }
    }
}
