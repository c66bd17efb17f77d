using Microsoft.ML;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Plugins;

/// <summary>
/// What the host makes of a faulty third-party plugin (the test plugin's <c>fault</c> option, loaded from its own
/// folder): a scorer's answer is outside input, so a NaN or a short answer never becomes a verdict; a plugin folder
/// installed twice names both copies. Real hazelnut images, a real ONNX backbone, real model files.
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

    static IReadOnlyList<string> Test => ImageDataset.LoadMvtec(TestData.Hazelnut).Test.Take(3).Select(t => t.Path).ToList();

    /// <summary>Fits (the fault is dormant until the scorer is loaded) and saves the model.</summary>
    static string Saved(string fault)
    {
        var train = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(8).Select(t => t.Path).ToList();
        using var fitted = AnomalyPipeline.FromJson(Pipeline(fault), TestData.Catalog).Fit(train);
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

    [Fact]
    public void A_scorer_that_answers_for_fewer_images_than_it_was_given_is_named()
    {
        // Before: AggregateException wrapping ArgumentOutOfRangeException from the heat-map loop.
        using var model = AnomalyModel.Load(Saved("tooFewAfterLoad"), TestData.Catalog);
        var e = Assert.Throws<PipelineException>(() => model.Inspect(Test));
        Assert.Equal("The scorer test.mean-distance returned scores for 2 images when given 3; no verdict can be given. "
            + "This is a fault of the scorer's plugin: update or replace it.", e.Message);
    }

    [Fact]
    public void A_plugin_whose_constructor_throws_is_refused_naming_the_stage_and_component()
    {
        var e = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson(Pipeline("constructor"), TestData.Catalog));
        Assert.Contains("$.scoring: component 'test.mean-distance' failed to start: test.mean-distance: failing on purpose in the constructor", e.Message);
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
