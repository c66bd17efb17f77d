using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Hosting;
using PipelineFramework.Core.Spec;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Engine;

/// <summary>The stage model: Prepare once, Fit many; old pipelines and model files; stages the engine refuses.</summary>
public class StageModelTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);
    static IReadOnlyList<string> Train => Hazelnut.Train.Select(t => t.Path).ToList();
    static IReadOnlyList<string> Test => Hazelnut.Test.Where((_, i) => i % 4 == 0).Select(t => t.Path).ToList();

    static PipelineSpec Shipped(string name) => PipelineSpecParser.ParseFile(TestData.Pipeline(name), TestData.Catalog);

    static ComponentSpec Component(StageKind stage, string json)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        var options = new JsonObject();
        foreach (var (k, v) in node) if (k != "type") options[k] = v?.DeepClone();
        var descriptor = TestData.Catalog.Find(node["type"]!.GetValue<string>(), stage.Kind);
        return new ComponentSpec(descriptor.TypeName, TestData.Catalog.NormalizeOptions(descriptor, options, $"$.{stage.Section}"), $"$.{stage.Section}");
    }

    /// <summary>3 scorers x 4 threshold policies: a small AutoML grid over the stages after the backbone.</summary>
    public static IEnumerable<PipelineSpec> TwelveConfigurations()
    {
        var spec = Shipped("patchcore-mobilenet");
        string[] scorers =
        [
            """{ "type": "scoring.patchcore", "coresetRatio": 0.05 }""",
            """{ "type": "scoring.patchcore", "coresetRatio": 0.25, "reweight": true }""",
            """{ "type": "scoring.padim", "reducedDim": 60 }""",
        ];
        string[] thresholds =
        [
            """{ "type": "threshold.quantile", "quantile": 0.99 }""",
            """{ "type": "threshold.quantile", "quantile": 0.9, "margin": 1.2 }""",
            """{ "type": "threshold.contamination", "rate": 0.1 }""",
            """{ "type": "threshold.synthetic-f1" }""",
        ];
        foreach (var scorer in scorers)
            foreach (var threshold in thresholds)
                yield return spec.With(StageKinds.Scoring, Component(StageKinds.Scoring, scorer)).With(StageKinds.Threshold, Component(StageKinds.Threshold, threshold));
    }

    [Fact]
    public void Twelve_configurations_fit_from_one_prepare_with_one_backbone_pass_per_image_and_match_full_fits()
    {
        var configurations = TwelveConfigurations().ToList();
        Assert.Equal(12, configurations.Count);
        Assert.Single(configurations.Select(c => new AnomalyPipeline(c, TestData.Catalog).PrepareKey).Distinct());

        var first = new AnomalyPipeline(configurations[0], TestData.Catalog);
        using var prepared = first.Prepare(Train);
        int syntheticCount = configurations[0].Calibration.SyntheticCount;
        // Every training image once, plus the synthetic anomalies made from the hold-out images.
        Assert.Equal(Train.Count + syntheticCount, prepared.BackboneImages);

        var thresholds = new HashSet<double>();
        foreach (var spec in configurations)
        {
            var pipeline = new AnomalyPipeline(spec, TestData.Catalog);
            long before = prepared.BackboneImages;
            using var fromPrepared = pipeline.Fit(prepared);
            // Fitting runs no image through the backbone (inspecting the test images below does, through the shared one).
            Assert.Equal(before, prepared.BackboneImages);

            using var full = pipeline.Fit(Train);
            Assert.Equal(full.Threshold, fromPrepared.Threshold);
            Assert.Equal(full.Normalization, fromPrepared.Normalization);
            var expected = full.Inspect(Test);
            var actual = fromPrepared.Inspect(Test);
            for (int i = 0; i < Test.Count; i++)
            {
                Assert.Equal(expected[i].RawScore, actual[i].RawScore);
                Assert.Equal(expected[i].RawMap.Values, actual[i].RawMap.Values);
            }
            thresholds.Add(fromPrepared.Threshold);
        }
        // The configurations really differ: not one model twelve times.
        Assert.True(thresholds.Count >= 8, $"only {thresholds.Count} distinct thresholds");
    }

    [Fact]
    public void A_prepared_set_refuses_a_pipeline_with_another_backbone()
    {
        var spec = Shipped("patchcore-mobilenet");
        using var prepared = new AnomalyPipeline(spec, TestData.Catalog).Prepare(Train.Take(6).ToList());
        var other = spec.With(StageKinds.Backbone, Component(StageKinds.Backbone, """{ "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] }"""));
        var e = Assert.Throws<PipelineException>(() => new AnomalyPipeline(other, TestData.Catalog).Fit(prepared));
        Assert.Contains("prepare it with this pipeline", e.Message);
    }

    [Fact]
    public void The_old_features_section_reads_as_backbone_plus_embedding_with_a_note()
    {
        const string old = """
            { "name": "old", "features": { "type": "features.onnx", "layers": ["feat_f6_s8_32ch"], "patchSize": 5, "reduction": "pool", "targetDim": 16, "batchSize": 4 },
              "scoring": { "type": "scoring.patchcore" } }
            """;
        const string current = """
            { "name": "old", "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"], "batchSize": 4 },
              "embedding": { "type": "embedding.patch", "patchSize": 5, "reduction": "pool", "targetDim": 16 },
              "scoring": { "type": "scoring.patchcore" } }
            """;
        var migrated = PipelineSpecParser.Parse(old, "old.json", TestData.Catalog);
        var written = PipelineSpecParser.Parse(current, "new.json", TestData.Catalog);
        Assert.Equal(written.ToJson().ToJsonString(), migrated.ToJson().ToJsonString());
        Assert.Contains(migrated.Notes, n => n.Contains("$.backbone (backbone.onnx) + $.embedding (embedding.patch)"));
        Assert.Empty(written.Notes);
        // A mistake in the old form is reported where the user wrote it.
        var e = Assert.Throws<PipelineException>(() => PipelineSpecParser.Parse(old.Replace("\"patchSize\": 5", "\"patchSize\": 4"), "old.json", TestData.Catalog));
        Assert.Contains("$.features.patchSize", e.Message);
    }

    [Fact]
    public void A_model_file_of_format_1_still_loads_and_scores_as_it_did()
    {
        var folder = Path.Combine(TestData.RepoRoot, "tests", "PipelineFramework.Tests", "TestFiles", "model-format1");
        var recorded = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "raw-scores.json")))!.AsObject();
        using var model = AnomalyModel.Load(Path.Combine(folder, "format1.pfmodel"), TestData.Catalog);
        var images = recorded.Select(p => Path.Combine(TestData.Hazelnut, p.Key)).ToList();
        var results = model.Inspect(images);
        foreach (var (result, (_, score)) in results.Zip(recorded))
            Assert.Equal(score!.GetValue<double>(), result.RawScore);
        Assert.Equal(16, model.ModelId.Length);

        // Saved again, it is a current-format file that scores the same.
        var path = Path.Combine(TestData.TempFolder("format1"), "again.pfmodel");
        model.Save(path);
        using (var zip = ZipFile.OpenRead(path))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "backbone/backbone.onnx");
            Assert.DoesNotContain(zip.Entries, e => e.FullName.StartsWith("features/"));
        }
        using var again = AnomalyModel.Load(path, TestData.Catalog);
        Assert.Equal(results.Select(r => r.RawScore), again.Inspect(images).Select(r => r.RawScore));
        Assert.Equal(model.ModelId, again.ModelId);
    }

    [Theory]
    [InlineData("""[{ "type": "logic.count-screws" }]""", "$.logic[0].type: unknown component type 'logic.count-screws'")]
    [InlineData("""[{ "type": "scoring.padim" }]""", "'scoring.padim' is a scorer, not a logic check")]
    [InlineData("""{ "type": "test.brightness-range" }""", "$.logic: expected a list of components")]
    public void A_logic_section_naming_an_unknown_or_wrong_stage_is_refused(string logic, string message)
    {
        var json = $$"""{ "name": "t", "backbone": { "type": "backbone.onnx" }, "scoring": { "type": "scoring.patchcore" }, "logic": {{logic}} }""";
        var e = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson(json, TestData.Catalog));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void An_unknown_explainer_is_refused_before_any_work()
    {
        var json = """{ "name": "t", "backbone": { "type": "backbone.onnx" }, "scoring": { "type": "scoring.patchcore" }, "explain": { "type": "explain.gpt" } }""";
        var e = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson(json, TestData.Catalog));
        Assert.Contains("$.explain.type: unknown component type 'explain.gpt'", e.Message);
        Assert.Contains("explain.offline", e.Message);
    }

    [Fact]
    public async Task A_logic_check_fits_on_held_out_parts_is_stored_and_decides_the_verdict()
    {
        var json = """
            { "name": "logic", "seed": 3, "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] },
              "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.5 }, "logic": [{ "type": "test.brightness-range", "margin": 0.01 }] }
            """;
        var pipeline = AnomalyPipeline.FromJson(json, TestData.Catalog);
        using var model = pipeline.Fit(Train.Take(10).ToList());
        var good = model.Inspect(Train.Take(10).ToList());
        Assert.All(good, r => Assert.True(r.Rules.Single().Passed, $"{r.Id}: {r.Rules.Single().Measured} outside {r.Rules.Single().ExpectedMin}..{r.Rules.Single().ExpectedMax}"));

        // The same good part, darkened: locally it may still look fine, but it breaks the learned brightness range.
        var dark = Darkened(Train[0], 0.5f);
        var result = model.Inspect(dark, "dark.png");
        var rule = result.Rules.Single();
        Assert.False(rule.Passed);
        Assert.Equal("brightness", rule.RuleId);
        Assert.True(rule.Measured < rule.ExpectedMin);
        Assert.True(result.IsAnomaly);

        var path = Path.Combine(TestData.TempFolder("logic"), "m.pfmodel");
        model.Save(path);
        using (var zip = ZipFile.OpenRead(path)) Assert.Contains(zip.Entries, e => e.FullName == "logic/0/range.npy");
        using var loaded = AnomalyModel.Load(path, TestData.Catalog);
        Assert.Equal(rule, loaded.Inspect(dark, "dark.png").Rules.Single());
        Assert.Contains("rule 'brightness' failed", (await loaded.ExplainAsync(result)).Reasons.Last());
    }

    static byte[] Darkened(string path, float factor)
    {
        var image = Core.Images.ImageLoader.LoadRgb(path);
        for (int i = 0; i < image.Pixels.Length; i++) image.Pixels[i] *= factor;
        var file = Path.Combine(TestData.TempFolder("dark"), "dark.png");
        Core.Images.ImageLoader.SavePng(image, file);
        return File.ReadAllBytes(file);
    }

    [Fact]
    public void A_secret_from_the_environment_reaches_the_component_and_never_the_model_file()
    {
        const string name = "PF_TEST_API_KEY";
        string secret = "sk-test-" + Guid.NewGuid().ToString("N");
        var json = $$"""{ "name": "s", "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] }, "scoring": { "type": "test.mean-distance", "requireSecret": "{{name}}" } }""";
        var missing = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson(json, TestData.Catalog, services: HostEnvironment.CreateServices()).Fit(Train.Take(4).ToList()));
        Assert.Contains($"the secret '{name}' is not set", missing.Message);

        Environment.SetEnvironmentVariable(name, secret);
        try
        {
            var services = HostEnvironment.CreateServices();
            using var model = AnomalyPipeline.FromJson(json, TestData.Catalog, services: services).Fit(Train.Take(4).ToList());
            var path = Path.Combine(TestData.TempFolder("secret"), "m.pfmodel");
            model.Save(path);
            Assert.DoesNotContain(secret, Encoding.Latin1.GetString(File.ReadAllBytes(path)));
            using (var zip = ZipFile.OpenRead(path))
            {
                foreach (var entry in zip.Entries)
                {
                    using var content = new MemoryStream();
                    entry.Open().CopyTo(content);
                    Assert.DoesNotContain(secret, Encoding.Latin1.GetString(content.ToArray()));
                }
            }
            using var loaded = AnomalyModel.Load(path, TestData.Catalog, services);
            Assert.Equal(model.Inspect(Test[0]).RawScore, loaded.Inspect(Test[0]).RawScore);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void Bytes_streams_and_files_give_the_same_result_to_the_bit()
    {
        var json = """{ "name": "b", "seed": 1, "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] }, "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.3 } }""";
        using var model = AnomalyPipeline.FromJson(json, TestData.Catalog).Fit(Train.Take(6).ToList());
        using var saved = new MemoryStream();
        model.Save(saved);
        saved.Position = 0;
        using var fromStream = AnomalyModel.Load(saved, TestData.Catalog, "memory.pfmodel");
        foreach (var path in Test.Take(3))
        {
            var fromFile = model.Inspect(path);
            var fromBytes = model.Inspect(File.ReadAllBytes(path), path);
            using var stream = File.OpenRead(path);
            var fromImageStream = fromStream.Inspect(stream, path);
            foreach (var other in new[] { fromBytes, fromImageStream })
            {
                Assert.Equal(fromFile.RawScore, other.RawScore);
                Assert.Equal(fromFile.RawMap.Values, other.RawMap.Values);
                Assert.Equal(fromFile.Regions, other.Regions);
            }
        }
    }

    [Fact]
    public void Copies_of_a_training_image_never_sit_on_both_sides_of_the_hold_out_split()
    {
        var folder = TestData.TempFolder("duplicates");
        var originals = Train.Take(10).ToList();
        foreach (var path in originals) File.Copy(path, Path.Combine(folder, Path.GetFileName(path)));
        // A folder added twice, as happens: every image once more under another name.
        foreach (var path in originals) File.Copy(path, Path.Combine(folder, "copy-" + Path.GetFileName(path)));
        var images = Directory.GetFiles(folder).Order(StringComparer.Ordinal).ToList();

        var pipeline = AnomalyPipeline.FromJson("""{ "name": "d", "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] }, "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.5 } }""", TestData.Catalog);
        using var prepared = pipeline.Prepare(images);
        Assert.Equal(10, prepared.DuplicateImages);
        static string Original(string path) => Path.GetFileName(path).Replace("copy-", "");
        Assert.Empty(prepared.FitImages.Select(Original).Intersect(prepared.HoldoutImages.Select(Original)));
        Assert.Equal(4, prepared.HoldoutImages.Count); // 20 % of 20, as two whole pairs

        using var model = pipeline.Fit(prepared);
        Assert.Equal(10, model.Manifest.Training.DuplicateImages);
        // The held-out good images pass: a copy in the fitting set would have scored ~0 and pulled the threshold down.
        Assert.All(model.Inspect(prepared.HoldoutImages), r => Assert.False(r.IsAnomaly, r.Id));
    }

    [Fact]
    public void Results_carry_regions_in_map_and_image_pixels_timings_and_the_model_id()
    {
        using var model = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog).Fit(Train);
        var defects = Hazelnut.Test.Where(t => t.Label == 1).Select(t => t.Path).Take(4).ToList();
        var results = model.Inspect(defects);
        foreach (var r in results.Where(r => r.RawScore > model.Threshold))
        {
            Assert.NotEmpty(r.Regions);
            var strongest = r.Regions[0];
            Assert.Equal(r.RawMap.Values.Max(), strongest.PeakScore, 5);
            Assert.True(strongest.MeanScore > model.Threshold && strongest.MeanScore <= strongest.PeakScore);
            var original = Core.Images.ImageLoader.LoadRgb(r.Id);
            // Map pixels are a 224 crop of a 256 resize; image pixels are the file's own.
            double scale = (double)original.Width / 256;
            Assert.Equal((strongest.MapBox.X + 16) * scale, strongest.ImageBox.X, 0);
            Assert.InRange(strongest.ImageBox.X + strongest.ImageBox.Width, 1, original.Width);
            Assert.Equal(strongest.MapArea * scale * scale, strongest.ImageArea, 0);
        }
        Assert.Contains(results, r => r.Regions.Count > 0);
        foreach (var stage in new[] { "decode", "backbone", "embedding", "scoring", "map", "regions" })
            Assert.True(results[0].Timings[stage] >= 0, stage);
        Assert.All(results, r => Assert.Equal(model.ModelId, r.ModelId));
    }

    [Fact]
    public void A_pipeline_differing_only_after_the_scorer_takes_over_a_fitted_scorer_and_gives_the_model_its_own_fit_gives()
    {
        var spec = Shipped("patchcore-mobilenet");
        var quantile = new AnomalyPipeline(spec, TestData.Catalog);
        var syntheticF1 = new AnomalyPipeline(spec.With(StageKinds.Threshold, Component(StageKinds.Threshold, """{ "type": "threshold.synthetic-f1" }""")), TestData.Catalog);
        using var prepared = quantile.Prepare(Train);

        using var own = syntheticF1.Fit(prepared);
        using var donor = quantile.Fit(prepared);
        double donorThreshold = donor.Threshold;
        using var taken = syntheticF1.Fit(prepared, donor);
        Assert.NotEqual(donorThreshold, taken.Threshold);   // decided again, by its own policy
        Assert.Equal(own.Threshold, taken.Threshold);
        Assert.Equal(ModelContents.Of(own), ModelContents.Of(taken));
        var expected = own.Inspect(Test);
        var actual = taken.Inspect(Test);
        for (int i = 0; i < Test.Count; i++) Assert.Equal(expected[i].RawMap.Values, actual[i].RawMap.Values);

        // A pipeline with another scorer fits its own.
        var padim = new AnomalyPipeline(spec.With(StageKinds.Scoring, Component(StageKinds.Scoring, """{ "type": "scoring.padim", "reducedDim": 60 }""")), TestData.Catalog);
        using var another = quantile.Fit(prepared);
        var e = Assert.Throws<PipelineException>(() => padim.Fit(prepared, another));
        Assert.Contains("fit this pipeline on its own", e.Message);
    }
}

public class PreparedSetCacheTests
{
    static readonly IReadOnlyList<string> Train = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Select(t => t.Path).Take(8).ToList();

    static AnomalyPipeline Pipeline(string scoring, string layers = """["feat_f6_s8_32ch"]""") => AnomalyPipeline.FromJson(
        $$"""{ "name": "c", "backbone": { "type": "backbone.onnx", "layers": {{layers}} }, "scoring": {{scoring}} }""", TestData.Catalog);

    [Fact]
    public void Pipelines_differing_after_the_backbone_share_one_prepared_set_and_the_budget_evicts_the_oldest()
    {
        using var cache = new PreparedSetCache(long.MaxValue);
        var first = cache.GetOrPrepare(Pipeline("""{ "type": "scoring.patchcore", "coresetRatio": 0.5 }"""), Train);
        var second = cache.GetOrPrepare(Pipeline("""{ "type": "scoring.padim", "reducedDim": 16 }"""), Train);
        Assert.Same(first, second);
        Assert.Equal((1, 1), (cache.Hits, cache.Misses));
        Assert.Equal(Train.Count, first.BackboneImages);

        // Another backbone is another set; a budget of one set's size keeps only the newest.
        using var small = new PreparedSetCache(first.SizeInBytes + 1);
        small.GetOrPrepare(Pipeline("""{ "type": "scoring.patchcore" }"""), Train);
        var other = small.GetOrPrepare(Pipeline("""{ "type": "scoring.patchcore" }""", """["feat_f10_s16_64ch"]"""), Train);
        Assert.Equal((0, 2, 1), (small.Hits, small.Misses, small.Count));
        using var model = Pipeline("""{ "type": "scoring.patchcore" }""", """["feat_f10_s16_64ch"]""").Fit(other);
        Assert.True(model.Threshold > 0);
    }

    [Fact]
    public void A_changed_image_is_prepared_again()
    {
        var folder = TestData.TempFolder("cache");
        var images = Train.Select(p => { var copy = Path.Combine(folder, Path.GetFileName(p)); File.Copy(p, copy); return copy; }).ToList();
        using var cache = new PreparedSetCache(long.MaxValue);
        var pipeline = Pipeline("""{ "type": "scoring.patchcore" }""");
        cache.GetOrPrepare(pipeline, images);
        File.SetLastWriteTimeUtc(images[0], DateTime.UtcNow.AddMinutes(5));
        cache.GetOrPrepare(pipeline, images);
        Assert.Equal((0, 2), (cache.Hits, cache.Misses));
    }
}
