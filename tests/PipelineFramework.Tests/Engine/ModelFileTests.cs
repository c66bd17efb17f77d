using System.IO.Compression;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Engine;

public class ModelFileTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);
    static IReadOnlyList<string> Train(int n) => Hazelnut.Train.Take(n).Select(t => t.Path).ToList();
    static IReadOnlyList<string> Test => Hazelnut.Test.Where((_, i) => i % 3 == 0).Select(t => t.Path).ToList();

    static string SmallPipeline(string scoring) => $$"""
        {
          "name": "small",
          "seed": 7,
          "input": { "size": 224, "crop": 224 },
          "features": { "type": "features.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
          "scoring": {{scoring}}
        }
        """;

    public static TheoryData<string> Scorers => new()
    {
        """{ "type": "scoring.patchcore", "coresetRatio": 0.25 }""",
        """{ "type": "scoring.padim", "reducedDim": 40 }""",
        """{ "type": "test.mean-distance", "scale": 2.0 }""",
    };

    [Theory]
    [MemberData(nameof(Scorers))]
    public void Saved_model_scores_exactly_like_the_fitted_one(string scoring)
    {
        var pipeline = AnomalyPipeline.FromJson(SmallPipeline(scoring), TestData.Catalog);
        using var fitted = pipeline.Fit(Train(8));
        var path = Path.Combine(TestData.TempFolder("model"), "m.pfmodel");
        fitted.Save(path);
        using var loaded = AnomalyModel.Load(path, TestData.Catalog);

        var before = fitted.Inspect(Test);
        var after = loaded.Inspect(Test);
        Assert.Equal(fitted.Threshold, loaded.Threshold);
        for (int i = 0; i < before.Count; i++)
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(before[i].RawScore), BitConverter.DoubleToInt64Bits(after[i].RawScore));
            Assert.Equal(before[i].RawMap.Values, after[i].RawMap.Values);
            Assert.Equal(before[i].IsAnomaly, after[i].IsAnomaly);
        }
        Assert.Equal(224 * 224, before[0].RawMap.Values.Length);
        // Scores differ between images: the model is not constant.
        Assert.True(before.Select(r => r.RawScore).Distinct().Count() > 1);
    }

    [Fact]
    public void Model_file_is_a_zip_with_manifest_and_component_state()
    {
        var pipeline = AnomalyPipeline.FromJson(SmallPipeline("""{ "type": "scoring.patchcore", "coresetRatio": 0.5 }"""), TestData.Catalog);
        using var fitted = pipeline.Fit(Train(4));
        var path = Path.Combine(TestData.TempFolder("model"), "m.pfmodel");
        fitted.Save(path);
        using var zip = ZipFile.OpenRead(path);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("manifest.json", names);
        Assert.Contains("backbone/backbone.onnx", names);
        Assert.Contains("scoring/memory_bank.npy", names);
        var manifest = JsonNode.Parse(zip.GetEntry("manifest.json")!.Open())!;
        Assert.Equal("pipelineframework.model", manifest["format"]!.GetValue<string>());
        Assert.Equal("scoring.patchcore", manifest["components"]!["scoring"]!["type"]!.GetValue<string>());
        Assert.Equal(224, manifest["preprocessing"]!["crop"]!.GetValue<int>());
        Assert.Equal(fitted.Threshold, manifest["threshold"]!["value"]!.GetValue<double>());
        // 4 images: 1 held out for the threshold, 3 fitted.
        Assert.Equal(3, manifest["training"]!["fitImages"]!.GetValue<int>());
        Assert.Equal(0.5, fitted.Normalization.Apply(fitted.Threshold), 12);
    }

    static string SavedModel(string scoring = """{ "type": "test.mean-distance" }""")
    {
        var pipeline = AnomalyPipeline.FromJson(SmallPipeline(scoring), TestData.Catalog);
        using var fitted = pipeline.Fit(Train(3));
        var path = Path.Combine(TestData.TempFolder("model"), "m.pfmodel");
        fitted.Save(path);
        return path;
    }

    static void RewriteManifest(string path, Action<JsonObject> change)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.GetEntry("manifest.json")!;
        JsonObject manifest;
        using (var s = entry.Open()) manifest = JsonNode.Parse(s)!.AsObject();
        entry.Delete();
        change(manifest);
        using var w = new StreamWriter(zip.CreateEntry("manifest.json").Open());
        w.Write(manifest.ToJsonString());
    }

    [Fact]
    public void Newer_format_missing_plugin_and_non_model_files_give_clear_errors()
    {
        var newer = SavedModel();
        RewriteManifest(newer, m => m["formatVersion"] = 99);
        var e = Assert.Throws<PipelineException>(() => AnomalyModel.Load(newer, TestData.Catalog));
        Assert.Contains("newer PipelineFramework", e.Message);
        Assert.Contains("99", e.Message);

        // A catalog without the test plugin folder cannot provide test.mean-distance.
        var withoutPlugin = ComponentCatalog.CreateDefault();
        e = Assert.Throws<PipelineException>(() => AnomalyModel.Load(SavedModel(), withoutPlugin));
        Assert.Contains("test.mean-distance", e.Message);
        Assert.Contains("not installed", e.Message);
        Assert.Contains("Scoring.MeanDistance", e.Message);

        var notZip = Path.Combine(TestData.TempFolder("model"), "x.pfmodel");
        File.WriteAllText(notZip, "hello");
        Assert.Contains("not a PipelineFramework model file", Assert.Throws<PipelineException>(() => AnomalyModel.Load(notZip, TestData.Catalog)).Message);
        Assert.Contains("does not exist", Assert.Throws<PipelineException>(() => AnomalyModel.Load("/no/model.pfmodel", TestData.Catalog)).Message);
    }

    [Fact]
    public void Failed_save_keeps_the_earlier_model_file_and_leaves_no_temp_file()
    {
        var path = SavedModel();
        var original = File.ReadAllBytes(path);
        var pipeline = AnomalyPipeline.FromJson(SmallPipeline("""{ "type": "test.mean-distance", "failOnSave": true }"""), TestData.Catalog);
        using var fitted = pipeline.Fit(Train(3));
        Assert.Throws<IOException>(() => fitted.Save(path));
        Assert.Equal(original, File.ReadAllBytes(path));
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        using var stillLoads = AnomalyModel.Load(path, TestData.Catalog);
    }

    [Fact]
    public void Fitting_needs_two_images_and_scoring_a_bad_file_names_it()
    {
        var pipeline = AnomalyPipeline.FromJson(SmallPipeline("""{ "type": "test.mean-distance" }"""), TestData.Catalog);
        Assert.Contains("at least 2", Assert.Throws<PipelineException>(() => pipeline.Fit(Train(1))).Message);
        using var fitted = pipeline.Fit(Train(3));
        var bad = Path.Combine(TestData.TempFolder("bad"), "broken.png");
        File.WriteAllBytes(bad, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        Assert.Contains("broken.png", Assert.Throws<PipelineException>(() => fitted.Inspect(bad)).Message);
    }
}
