using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Cli;
using PipelineFramework.Core;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
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

var root = new RootCommand("PipelineFramework: visual anomaly detection pipelines declared in JSON.") { pluginsOption };
root.Subcommands.Add(Commands.Demo(pluginsOption));
root.Subcommands.Add(Commands.Fit(pluginsOption));
root.Subcommands.Add(Commands.Score(pluginsOption));
root.Subcommands.Add(Commands.Evaluate(pluginsOption));
root.Subcommands.Add(Commands.Synth(pluginsOption));
root.Subcommands.Add(Commands.Plugins(pluginsOption));
return root.Parse(args).Invoke();

namespace PipelineFramework.Cli
{
    static class Commands
    {
        static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

        public static Command Demo(Option<string[]> plugins)
        {
            var outOption = new Option<string>("--out") { Description = "Output folder.", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON file or shipped pipeline name.", DefaultValueFactory = _ => "patchcore-mobilenet" };
            var command = new Command("demo", "Fit the default pipeline on the shipped hazelnut images, evaluate it and write a report.") { outOption, pipelineOption };
            command.SetAction(parse => Run(() =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var data = Path.Combine(AppContext.BaseDirectory, "demo-data", "hazelnut");
                var pipelinePath = ResolvePipeline(parse.GetValue(pipelineOption)!);
                var outDir = Path.GetFullPath(parse.GetValue(outOption)!);
                var pipeline = AnomalyPipeline.FromFile(pipelinePath, catalog);
                Console.WriteLine($"Demo: pipeline '{pipeline.Spec.Name}' ({pipelinePath})");
                Console.WriteLine($"      data {data} (Intel toy hazelnut set, CC-BY-4.0)");
                var results = Evaluator.Run(pipeline, data, outDir, new EvaluationOptions { SaveModels = true, Progress = new ConsoleProgress() });
                Console.WriteLine();
                Console.Write(Evaluator.FormatTable(results));
                Console.WriteLine();
                Console.WriteLine($"Model:   {Path.Combine(outDir, "model.pfmodel")}");
                Console.WriteLine($"Metrics: {Path.Combine(outDir, "metrics.json")}");
                Console.WriteLine($"Report:  {Path.Combine(outDir, "report.html")}  (open it in a browser)");
                Console.WriteLine($"Next:    pf score --model {Path.Combine(outDir, "model.pfmodel")} --images <image or folder>");
            }));
            return command;
        }

        public static Command Fit(Option<string[]> plugins)
        {
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON file or shipped pipeline name.", Required = true };
            var dataOption = new Option<string>("--data") { Description = "Good images: an MVTec-style category folder (train/good is used) or a folder of images.", Required = true };
            var modelOption = new Option<string>("--model") { Description = "Model file to write (written atomically).", Required = true };
            var command = new Command("fit", "Fit a pipeline on images of good parts and write the model file.") { pipelineOption, dataOption, modelOption };
            command.SetAction(parse => Run(() =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var pipeline = AnomalyPipeline.FromFile(ResolvePipeline(parse.GetValue(pipelineOption)!), catalog);
                var images = GoodImages(parse.GetValue(dataOption)!);
                Console.WriteLine($"Fitting '{pipeline.Spec.Name}' on {images.Count} good images");
                using var model = pipeline.Fit(images, new ConsoleProgress());
                var path = parse.GetValue(modelOption)!;
                model.Save(path);
                Console.WriteLine($"Threshold {model.Threshold:G6} ({model.Manifest.Threshold.Rationale}); fitted in {model.Manifest.Training.FitSeconds:0.0} s");
                Console.WriteLine($"Model written to {Path.GetFullPath(path)}");
            }));
            return command;
        }

        public static Command Score(Option<string[]> plugins)
        {
            var modelOption = new Option<string>("--model") { Description = "Model file from `pf fit`.", Required = true };
            var imagesOption = new Option<string>("--images") { Description = "An image file or a folder of images.", Required = true };
            var outOption = new Option<string?>("--out") { Description = "Write results as JSON to this file." };
            var mapsOption = new Option<string?>("--maps") { Description = "Write each heat map (normalised, 0.5 = threshold) as a PNG into this folder." };
            var command = new Command("score", "Score images with a fitted model: score, verdict and heat map per image.") { modelOption, imagesOption, outOption, mapsOption };
            command.SetAction(parse => Run(() =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                using var model = AnomalyModel.Load(parse.GetValue(modelOption)!, catalog);
                var images = ImagePaths(parse.GetValue(imagesOption)!);
                var results = model.Inspect(images, new ConsoleProgress());
                Console.WriteLine($"{"score",7} {"verdict",-9} image");
                foreach (var r in results)
                    Console.WriteLine($"{r.Score,7:0.000} {(r.IsAnomaly ? "ANOMALY" : "ok"),-9} {r.Id}");
                var outPath = parse.GetValue(outOption);
                if (outPath is not null)
                {
                    var json = new JsonObject
                    {
                        ["model"] = Path.GetFullPath(parse.GetValue(modelOption)!),
                        ["threshold"] = model.Threshold,
                        ["results"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
                        {
                            ["path"] = r.Id, ["score"] = r.Score, ["raw_score"] = r.RawScore, ["is_anomaly"] = r.IsAnomaly,
                        }).ToArray()),
                    };
                    AtomicFile.WriteText(outPath, json.ToJsonString(Json));
                    Console.WriteLine($"Results written to {Path.GetFullPath(outPath)}");
                }
                var mapsDir = parse.GetValue(mapsOption);
                if (mapsDir is not null)
                {
                    foreach (var r in results)
                    {
                        var map = r.NormalizedMap(model.Normalization);
                        ImageLoader.SavePng(new ImageTensor(1, map.Height, map.Width, map.Values),
                            Path.Combine(mapsDir, Path.GetFileNameWithoutExtension(r.Id) + "_map.png"));
                    }
                    Console.WriteLine($"Heat maps written to {Path.GetFullPath(mapsDir)}");
                }
            }));
            return command;
        }

        public static Command Evaluate(Option<string[]> plugins)
        {
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON file or shipped pipeline name.", DefaultValueFactory = _ => "patchcore-mobilenet" };
            var dataOption = new Option<string>("--data") { Description = "A category folder (train/good, test/<type>, ground_truth/<type>) or a data-set root holding several.", Required = true };
            var outOption = new Option<string>("--out") { Description = "Output folder: metrics.json, scores.csv, report.html (per category), summary.json (root).", Required = true };
            var saveOption = new Option<bool>("--save-models") { Description = "Also write each fitted model (model.pfmodel)." };
            var galleryOption = new Option<int>("--gallery") { Description = "Test images shown in the report, worst misses first.", DefaultValueFactory = _ => 12 };
            var command = new Command("evaluate", "Fit on train/good, score the test set, write metrics and an HTML report.") { pipelineOption, dataOption, outOption, saveOption, galleryOption };
            command.SetAction(parse => Run(() =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var pipeline = AnomalyPipeline.FromFile(ResolvePipeline(parse.GetValue(pipelineOption)!), catalog);
                var outDir = parse.GetValue(outOption)!;
                var results = Evaluator.Run(pipeline, parse.GetValue(dataOption)!, outDir, new EvaluationOptions
                {
                    SaveModels = parse.GetValue(saveOption),
                    GallerySize = parse.GetValue(galleryOption),
                    Progress = new ConsoleProgress(),
                });
                Console.WriteLine();
                Console.Write(Evaluator.FormatTable(results));
                Console.WriteLine($"Results in {Path.GetFullPath(outDir)}");
                if (results.Failures.Count > 0)
                    throw new PipelineException(
                        $"{results.Failures.Count} of {results.Count + results.Failures.Count} categories failed " +
                        $"({string.Join(", ", results.Failures.Select(f => f.Category))}); their errors are above and in {Path.Combine(Path.GetFullPath(outDir), "summary.json")}.");
            }));
            return command;
        }

        public static Command Synth(Option<string[]> plugins)
        {
            var pipelineOption = new Option<string>("--pipeline") { Description = "Pipeline JSON with a \"synthesis\" section.", Required = true };
            var dataOption = new Option<string>("--data") { Description = "Good images: a category folder (train/good is used) or a folder of images.", Required = true };
            var outOption = new Option<string>("--out") { Description = "Output folder for images, masks and contact_sheet.png.", Required = true };
            var countOption = new Option<int>("--count") { Description = "How many synthetic defects.", DefaultValueFactory = _ => 24 };
            var command = new Command("synth", "Make synthetic defects from good images with the pipeline's synthesisers, to look at.") { pipelineOption, dataOption, outOption, countOption };
            command.SetAction(parse => Run(() =>
            {
                var catalog = Catalog(parse.GetValue(plugins));
                var pipeline = AnomalyPipeline.FromFile(ResolvePipeline(parse.GetValue(pipelineOption)!), catalog);
                int count = parse.GetValue(countOption);
                if (count < 1) throw new PipelineException("--count must be at least 1.");
                var outDir = parse.GetValue(outOption)!;
                var samples = pipeline.Synthesize(GoodImages(parse.GetValue(dataOption)!), count);
                var tiles = new List<(ImageTensor, Grid2D?, string)>();
                for (int i = 0; i < samples.Count; i++)
                {
                    var s = samples[i];
                    var stem = $"{i:D3}_{s.Synthesizer.Replace('.', '-')}";
                    ImageLoader.SavePng(s.Image, Path.Combine(outDir, stem + ".png"));
                    ImageLoader.SavePng(new ImageTensor(1, s.Mask.Height, s.Mask.Width, s.Mask.Values), Path.Combine(outDir, stem + "_mask.png"));
                    tiles.Add((s.Image, s.Mask, $"{i}: {s.Synthesizer}"));
                }
                ContactSheet.Save(tiles, Path.Combine(outDir, "contact_sheet.png"));
                Console.WriteLine($"{samples.Count} synthetic defects (image + mask) and contact_sheet.png written to {Path.GetFullPath(outDir)}");
            }));
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
                return catalog.LoadErrors.Count == 0 ? 0 : 1;
            });
            return command;
        }

        /// <summary>An option as <c>pf plugins --json</c> shows it: what AutoML needs to search it with no table of its own.</summary>
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
            if (File.Exists(value)) return value;
            var shippedFolder = Path.Combine(AppContext.BaseDirectory, "pipelines");
            var shipped = Path.Combine(shippedFolder, value.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? Path.GetFileName(value) : value + ".json");
            if (File.Exists(shipped)) return shipped;
            var names = Directory.Exists(shippedFolder) ? Directory.GetFiles(shippedFolder, "*.json").Select(Path.GetFileNameWithoutExtension).Order().ToArray() : [];
            throw new PipelineException($"Pipeline file not found: {value}. Give a JSON file path or a shipped pipeline name: {string.Join(", ", names)}.");
        }

        static IReadOnlyList<string> GoodImages(string data)
        {
            if (!Directory.Exists(data)) throw new PipelineException($"Data folder '{data}' does not exist.");
            if (ImageDataset.IsMvtecCategory(data)) return ImageDataset.LoadMvtec(data).Train.Select(t => t.Path).ToList();
            var images = ImageDataset.ListImages(data);
            if (images.Count == 0) throw new PipelineException($"'{data}' holds no PNG, JPEG or BMP images (and no train/good folder).");
            return images;
        }

        static IReadOnlyList<string> ImagePaths(string value)
        {
            if (File.Exists(value)) return [value];
            if (Directory.Exists(value))
            {
                var images = ImageDataset.ListImages(value);
                return images.Count > 0 ? images : throw new PipelineException($"'{value}' holds no PNG, JPEG or BMP images.");
            }
            throw new PipelineException($"'{value}' is neither an image file nor a folder.");
        }

        /// <summary>Runs a command: user errors print one clear line (exit 1), bugs a short report (exit 2).</summary>
        static int Run(Action action)
        {
            try
            {
                action();
                return 0;
            }
            catch (PipelineException e)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("cancelled");
                return 130;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine($"unexpected error ({e.GetType().Name}): {e.Message}");
                Console.Error.WriteLine("Please report it with the command you ran. Details:");
                Console.Error.WriteLine(e.StackTrace);
                return 2;
            }
        }
    }

    /// <summary>
    /// One updating line per stage on stderr, so stdout stays clean for results. Redirected to a log (CI, a pipe), a
    /// carriage return does not rewrite the line, so there each stage writes one line when it finishes.
    /// </summary>
    sealed class ConsoleProgress : IProgress<ProgressUpdate>
    {
        readonly Lock _gate = new();
        readonly bool _redirected = Console.IsErrorRedirected;
        string? _stage;

        public void Report(ProgressUpdate value)
        {
            lock (_gate)
            {
                if (_redirected)
                {
                    if (value.Done >= value.Total) Console.Error.WriteLine($"  {value.Stage,-12} {value.Done,6}/{value.Total}");
                    return;
                }
                if (_stage is not null && _stage != value.Stage) Console.Error.WriteLine();
                _stage = value.Stage;
                Console.Error.Write($"\r  {value.Stage,-12} {value.Done,6}/{value.Total}");
                if (value.Done >= value.Total) { Console.Error.WriteLine(); _stage = null; }
            }
        }
    }
}
