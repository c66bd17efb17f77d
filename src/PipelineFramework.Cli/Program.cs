using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Cli;
using PipelineFramework.Core;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.Hosting;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var pluginsOption = new Option<string[]>("--plugins")
{
    Description = $"Extra plugin folders (each holds one folder per plugin); also read from {ComponentCatalog.PluginPathVariable}.",
    Recursive = true,
    AllowMultipleArgumentsPerToken = true,
};

TerminalOutput.Install();
var deviceOption = Commands.DeviceOption();
using var interruption = new Interruption();
// Exceptions on worker threads never reach the catch below; without this they would end the process with a stack trace.
AppDomain.CurrentDomain.UnhandledException += (_, e) =>
    Environment.Exit(LastResort.Report(e.ExceptionObject as Exception ?? new Exception(e.ExceptionObject?.ToString()), args));
try
{
    var root = new RootCommand("PipelineFramework: visual anomaly detection pipelines declared in JSON.") { pluginsOption, deviceOption };
    root.Subcommands.Add(Commands.Demo(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.Fit(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.Score(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.Evaluate(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.Synth(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.Plugins(pluginsOption));
    root.Subcommands.Add(Commands.Rules(interruption.Token));
    root.Subcommands.Add(Commands.Automl(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.Explain(pluginsOption, interruption.Token));
    root.Subcommands.Add(Commands.GenerateCatalog(pluginsOption));
    root.Subcommands.Add(Commands.Serve(pluginsOption, interruption.Token));
    var parsed = root.Parse(args);
    // System.CommandLine's own report is the errors plus the whole help text; one line that points at --help is clearer.
    if (parsed.Errors.Count > 0 && parsed.Action is not { ClearsParseErrors: true })
    {
        Console.Error.WriteLine($"error: {string.Join(" ", parsed.Errors.Select(e => Commands.PlainParseError(e.Message)).Distinct())} Run '{Commands.CommandLine(parsed)} --help' for the options.");
        return ExitCodes.InputError;
    }
    if (parsed.Action is not { ClearsParseErrors: true } && !Commands.UseDevice(parsed.GetValue(deviceOption))) return ExitCodes.InputError;
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    return LastResort.Report(e, args);
}

namespace PipelineFramework.Cli
{
    static partial class Commands
    {
        static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

        public static Command Demo(Option<string[]> plugins, CancellationToken cancellation)
        {
            var outOption = new Option<string>("--out") { Description = "Output folder.", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON file or shipped pipeline name.", DefaultValueFactory = _ => "patchcore-mobilenet" };
            var command = new Command("demo", "Fit the default pipeline on the shipped hazelnut images, evaluate it and write a report.") { outOption, pipelineOption };
            command.SetAction(parse =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var data = Path.Combine(AppContext.BaseDirectory, "demo-data", "hazelnut");
                var pipelinePath = ResolvePipeline(parse.GetValue(pipelineOption)!);
                var outDir = Path.GetFullPath(parse.GetValue(outOption)!);
                var pipeline = LoadPipeline(pipelinePath, catalog);
                OutputPaths.CheckResultsFolder("--out", outDir, new(data, "the demo data folder"));
                Console.WriteLine($"Demo: pipeline '{pipeline.Spec.Name}' ({pipelinePath})");
                Console.WriteLine($"      data {data} (Intel toy hazelnut set, CC-BY-4.0)");
                var results = Evaluator.Run(pipeline, data, outDir, new EvaluationOptions { SaveModels = true, Progress = new ConsoleProgress(), Cancellation = cancellation });
                Console.WriteLine();
                Console.Write(Evaluator.FormatTable(results));
                Console.WriteLine();
                Console.WriteLine($"Model:   {Path.Combine(outDir, "model.pfmodel")}");
                Console.WriteLine($"Metrics: {Path.Combine(outDir, "metrics.json")}");
                Console.WriteLine($"Report:  {Path.Combine(outDir, "report.html")}  (open it in a browser)");
                Console.WriteLine($"Next:    pf score --model {Path.Combine(outDir, "model.pfmodel")} --images <image or folder>");
                return ExitCodes.Ok;
            });
            return command;
        }

        public static Command Fit(Option<string[]> plugins, CancellationToken cancellation)
        {
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON file or shipped pipeline name.", Required = true };
            var dataOption = new Option<string>("--data") { Description = "Good images: an MVTec-style category folder (train/good is used) or a folder of images.", Required = true };
            var modelOption = new Option<string>("--model") { Description = "Model file to write (written atomically).", Required = true };
            var command = new Command("fit", "Fit a pipeline on images of good parts and write the model file.") { pipelineOption, dataOption, modelOption };
            command.SetAction(parse =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var pipelinePath = ResolvePipeline(parse.GetValue(pipelineOption)!);
                var pipeline = LoadPipeline(pipelinePath, catalog);
                var images = GoodImages(parse.GetValue(dataOption)!);
                var path = parse.GetValue(modelOption)!;
                OutputPaths.CheckFile("--model", path,
                    [new(pipelinePath, "the pipeline file (--pipeline)"), .. images.Select(i => new OutputPaths.Input(i, "a training image (--data)"))]);
                Console.WriteLine($"Fitting '{pipeline.Spec.Name}' on {images.Count} good images");
                using var model = pipeline.Fit(images, new ConsoleProgress(), cancellation);
                cancellation.ThrowIfCancellationRequested();
                // Under the lock `pf rules` holds while it changes a model: its read-modify-write would otherwise write
                // the old model (plus its rules) over this new one.
                using (ModelChangeLock.Acquire(path, cancellation)) model.Save(path);
                Console.WriteLine($"Threshold {model.Threshold:G6} ({model.Manifest.Threshold.Rationale}); fitted in {model.Manifest.Training.FitSeconds:0.0} s");
                if (model.Manifest.Training.DuplicateImages > 0)
                    Console.WriteLine($"Duplicates: {model.Manifest.Training.DuplicateImages} training images repeat another image; each set of copies was kept on one side of the hold-out split.");
                Console.WriteLine($"Model written to {Path.GetFullPath(path)}");
                return ExitCodes.Ok;
            });
            return command;
        }

        public static Command Score(Option<string[]> plugins, CancellationToken cancellation)
        {
            var modelOption = new Option<string>("--model") { Description = "Model file from `pf fit`.", Required = true };
            var imagesOption = new Option<string>("--images") { Description = "An image file or a folder of images.", Required = true };
            var outOption = new Option<string?>("--out") { Description = "Write results as JSON to this file." };
            var mapsOption = new Option<string?>("--maps") { Description = $"Write each heat map (normalised, 0.5 = threshold) as a PNG into this folder: <image path below --images>{HeatMapFiles.Suffix}." };
            var command = new Command("score", "Score images with a fitted model: score, verdict and heat map per image.") { modelOption, imagesOption, outOption, mapsOption };
            command.SetAction(parse =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var modelPath = parse.GetValue(modelOption)!;
                var imagesArgument = parse.GetValue(imagesOption)!;
                var images = ImagePaths(imagesArgument);
                var scoredFolder = Directory.Exists(imagesArgument) ? imagesArgument : null;
                var outPath = parse.GetValue(outOption);
                var mapsDir = parse.GetValue(mapsOption);
                var model = new OutputPaths.Input(modelPath, "the model file (--model)");
                if (outPath is not null)
                    OutputPaths.CheckFile("--out", outPath, [model, .. images.Select(i => new OutputPaths.Input(i, "an image to score (--images)"))]);
                if (mapsDir is not null)
                    OutputPaths.CheckImageFolder("--maps", mapsDir, [new(scoredFolder ?? Path.GetDirectoryName(Path.GetFullPath(imagesArgument))!, "the folder of the images to score (--images)")]);

                using var fitted = AnomalyModel.Load(modelPath, catalog, Services, cancellation);
                var outcomes = fitted.InspectReadable(ImageSource.FromFiles(images), new ConsoleProgress(), cancellation);
                var results = outcomes.Where(o => o.Result is not null).Select(o => o.Result!).ToList();
                var failed = outcomes.Where(o => o.Error is not null).ToList();
                if (results.Count == 0)
                    throw new PipelineException(failed.Count == 1 ? failed[0].Error! : $"None of the {failed.Count} images could be scored; the first: {failed[0].Error}");
                Console.WriteLine($"{"score",7} {"verdict",-9} image");
                foreach (var o in outcomes)
                {
                    if (o.Result is { } r)
                        Console.WriteLine($"{r.Score,7:0.000} {(r.IsAnomaly ? "ANOMALY" : "ok"),-9} {TerminalText.Escape(r.Id)}{(r.InputWarning is null ? "" : "  (unlike the fitted images)")}");
                    else Console.WriteLine($"{"-",7} {(o.Unscorable ? "NO SCORE" : "UNREAD"),-9} {TerminalText.Escape(o.Id)}");
                }
                WarnUnlikeImages(results);
                foreach (var o in failed) Console.Error.WriteLine($"error: {TerminalText.Escape(o.Error!)}");
                if (outPath is not null)
                {
                    var json = new JsonObject
                    {
                        ["model"] = Path.GetFullPath(modelPath),
                        ["threshold"] = fitted.Threshold,
                        ["model_id"] = fitted.ModelId,
                        ["results"] = new JsonArray(outcomes.Select(o => (JsonNode)(o.Result is { } r ? ResultJson(r)
                            : new JsonObject { ["path"] = o.Id, ["error"] = o.Error })).ToArray()),
                    };
                    AtomicFile.WriteText(outPath, json.ToJsonString(Json));
                    Console.WriteLine($"Results written to {Path.GetFullPath(outPath)}");
                }
                if (mapsDir is not null)
                {
                    foreach (var r in results)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        var map = r.NormalizedMap(fitted.Normalization);
                        ImageLoader.SavePng(new ImageTensor(1, map.Height, map.Width, map.Values), HeatMapFiles.PathFor(mapsDir, scoredFolder, r.Id));
                    }
                    Console.WriteLine($"Heat maps written to {Path.GetFullPath(mapsDir)}");
                }
                if (failed.Count > 0)
                {
                    int unscorable = failed.Count(o => o.Unscorable), unreadable = failed.Count - unscorable;
                    string what = unscorable == 0 ? "could not be read (above)" : unreadable == 0 ? "got no score (NO SCORE above: no verdict, not passed as good)"
                        : $"could not be read ({unreadable}) or got no score ({unscorable}; NO SCORE above: no verdict, not passed as good)";
                    Console.Error.WriteLine(($"error: {failed.Count} of {outcomes.Count} images {what}; {(results.Count == 1 ? "the other one was" : $"the other {results.Count} were")} scored. " +
                        (unreadable > 0 ? "Replace or remove the unreadable files and score them again. " : "") +
                        (unscorable > 0 ? "Check the parts without a score by other means." : "")).TrimEnd());
                    return ExitCodes.InputError;
                }
                return ExitCodes.Ok;
            });
            return command;
        }

        public static Command Evaluate(Option<string[]> plugins, CancellationToken cancellation)
        {
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON file or shipped pipeline name.", DefaultValueFactory = _ => "patchcore-mobilenet" };
            var dataOption = new Option<string>("--data") { Description = "A category folder (train/good, test/<type>, ground_truth/<type>) or a data-set root holding several.", Required = true };
            var outOption = new Option<string>("--out") { Description = "Output folder: metrics.json, scores.csv, report.html (per category), summary.json (root).", Required = true };
            var saveOption = new Option<bool>("--save-models") { Description = "Also write each fitted model (model.pfmodel)." };
            var galleryOption = new Option<int>("--gallery") { Description = $"Test images shown in the report, worst misses first (0 to {MaxGallery}).", DefaultValueFactory = _ => 12 };
            var command = new Command("evaluate", "Fit on train/good, score the test set, write metrics and an HTML report.") { pipelineOption, dataOption, outOption, saveOption, galleryOption };
            command.SetAction(parse =>
            {
                int gallery = parse.GetValue(galleryOption);
                if (gallery is < 0 or > MaxGallery) throw new PipelineException($"--gallery {gallery}: must be between 0 and {MaxGallery}.");
                var catalog = Catalog(parse.GetValue(plugins));
                var pipeline = LoadPipeline(ResolvePipeline(parse.GetValue(pipelineOption)!), catalog);
                var data = parse.GetValue(dataOption)!;
                UserPaths.RequireFolder(data, "Data folder", "Point --data at a category folder (train/good, test/...) or a data-set root.");
                var outDir = parse.GetValue(outOption)!;
                OutputPaths.CheckResultsFolder("--out", outDir, new(data, "the data folder (--data)"));
                WarnNotCategories(data);
                var results = Evaluator.Run(pipeline, data, outDir, new EvaluationOptions
                {
                    SaveModels = parse.GetValue(saveOption),
                    GallerySize = gallery,
                    Progress = new ConsoleProgress(),
                    Cancellation = cancellation,
                });
                Console.WriteLine();
                Console.Write(Evaluator.FormatTable(results));
                Console.WriteLine($"Results in {Path.GetFullPath(outDir)}");
                if (results.Failures.Count > 0)
                    throw new PipelineException(
                        $"{results.Failures.Count} of {results.Count + results.Failures.Count} categories failed " +
                        $"({string.Join(", ", results.Failures.Select(f => f.Category))}); their errors are above and in {Path.Combine(Path.GetFullPath(outDir), "summary.json")}.");
                return ExitCodes.Ok;
            });
            return command;
        }

        const int MaxGallery = 1000;
        const int MaxSynthCount = 10_000;

        public static Command Synth(Option<string[]> plugins, CancellationToken cancellation)
        {
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON with a \"synthesis\" section.", Required = true };
            var dataOption = new Option<string>("--data") { Description = "Good images: a category folder (train/good is used) or a folder of images.", Required = true };
            var outOption = new Option<string>("--out") { Description = "Output folder for images, masks and contact_sheet.png.", Required = true };
            var countOption = new Option<int>("--count") { Description = $"How many synthetic defects (1 to {MaxSynthCount}).", DefaultValueFactory = _ => 24 };
            var command = new Command("synth", "Make synthetic defects from good images with the pipeline's synthesisers, to look at.") { pipelineOption, dataOption, outOption, countOption };
            command.SetAction(parse =>
            {
                int count = parse.GetValue(countOption);
                if (count is < 1 or > MaxSynthCount) throw new PipelineException($"--count {count}: must be between 1 and {MaxSynthCount}.");
                var catalog = Catalog(parse.GetValue(plugins));
                var pipeline = LoadPipeline(ResolvePipeline(parse.GetValue(pipelineOption)!), catalog);
                var data = parse.GetValue(dataOption)!;
                var good = GoodImages(data);
                var outDir = parse.GetValue(outOption)!;
                OutputPaths.CheckImageFolder("--out", outDir, [new(data, "the data folder (--data)")]);
                var samples = pipeline.Synthesize(good, count, cancellation);
                var tiles = new List<(ImageTensor, Grid2D?, string)>();
                for (int i = 0; i < samples.Count; i++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var s = samples[i];
                    var stem = $"{i:D3}_{s.Synthesizer.Replace('.', '-')}";
                    ImageLoader.SavePng(s.Image, Path.Combine(outDir, stem + ".png"));
                    ImageLoader.SavePng(new ImageTensor(1, s.Mask.Height, s.Mask.Width, s.Mask.Values), Path.Combine(outDir, stem + "_mask.png"));
                    tiles.Add((s.Image, s.Mask, $"{i}: {s.Synthesizer}"));
                }
                ContactSheet.Save(tiles, Path.Combine(outDir, "contact_sheet.png"));
                Console.WriteLine($"{samples.Count} synthetic defects (image + mask) and contact_sheet.png written to {Path.GetFullPath(outDir)}");
                return ExitCodes.Ok;
            });
            return command;
        }

        public static Command Plugins(Option<string[]> plugins)
        {
            var jsonOption = new Option<bool>("--json") { Description = "Print the catalog as JSON." };
            var command = new Command("plugins", "List installed components, their options and any plugin that failed to load.") { jsonOption };
            command.SetAction(parse =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                if (parse.GetValue(jsonOption))
                {
                    var json = new JsonObject
                    {
                        ["components"] = new JsonArray(catalog.Components.Select(c => (JsonNode)new JsonObject
                        {
                            ["type"] = c.TypeName, ["kind"] = c.Kind.ToString(), ["source"] = c.Source, ["version"] = c.Version,
                            ["description"] = c.Description,
                            ["options"] = new JsonArray(c.Options.Select(o => (JsonNode)OptionJson(o)).ToArray()),
                        }).ToArray()),
                        ["errors"] = new JsonArray(catalog.LoadErrors.Select(e => (JsonNode)new JsonObject { ["folder"] = e.Folder, ["error"] = e.Message }).ToArray()),
                        ["device"] = DeviceDescription,
                    };
                    Console.WriteLine(json.ToJsonString(Json));
                    return catalog.LoadErrors.Count == 0 ? 0 : 1;
                }
                foreach (var group in catalog.Components.GroupBy(c => c.Kind))
                {
                    Console.WriteLine($"{group.Key}:");
                    foreach (var c in group)
                    {
                        Console.WriteLine($"  {c.TypeName,-26} {c.Description}  [{c.Source} {c.Version}]");
                        foreach (var o in c.Options)
                            Console.WriteLine($"      {o.Name} = {o.DefaultJson}" + (o.Range is { } r ? $"  {r.Describe()}" : "") +
                                (o.Choices.Count > 0 && o.Type != typeof(bool) ? $"  {{{string.Join(", ", o.Choices)}}}" : ""));
                    }
                }
                foreach (var e in catalog.LoadErrors) Console.Error.WriteLine($"plugin load error: {e.Folder}: {e.Message}");
                Console.WriteLine($"Compute device: {DeviceDescription}");
                return catalog.LoadErrors.Count == 0 ? 0 : 1;
            });
            return command;
        }

        /// <summary>An option as <c>pf plugins --json</c> shows it: what AutoML needs to search it with no table of its own.</summary>
        /// <summary>A pipeline file, validated; notes from the parser (an old section migrated) go to stderr.</summary>
        static AnomalyPipeline LoadPipeline(string path, ComponentCatalog catalog)
        {
            var pipeline = AnomalyPipeline.FromFile(path, catalog, Services);
            foreach (var note in pipeline.Spec.Notes) Console.Error.WriteLine($"note: {path}: {note}");
            return pipeline;
        }

        /// <summary>Subfolders of a data-set root left out because they are not categories (<see cref="ImageDataset.NotCategories"/>).</summary>
        static void WarnNotCategories(string data)
        {
            var left = ImageDataset.NotCategories(data);
            if (left.Count > 0)
                Console.Error.WriteLine($"warning: {TerminalText.Escape(data)}: left out, not category folders (no train/good inside): " +
                    $"{TerminalText.Escape(string.Join(", ", left.Select(Path.GetFileName)))}.");
        }

        /// <summary>Why images were flagged as unlike the fitted ones: each of the first few, then a count.</summary>
        static void WarnUnlikeImages(IReadOnlyList<InspectionResult> results)
        {
            const int shown = 5;
            var unlike = results.Where(r => r.InputWarning is not null).ToList();
            foreach (var r in unlike.Take(shown)) Console.Error.WriteLine($"warning: {TerminalText.Escape(r.Id)}: {r.InputWarning}");
            if (unlike.Count > shown) Console.Error.WriteLine($"warning: {unlike.Count - shown} more images are unlike the fitted images (input_warning in --out).");
        }

        /// <summary>One result as <c>pf score --out</c> writes it: verdict, regions, rule results, per-stage timings.</summary>
        static JsonObject ResultJson(InspectionResult r) => new()
        {
            ["path"] = r.Id, ["score"] = r.Score, ["raw_score"] = r.RawScore, ["is_anomaly"] = r.IsAnomaly, ["input_warning"] = r.InputWarning,
            ["regions"] = new JsonArray(r.Regions.Select(g => (JsonNode)new JsonObject
            {
                ["box"] = new JsonArray(g.ImageBox.X, g.ImageBox.Y, g.ImageBox.Width, g.ImageBox.Height),
                ["area"] = g.ImageArea,
                ["map_box"] = new JsonArray(g.MapBox.X, g.MapBox.Y, g.MapBox.Width, g.MapBox.Height),
                ["map_area"] = g.MapArea,
                ["peak"] = g.PeakScore, ["mean"] = g.MeanScore,
                ["location"] = g.Location, ["size"] = g.CoreImageArea,
            }).ToArray()),
            ["rules"] = new JsonArray(r.Rules.Select(u => (JsonNode)new JsonObject
            {
                ["rule"] = u.RuleId, ["passed"] = u.Passed, ["measured"] = u.Measured, ["expected_min"] = u.ExpectedMin,
                ["expected_max"] = u.ExpectedMax, ["component"] = u.Component, ["detail"] = u.Detail,
            }).ToArray()),
            ["timings_ms"] = new JsonObject(r.Timings.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)Math.Round(t.Value, 3)))),
        };

        static JsonObject OptionJson(OptionInfo o)
        {
            var json = new JsonObject { ["name"] = o.Name, ["type"] = ComponentOptions.DescribeType(o.Type), ["default"] = o.DefaultJson, ["searchable"] = o.Searchable };
            if (o.Range is { } r)
            {
                json["min"] = r.Min; json["max"] = r.Max;
                if (r.MinExclusive) json["minExclusive"] = true;
                if (r.MaxExclusive) json["maxExclusive"] = true;
                if (!double.IsNaN(r.SearchMin)) json["searchMin"] = r.SearchMin;
                if (!double.IsNaN(r.SearchMax)) json["searchMax"] = r.SearchMax;
                if (r.LogScale) json["logScale"] = true;
            }
            if (o.Choices.Count > 0) json["choices"] = new JsonArray(o.Choices.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray());
            return json;
        }

        static ComponentCatalog Catalog(string[]? extra)
        {
            var catalog = ComponentCatalog.CreateDefault(extra);
            foreach (var e in catalog.LoadErrors) Console.Error.WriteLine($"warning: plugin not loaded: {e.Folder}: {e.Message}");
            return catalog;
        }

        /// <summary>A path, or the name of a pipeline shipped with the tool (pipelines/NAME.json).</summary>
        static string ResolvePipeline(string value)
        {
            if (RegularFile.Problem(value) is not RegularFile.Missing) return value;   // the parser says what is wrong with a folder or a FIFO
            var shippedFolder = Path.Combine(AppContext.BaseDirectory, "pipelines");
            var shipped = Path.Combine(shippedFolder, value.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? Path.GetFileName(value) : value + ".json");
            if (File.Exists(shipped)) return shipped;
            var names = Directory.Exists(shippedFolder) ? Directory.GetFiles(shippedFolder, "*.json").Select(Path.GetFileNameWithoutExtension).Order().ToArray() : [];
            throw new PipelineException($"Pipeline file not found: {value}. Give a JSON file path or a shipped pipeline name: {string.Join(", ", names)}.");
        }

        static IReadOnlyList<string> GoodImages(string data)
        {
            UserPaths.RequireFolder(data, "Data folder", "Point --data at a folder of good images or a category folder (train/good inside).");
            if (ImageDataset.IsMvtecCategory(data)) return ImageDataset.LoadMvtec(data).Train.Select(t => t.Path).ToList();
            var images = ImageDataset.ListImages(data);
            if (images.Count == 0) throw new PipelineException(NoImages(data, " (and no train/good folder)", "--data"));
            return images;
        }

        // Folders of images are read without their subfolders (a run scores what the user named); a folder whose images
        // all sit in subfolders (a category's test/) says so, instead of only that it holds none.
        static string NoImages(string folder, string what, string option)
        {
            var withImages = Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal)
                .Select(d => (Name: Path.GetFileName(d), Count: ImageDataset.ListImages(d).Count)).Where(d => d.Count > 0).ToList();
            var message = $"'{folder}' holds no PNG, JPEG or BMP images{what}";
            if (withImages.Count == 0) return message + ".";
            var shown = string.Join(", ", withImages.Take(5).Select(d => $"{d.Name} ({d.Count})")) + (withImages.Count > 5 ? $" and {withImages.Count - 5} more" : "");
            return $"{message}; its subfolders {shown} do, and pf does not look into subfolders. Point {option} at one of them" +
                (option == "--images" ? " (to score a category's whole test set against its masks, use pf evaluate --data <category>)." : ".");
        }

        static IReadOnlyList<string> ImagePaths(string value)
        {
            if (File.Exists(value)) return [value];
            if (Directory.Exists(value))
            {
                var images = ImageDataset.ListImages(value);
                return images.Count > 0 ? images : throw new PipelineException(NoImages(value, "", "--images"));
            }
            throw new PipelineException($"'{value}' is neither an image file nor a folder.");
        }

        /// <summary>
        /// A parse error without .NET type names: "Cannot parse argument '9e99' for option '--trials' as expected type
        /// 'System.Nullable`1[System.Int32]'." names a type a user of pf never sees; say what the option takes instead.
        /// </summary>
        public static string PlainParseError(string message) => ExpectedType().Replace(message, match => match.Groups[1].Value switch
        {
            "System.Int32" or "System.Nullable`1[System.Int32]" => "a whole number (at most 2147483647)",
            "System.Int64" or "System.Nullable`1[System.Int64]" => "a whole number",
            "System.Double" or "System.Nullable`1[System.Double]" or "System.Single" or "System.Nullable`1[System.Single]" => "a number",
            "System.Boolean" or "System.Nullable`1[System.Boolean]" => "true or false",
            _ => match.Value,
        });

        [System.Text.RegularExpressions.GeneratedRegex(@"expected type '([^']+)'")]
        private static partial System.Text.RegularExpressions.Regex ExpectedType();

        /// <summary>The command as typed, e.g. "pf fit", for a pointer to its --help.</summary>
        public static string CommandLine(ParseResult parsed)
        {
            var names = new List<string>();
            for (SymbolResult? result = parsed.CommandResult; result is not null; result = result.Parent)
                if (result is CommandResult command) names.Insert(0, command.Command is RootCommand ? "pf" : command.Command.Name);
            return string.Join(' ', names);
        }
    }

    /// <summary>Components' log lines: warnings on stderr (stdout stays for results), information dropped.</summary>
    sealed class ConsoleLog : IComponentLog
    {
        public void Info(string message) { }
        public void Warning(string message) => Console.Error.WriteLine($"warning: {message}");
    }

    /// <summary>
    /// One updating line per stage on stderr, so stdout stays clean for results. Redirected to a log (CI, a pipe), a
    /// carriage return does not rewrite the line, so there each stage writes one line when it finishes.
    /// </summary>
    sealed class ConsoleProgress : IProgress<ProgressUpdate>
    {
        // Static: the error report must end a line any instance left open, so its one line starts at column 0.
        static readonly Lock Gate = new();
        static string? _openStage;
        readonly bool _redirected = Console.IsErrorRedirected;

        public void Report(ProgressUpdate value)
        {
            lock (Gate)
            {
                if (_redirected)
                {
                    if (value.Done >= value.Total) Console.Error.WriteLine($"  {value.Stage,-12} {value.Done,6}/{value.Total}");
                    return;
                }
                if (_openStage is not null && _openStage != value.Stage) Console.Error.WriteLine();
                _openStage = value.Stage;
                // Raw: this carriage return is pf's own, to redraw the line (the escaping writer would show it as \u000D).
                TerminalOutput.RawError.Write($"\r  {value.Stage,-12} {value.Done,6}/{value.Total}");
                if (value.Done >= value.Total) { Console.Error.WriteLine(); _openStage = null; }
            }
        }

        public static void EndOpenLine()
        {
            lock (Gate)
            {
                if (_openStage is null) return;
                Console.Error.WriteLine();
                _openStage = null;
            }
        }
    }
}
