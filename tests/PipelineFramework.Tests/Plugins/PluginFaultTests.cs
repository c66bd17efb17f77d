using System.Text.Json.Nodes;
using Microsoft.ML;
using PipelineFramework.Abstractions;
using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.AutoML.Trials;
using PipelineFramework.AutoML.Tuners;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Plugins;

/// <summary>
/// What the host makes of a faulty third-party plugin (the test plugin's <c>fault</c> option, loaded from its own
/// folder): a scorer's answer is outside input, so a NaN or a short answer never becomes a verdict; an exception it
/// throws names the component, the step and the plugin's folder, with the plugin's own exception inside (in `pf`: exit
/// 2, whose bug it is, and a log); a plugin folder installed twice names both copies. Real hazelnut images, a real ONNX
/// backbone, real model files, the real `pf` process.
/// </summary>
public class PluginFaultTests
{
    static string Pipeline(string fault) => $$"""
        {
          "name": "fault",
          "seed": 5,
          "input": { "size": 72, "crop": 64 },
          "backbone": { "type": "backbone.onnx", "model": "{{TinyOnnx.Write(TestData.TempFolder("fault-onnx"))}}", "layers": ["pool4", "pool8"], "threads": 1 },
          "scoring": { "type": "test.mean-distance", "fault": "{{fault}}" }
        }
        """;

    /// <summary>
    /// On the shipped MobileNetV2, whose features of a blank grey image are close enough to a hazelnut's that the
    /// service's load check (it scores one) passes; the tiny test backbone's are not.
    /// </summary>
    static string MobileNetPipeline(string fault) => $$"""
        {
          "name": "fault",
          "seed": 5,
          "input": { "size": 224, "crop": 224 },
          "backbone": { "type": "backbone.onnx", "model": "builtin:mobilenetv2-int8", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
          "scoring": { "type": "test.mean-distance", "fault": "{{fault}}" }
        }
        """;

    static IReadOnlyList<string> Test => ImageDataset.LoadMvtec(TestData.Hazelnut).Test.Take(3).Select(t => t.Path).ToList();

    /// <summary>Fits (a fault named "after load" is dormant until the scorer is loaded) and saves the model.</summary>
    static string Saved(string fault, Func<string, string>? pipeline = null)
    {
        var train = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(8).Select(t => t.Path).ToList();
        using var fitted = AnomalyPipeline.FromJson((pipeline ?? Pipeline)(fault), TestData.Catalog).Fit(train);
        var path = Path.Combine(TestData.TempFolder("fault-model"), "m.pfmodel");
        fitted.Save(path);
        return path;
    }

    [Fact]
    public void A_scorer_that_gives_NaN_never_passes_a_part_as_good()
    {
        // Before: Score NaN, IsAnomaly false (NaN > threshold is false) for every part, by Inspect, Transform and Predict.
        var path = Saved("nanAfterLoad");
        using var model = AnomalyModel.Load(path, TestData.Catalog);
        var e = Assert.Throws<PipelineException>(() => model.Inspect(Test));
        Assert.Equal($"The scorer test.mean-distance gave {Test[0]} a score of NaN; no verdict can be given, and the part is not passed as good. "
            + "A scorer that gives no finite score is at fault (update or replace its plugin), or the image is unlike anything it can score.", e.Message);

        var ml = new MLContext();
        using var transformer = ml.VisualAnomaly(TestData.Catalog).LoadModel(path);
        var view = ml.Data.LoadFromEnumerable(Test.Select(p => new MLNet.MLNetColumnTests.PathRow { ImagePath = p }));
        Assert.Contains("a score of NaN", Assert.Throws<PipelineException>(() =>
            ml.Data.CreateEnumerable<MLNet.MLNetColumnTests.ScoredRow>(transformer.Transform(view), false).ToList()).Message);
        using var engine = ml.Model.CreatePredictionEngine<MLNet.MLNetColumnTests.PathRow, MLNet.MLNetColumnTests.ScoredRow>(transformer.WithImageColumn("ImagePath"));
        Assert.Throws<PipelineException>(() => engine.Predict(new MLNet.MLNetColumnTests.PathRow { ImagePath = Test[0] }));
    }

    /// <summary>
    /// Three good hazelnut test images and a flat magenta one, which the scorer fitted on hazelnuts with fault
    /// <c>nanOnUnlikeImages</c> scores NaN (its distance is far above twice the fitted images' largest).
    /// </summary>
    static (string Folder, string Unlike, string[] Good) GoodAndUnlikeImages(string name)
    {
        var folder = Directory.CreateDirectory(Path.Combine(TestData.TempFolder(name), "images")).FullName;
        var good = Directory.GetFiles(Path.Combine(TestData.Hazelnut, "test", "good")).Order().Take(3)
            .Select(source => { var copy = Path.Combine(folder, Path.GetFileName(source)); File.Copy(source, copy); return copy; }).ToArray();
        var unlike = Path.Combine(folder, "zz-magenta.png");
        var pixels = new float[3 * 96 * 96];
        pixels.AsSpan(0, 96 * 96).Fill(1f);
        pixels.AsSpan(2 * 96 * 96).Fill(1f);
        Core.Images.ImageLoader.SavePng(new ImageTensor(3, 96, 96, pixels), unlike);
        return (folder, unlike, good);
    }

    [Fact]
    public void An_image_the_scorer_gives_NaN_has_no_verdict_and_costs_only_its_own_result()
    {
        // Before: the whole batch was refused (InspectReadable threw "...gave zz-magenta.png a score of NaN..."), so the
        // three good images in it got no result either.
        var (_, unlike, good) = GoodAndUnlikeImages("nan-one-image");
        using var model = AnomalyModel.Load(Saved("nanOnUnlikeImages"), TestData.Catalog);
        var outcomes = model.InspectReadable(ImageSource.FromFiles([good[0], unlike, good[1], good[2]]));

        var refused = outcomes[1];
        Assert.True(refused.Unscorable);
        Assert.Null(refused.Result);
        Assert.Equal($"The scorer test.mean-distance gave {unlike} a score of NaN; no verdict can be given, and the part is not passed as good. "
            + "A scorer that gives no finite score is at fault (update or replace its plugin), or the image is unlike anything it can score.", refused.Error);
        foreach (var o in outcomes.Where((_, i) => i != 1))
        {
            Assert.Null(o.Error);
            Assert.True(double.IsFinite(o.Result!.RawScore) && double.IsFinite(o.Result.Score), $"{o.Id}: {o.Result.RawScore}");
            Assert.All(o.Result.RawMap.Values, v => Assert.True(float.IsFinite(v)));
        }
        // The API that returns results only has none to give for that image: it says why instead of a verdict.
        Assert.Equal(refused.Error, Assert.Throws<PipelineException>(() => model.Inspect([good[0], unlike])).Message);
        Assert.Equal(outcomes[0].Result!.RawScore, model.Inspect(good[0]).RawScore);
    }

    [Fact]
    public void Pf_score_marks_an_image_the_scorer_gives_NaN_as_NO_SCORE_and_scores_the_others()
    {
        // Before: exit 1, "error: The scorer test.mean-distance gave .../zz-magenta.png a score of NaN; ..." and nothing
        // else: no verdict for the three good images, no --out file, no heat maps.
        var (folder, unlike, good) = GoodAndUnlikeImages("nan-one-image-cli");
        var results = Path.Combine(Path.GetDirectoryName(folder)!, "results.json");
        var maps = Path.Combine(Path.GetDirectoryName(folder)!, "maps");
        var run = PfProcess.Run("score", "--model", Saved("nanOnUnlikeImages"), "--images", folder, "--out", results, "--maps", maps,
            "--plugins", TestData.TestPluginsFolder);

        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}; stderr: {run.Err}");
        Assert.DoesNotContain("   at ", run.Err);
        Assert.Contains($"      - NO SCORE  {unlike}", run.Out);
        foreach (var image in good) Assert.Matches($@"\d\.\d{{3}} (ok|ANOMALY) +{System.Text.RegularExpressions.Regex.Escape(image)}", run.Out);
        Assert.Contains($"error: The scorer test.mean-distance gave {unlike} a score of NaN; no verdict can be given, and the part is not passed as good.", run.Err);
        Assert.Contains("error: 1 of 4 images got no score (NO SCORE above: no verdict, not passed as good); the other 3 were scored. "
            + "Check the parts without a score by other means.", run.Err);
        var written = JsonNode.Parse(File.ReadAllText(results))!["results"]!.AsArray();
        Assert.Equal(4, written.Count);
        var refused = Assert.Single(written, r => (string?)r!["path"] == unlike)!;
        Assert.Null(refused["score"]);
        Assert.Contains("a score of NaN", (string?)refused["error"]);
        Assert.Equal(3, written.Count(r => r!["is_anomaly"] is not null));
        Assert.Equal(3, Directory.GetFiles(maps).Length);
    }

    [Fact]
    public async Task The_service_answers_422_for_an_image_the_scorer_gives_NaN_and_scores_the_others()
    {
        // Before: 422 "Image cannot be decoded", "The scorer ... gave sent a score of NaN ... Send the complete file as
        // the camera saved it": the advice for a damaged upload, for an image that decoded well.
        var (_, unlike, good) = GoodAndUnlikeImages("nan-one-image-service");
        await using var service = await Service.RunningService.StartAsync(null!, modelFile: Saved("nanOnUnlikeImages", MobileNetPipeline));
        // Sent together, so that they may share a batch: the good one must not pay for the other.
        var unlikeAnswer = service.PostImageAsync("hazelnut", File.ReadAllBytes(unlike));
        var goodAnswer = service.InspectAsync("hazelnut", good[0]);
        using (var response = await unlikeAnswer)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(422, (int)response.StatusCode);
            var problem = JsonNode.Parse(text)!;
            Assert.Equal("Image cannot be scored", (string?)problem["title"]);
            Assert.Equal("The scorer test.mean-distance gave the sent image a score of NaN; no verdict can be given, and the part is not passed as good. "
                + "A scorer that gives no finite score is at fault (update or replace its plugin), or the image is unlike anything it can score. "
                + "The part has no verdict: inspect it by other means.", (string?)problem["detail"]);
        }
        var scored = await goodAnswer;
        Assert.True(double.IsFinite((double)scored["rawScore"]!));
        Assert.Contains((string?)scored["verdict"], new[] { "OK", "ANOMALY" });
    }

    [Fact]
    public void A_scorer_that_answers_for_fewer_images_than_it_was_given_is_named()
    {
        // Before: AggregateException wrapping ArgumentOutOfRangeException from the heat-map loop.
        using var model = AnomalyModel.Load(Saved("tooFewAfterLoad"), TestData.Catalog);
        var e = Assert.Throws<PipelineException>(() => model.Inspect(Test));
        Assert.Equal("The scorer test.mean-distance returned scores for 2 images when given 3; no verdict can be given. "
            + "This is a fault of the scorer's plugin: update or replace it.", e.Message);
    }

    static string PluginFolder => Path.GetFullPath(Path.Combine(TestData.TestPluginsFolder, "Scoring.MeanDistance"));

    /// <summary>The fault names the test plugin's scorer and the step, and holds the plugin's own exception.</summary>
    static void AssertNamesThePlugin(ComponentFaultException fault, string step, string pluginMessage)
    {
        Assert.Equal($"The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while {step}: {pluginMessage}", fault.Message);
        Assert.Equal(step, fault.Step);
        Assert.Equal(PluginFolder, fault.Component.Folder);
        Assert.False(fault.Component.ShipsWithPf);
        var inner = Assert.IsType<InvalidOperationException>(fault.InnerException);
        Assert.Equal(pluginMessage, inner.Message);
        // The plugin's own frames, for its author.
        Assert.Contains("MeanDistanceScorer", inner.StackTrace);
        Assert.Equal($"This is a bug in the plugin Scoring.MeanDistance (loaded from {PluginFolder}), not in your input or in pf: report it to the "
            + "plugin's author with the log /x.log, or choose another scorer in the pipeline.", fault.Advice("/x.log"));
    }

    [Fact]
    public void A_plugin_whose_constructor_throws_is_named_as_a_fault_of_that_plugin()
    {
        // Before: a PipelineException ("$.scoring: component 'test.mean-distance' failed to start: ..."), so pf said exit 1,
        // the user's input, for the plugin's bug.
        var e = Assert.Throws<ComponentFaultException>(() => AnomalyPipeline.FromJson(Pipeline("constructor"), TestData.Catalog));
        AssertNamesThePlugin(e, "starting", "test.mean-distance: failing on purpose in the constructor");
    }

    [Fact]
    public void A_plugin_that_throws_in_Fit_is_named_with_its_folder_and_its_exception_inside()
    {
        // Before: the plugin's InvalidOperationException itself, naming neither the component nor where it came from.
        var train = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(8).Select(t => t.Path).ToList();
        var pipeline = AnomalyPipeline.FromJson(Pipeline("fit"), TestData.Catalog);
        var e = Assert.Throws<ComponentFaultException>(() => pipeline.Fit(train));
        AssertNamesThePlugin(e, "fitting", "test.mean-distance: failing on purpose in Fit");
    }

    [Fact]
    public void A_plugin_that_throws_while_scoring_is_named_by_Inspect_and_by_ML_NET_Transform()
    {
        var path = Saved("scoreAfterLoad");
        using var model = AnomalyModel.Load(path, TestData.Catalog);
        AssertNamesThePlugin(Assert.Throws<ComponentFaultException>(() => model.Inspect(Test)), "scoring", "test.mean-distance: failing on purpose in Score");

        var ml = new MLContext();
        using var transformer = ml.VisualAnomaly(TestData.Catalog).LoadModel(path);
        var view = ml.Data.LoadFromEnumerable(Test.Select(p => new MLNet.MLNetColumnTests.PathRow { ImagePath = p }));
        var e = Assert.Throws<ComponentFaultException>(() => ml.Data.CreateEnumerable<MLNet.MLNetColumnTests.ScoredRow>(transformer.Transform(view), false).ToList());
        Assert.Equal("scoring", e.Step);
    }

    [Fact]
    public void The_guard_passes_the_components_own_message_cancellation_and_out_of_memory_through_unchanged()
    {
        // AutoML's memory share and cancellation read OperationCanceledException and OutOfMemoryException; a
        // PipelineException is the component's clear message about the input (exit 1, not a bug).
        var scorer = AnomalyPipeline.FromJson(Pipeline("none"), TestData.Catalog).Spec.Scoring;
        Exception[] passed =
        [
            new PipelineException("bad input"), new OperationCanceledException(), new OutOfMemoryException(), new IOException("disk full"),
            new AggregateException(new PipelineException("bad input"), new OperationCanceledException()),
        ];
        foreach (var thrown in passed)
            Assert.Same(thrown, Assert.ThrowsAny<Exception>(() => TestData.Catalog.Guard<int>(scorer, "scoring", () => throw thrown)));

        var bug = new NullReferenceException();
        var fault = Assert.Throws<ComponentFaultException>(() => TestData.Catalog.Guard<int>(scorer, "scoring", () => throw bug));
        Assert.Same(bug, fault.InnerException);
        // A fault already named is not named again by an outer guard.
        Assert.Same(fault, Assert.Throws<ComponentFaultException>(() => TestData.Catalog.Guard<int>(scorer, "fitting", () => throw fault)));
        // A plugin's own parallel loop: one bug inside makes the whole aggregate its fault.
        var aggregate = new AggregateException(new PipelineException("bad input"), new IndexOutOfRangeException());
        Assert.Same(aggregate, Assert.Throws<ComponentFaultException>(() => TestData.Catalog.Guard<int>(scorer, "scoring", () => throw aggregate)).InnerException);
    }

    [Fact]
    public void A_fault_of_a_component_that_ships_with_pf_asks_for_a_report_to_us()
    {
        var pipeline = AnomalyPipeline.FromJson(Pipeline("none").Replace("\"test.mean-distance\", \"fault\": \"none\"", "\"scoring.patchcore\""), TestData.Catalog);
        var patchcore = Assert.Throws<ComponentFaultException>(() =>
            TestData.Catalog.Guard<int>(pipeline.Spec.Scoring, "scoring", () => throw new InvalidOperationException("boom")));
        Assert.StartsWith("The scorer scoring.patchcore ($.scoring, plugin Scoring.PatchCore, shipped with pf) failed while scoring: boom", patchcore.Message);
        Assert.StartsWith("This is a bug in PipelineFramework (loaded from ", patchcore.Advice("/x.log"));
        Assert.EndsWith("not in your input: please report it to us with the log /x.log; meanwhile choose another scorer in the pipeline.", patchcore.Advice("/x.log"));

        var builtIn = Assert.Throws<ComponentFaultException>(() =>
            TestData.Catalog.Guard<int>(pipeline.Spec.Embedding, "embedding", () => throw new InvalidOperationException("boom")));
        Assert.Equal("The patch embedding embedding.patch ($.embedding, built into pf) failed while embedding: boom", builtIn.Message);
        Assert.Equal("This is a bug in PipelineFramework, not in your input: please report it to us with the command you ran; meanwhile choose another "
            + "patch embedding in the pipeline.", builtIn.Advice(null));
    }

    [Fact]
    public void An_AutoML_trial_of_a_faulty_plugin_fails_naming_it_and_the_search_goes_on()
    {
        // Before: a constructor's fault was a PipelineException; as a fault it must still be a failed trial, not the end of the search.
        using var cache = new PreparedSetCache(1L << 30);
        var runner = new TrialRunner(TestData.Catalog, HostServices.None, ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(8).Select(t => t.Path).ToList(),
            cache, new ObjectiveWeights(), long.MaxValue);
        Assert.Null(runner.TryCreate(JsonNode.Parse(Pipeline("constructor"))!.AsObject(), out var error));
        Assert.StartsWith("The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while starting:", error);

        // Before: "InvalidOperationException: test.mean-distance: failing on purpose in Fit".
        var record = runner.Run(new TrialRequest(1, new Proposal([]), JsonNode.Parse(Pipeline("fit"))!.AsObject()), CancellationToken.None);
        Assert.Equal(TrialRecord.Failed, record.Status);
        Assert.Equal("The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while fitting: test.mean-distance: failing on purpose in Fit",
            record.Reason);
        // Before: the reason alone, nothing for the plugin's author to debug with.
        Assert.Contains("at TestPlugin.Scoring.MeanDistance.MeanDistanceScorer.Fit(", record.FaultTrace);
        Assert.DoesNotContain("failing on purpose", record.FaultTrace);
    }

    [Fact]
    public void Pf_automl_writes_the_stack_traces_of_trials_a_plugin_failed_beside_the_trial_log_without_their_messages_and_still_resumes()
    {
        var folder = TestData.TempFolder("fault-automl");
        var good = Directory.CreateDirectory(Path.Combine(folder, "data", "train", "good")).FullName;
        foreach (var image in ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(8)) File.Copy(image.Path, Path.Combine(good, Path.GetFileName(image.Path)));
        var search = Path.Combine(folder, "search.json");
        File.WriteAllText(search, $$"""
            {
              "base": {{Pipeline("none")}},
              "search": { "scoring.fault": ["none", "fit"] },
              "validation": { "syntheticCount": 4 },
              "tuner": "grid"
            }
            """);
        var outDir = Path.Combine(folder, "out");
        string[] args = ["automl", "--search", search, "--data", Path.Combine(folder, "data"), "--out", outDir, "--trials", "2", "--plugins", TestData.TestPluginsFolder];

        var (code, stdout, stderr) = PfProcess.Run(args);
        Assert.True(code == 0, stderr);
        // Before: IndexOutOfRangeException (exit 2) writing the report, which took every layer to be named like the built-in backbone's (feat_f6_s8_32ch).
        Assert.Contains("layers pool4+pool8", stdout);
        var trials = File.ReadAllLines(Path.Combine(outDir, "trials.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        var failed = Assert.Single(trials, t => t["status"]!.GetValue<string>() == "failed");
        Assert.StartsWith("The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while fitting", failed["reason"]!.GetValue<string>());
        var errorsLog = Path.Combine(outDir, "trials.errors.log");
        Assert.Contains($"[data] 1 trial failed with a bug (the reason in trials.jsonl names the component and whom to tell); the stack traces for its author are in {errorsLog}", stderr);

        // Before: no trials.errors.log; the reason in trials.jsonl was all there was.
        var errors = File.ReadAllText(errorsLog);
        Assert.StartsWith($"trial {failed["trial"]}, finished ", errors);
        Assert.Contains("The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while fitting\n", errors);
        Assert.Contains("---> System.InvalidOperationException\n", errors);
        Assert.Contains("at TestPlugin.Scoring.MeanDistance.MeanDistanceScorer.Fit(", errors);
        // A message can carry an endpoint or a key; only types and code locations are written.
        Assert.DoesNotContain("failing on purpose", errors);

        // The trial log stays one record per line: the same command resumes from it and runs nothing again.
        (code, _, stderr) = PfProcess.Run(args);
        Assert.True(code == 0, stderr);
        Assert.Contains("after 2 trials (0 this run, 2 from trials.jsonl)", stderr);
        Assert.Equal(errors, File.ReadAllText(errorsLog));
    }

    [Fact]
    public void The_service_refuses_a_model_whose_plugin_throws_naming_the_plugin_and_not_the_servers_folders()
    {
        // Before: the plugin's InvalidOperationException left ModelRegistry.Scan (it refused only PipelineException and
        // file errors), so the models after it in the folder were not loaded.
        var folder = TestData.TempFolder("fault-serve");
        File.Copy(Saved("scoreAfterLoad"), Path.Combine(folder, "a-faulty.pfmodel"));
        File.Copy(Saved("none"), Path.Combine(folder, "b-sound.pfmodel"));
        using var registry = new PipelineFramework.Service.ModelRegistry(folder, TestData.Catalog, HostServices.None,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        Assert.Equal(["b-sound"], registry.Scan());
        Assert.Equal("The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while scoring: test.mean-distance: failing on "
            + "purpose in Score", registry.Problems["a-faulty"].Message);
    }

    /// <summary>The one `error:` line of a pf run that failed with a component's fault, and the log it names (written under <paramref name="state"/>).</summary>
    static (string Line, string Log) FaultLine((int ExitCode, string Out, string Err) run, string state)
    {
        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}; stderr: {run.Err}");
        Assert.DoesNotContain("   at ", run.Err);
        var line = Assert.Single(run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: "));
        var log = Assert.Single(Directory.GetFiles(Path.Combine(state, "pipelineframework", "logs"), "pf-*.log"));
        return (line, log);
    }

    [Fact]
    public void Pf_names_a_faulty_plugin_its_folder_and_whom_to_tell_with_exit_code_2_and_a_log_of_its_stack_trace()
    {
        // Before: "error: unexpected InvalidOperationException: test.mean-distance: failing on purpose in Fit. If the message
        // names a file, check it and retry; otherwise please report this bug with the log <path>" (pf's bug, as far as it said).
        var folder = TestData.TempFolder("fault-cli");
        var images = Directory.CreateDirectory(Path.Combine(folder, "images")).FullName;
        foreach (var image in ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(4)) File.Copy(image.Path, Path.Combine(images, Path.GetFileName(image.Path)));
        var pipeline = Path.Combine(folder, "p.json");
        File.WriteAllText(pipeline, Pipeline("fit"));
        var state = Path.Combine(folder, "state");
        var model = Path.Combine(folder, "m.pfmodel");

        var (line, log) = FaultLine(PfProcess.Run(new Dictionary<string, string?> { ["XDG_STATE_HOME"] = state },
            ["fit", "--pipeline", pipeline, "--data", images, "--model", model, "--plugins", TestData.TestPluginsFolder]), state);

        Assert.Equal("error: The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while fitting: test.mean-distance: failing on "
            + $"purpose in Fit. This is a bug in the plugin Scoring.MeanDistance (loaded from {PluginFolder}), not in your input or in pf: report it "
            + $"to the plugin's author with the log {log}, or choose another scorer in the pipeline.", line);
        var details = File.ReadAllText(log);
        Assert.Contains("PipelineFramework.Core.Plugins.ComponentFaultException", details);
        Assert.Contains("---> System.InvalidOperationException", details);
        Assert.Contains("at TestPlugin.Scoring.MeanDistance.MeanDistanceScorer.Fit(", details);
        // Messages stay on the terminal line: a plugin's can carry an endpoint URL or a key, and a log goes out with a bug report.
        Assert.DoesNotContain("failing on purpose", details);
        Assert.False(File.Exists(model));
    }

    [Fact]
    public void Pf_score_names_a_plugin_that_throws_on_a_loaded_model()
    {
        var path = Saved("scoreAfterLoad");
        var state = Path.Combine(TestData.TempFolder("fault-cli-score"), "state");

        var (line, log) = FaultLine(PfProcess.Run(new Dictionary<string, string?> { ["XDG_STATE_HOME"] = state },
            ["score", "--model", path, "--images", Test[0], "--plugins", TestData.TestPluginsFolder]), state);

        Assert.StartsWith("error: The scorer test.mean-distance ($.scoring, plugin Scoring.MeanDistance) failed while scoring: test.mean-distance: failing on purpose in Score. ", line);
        Assert.EndsWith($"report it to the plugin's author with the log {log}, or choose another scorer in the pipeline.", line);
        Assert.Contains("at TestPlugin.Scoring.MeanDistance.MeanDistanceScorer.Fitted.Score(", File.ReadAllText(log));
    }

    [Fact]
    public void The_same_plugin_in_two_plugin_folders_names_both_copies_and_the_first_is_used()
    {
        // Before: "Scoring.MeanDistance: component 'test.mean-distance' is already provided by Scoring.MeanDistance" (two
        // identical names), and a false "holds no class marked [PipelineComponent]" for the copy.
        var root = TestData.TempFolder("plugins-twice");
        var copy = Directory.CreateDirectory(Path.Combine(root, "Scoring.MeanDistance")).FullName;
        var original = Path.Combine(TestData.TestPluginsFolder, "Scoring.MeanDistance");
        foreach (var file in Directory.GetFiles(original)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));

        var catalog = ComponentCatalog.Create([TestData.TestPluginsFolder, root]);

        Assert.Equal(Path.GetFullPath(original), Path.GetFullPath(Path.GetDirectoryName(catalog.Find("test.mean-distance").ImplementationType.Assembly.Location)!));
        Assert.Contains(catalog.LoadErrors, e => e.Folder == copy
            && e.Message == $"component 'test.mean-distance' is already provided by {original}; this copy is ignored");
        Assert.DoesNotContain(catalog.LoadErrors, e => e.Message.Contains("holds no class"));
    }
}
