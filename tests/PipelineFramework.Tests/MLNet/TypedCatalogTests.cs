using Microsoft.ML;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.MLNet;

/// <summary>The typed catalog: generated from the installed components, and the same pipelines as the shipped JSON files.</summary>
public class TypedCatalogTests
{
    static readonly string[] MobileNetLayers = ["feat_f6_s8_32ch", "feat_f10_s16_64ch", "feat_f13_s16_96ch"];

    [Fact]
    public void Generated_catalog_is_up_to_date_with_the_installed_components()
    {
        var path = Path.Combine(TestData.RepoRoot, TypedCatalogGenerator.RelativePath);
        // The solution's plugins as the CLI finds them beside itself; the test plugin is not part of the product.
        var expected = TypedCatalogGenerator.Generate(ComponentCatalog.Create([Path.Combine(AppContext.BaseDirectory, "plugins")]));
        Assert.True(File.ReadAllText(path) == expected,
            $"{TypedCatalogGenerator.RelativePath} is out of date with the components' options: run "
            + "`dotnet run --project src/PipelineFramework.Cli -c Release -- generate-catalog` and commit the file.");
    }

    [Fact]
    public void Method_names_follow_the_components_class_names_or_their_type_names()
    {
        var names = TestData.Catalog.Components.ToDictionary(c => c.TypeName, TypedCatalogGenerator.MethodName);
        Assert.Equal("PatchCore", names["scoring.patchcore"]);
        Assert.Equal("Onnx", names["backbone.onnx"]);
        Assert.Equal("SyntheticF1", names["threshold.synthetic-f1"]);
        Assert.Equal("Poisson", names["synthesis.poisson"]);
        foreach (var stage in TestData.Catalog.Components.GroupBy(c => c.Kind))
            Assert.Equal(stage.Count(), stage.Select(TypedCatalogGenerator.MethodName).Distinct().Count());
    }

    static VisualAnomalyEstimator Shipped(VisualAnomalyCatalog va, VisualAnomalyEstimator scorer, string name, string description,
        int patchSize, VisualAnomalyComponent threshold) =>
        scorer
            .With(
                va.Synthesis.CutPaste(), va.Synthesis.Perlin(),
                va.Backbone.Onnx(o => { o.Model = "builtin:mobilenetv2-int8"; o.Layers = MobileNetLayers; }),
                va.Embedding.Patch(o => o.PatchSize = patchSize))
            .With(s => s with
            {
                Name = name, Description = description, Seed = 42,
                Input = s.Input with { Size = 256, Crop = 224 },
                Map = s.Map with { Sigma = 4 },
                Calibration = s.Calibration with { Holdout = 0.2, SyntheticCount = 40 },
            })
            .With(threshold); // after the synthesis and calibration it may need: each step is validated

    public static TheoryData<string> ShippedPipelines => new(TestData.ShippedPipelineFiles.Select(Path.GetFileNameWithoutExtension)!);

    [Theory]
    [MemberData(nameof(ShippedPipelines))]
    public void Typed_API_builds_the_same_pipeline_as_each_shipped_JSON_file(string name)
    {
        var va = new MLContext().VisualAnomaly(TestData.Catalog);
        var file = PipelineSpecParser.ParseFile(TestData.Pipeline(name), TestData.Catalog);
        var typed = name switch
        {
            "patchcore-mobilenet" => Shipped(va, va.PatchCore(o => { o.CoresetRatio = 0.1; o.ProjectionDim = 128; }), name, file.Description, 3,
                va.Threshold.Quantile(o => { o.Quantile = 0.99; o.Margin = 1.0; })),
            "patchcore-synthetic-f1" => Shipped(va, va.PatchCore(o => { o.CoresetRatio = 0.1; o.ProjectionDim = 128; }), name, file.Description, 3,
                va.Threshold.SyntheticF1()),
            "padim-mobilenet" => Shipped(va, va.Padim(o => { o.ReducedDim = 100; o.Epsilon = 0.01; }), name, file.Description, 1,
                va.Threshold.Quantile(o => { o.Quantile = 0.99; o.Margin = 1.0; })),
            "simplenet-mobilenet" => Shipped(va, va.SimpleNet(o => { o.NoiseSigma = 0.5; o.Epochs = 10; }), name, file.Description, 3,
                va.Threshold.Quantile(o => o.Quantile = 0.99)),
            "patchcore-logic-mobilenet" => va.PatchCore(o => { o.CoresetRatio = 0.1; o.ProjectionDim = 128; })
                .With(va.Backbone.Onnx(o => { o.Model = "builtin:mobilenetv2-int8"; o.Layers = MobileNetLayers; }), va.Embedding.Patch(o => o.PatchSize = 3))
                .With(s => s with
                {
                    Name = name, Description = file.Description, Seed = 42,
                    Input = s.Input with { Size = 256, Crop = 224 },
                    Map = s.Map with { Sigma = 4 },
                    Calibration = s.Calibration with { Holdout = 0.2 },
                })
                .With(va.Threshold.Quantile(o => { o.Quantile = 0.99; o.Margin = 1.0; }), va.Logic.Components()),
            _ => throw new Xunit.Sdk.XunitException($"pipelines/{name}.json is new: add its typed spelling to this test."),
        };
        Assert.Equal(file.ToJson().ToJsonString(), typed.Pipeline.Spec.ToJson().ToJsonString());
        // And back: the estimator's JSON is a pipeline file that parses to the same spec.
        Assert.Equal(file.ToJson().ToJsonString(), va.PipelineFromJson(typed.ToJson()).Pipeline.Spec.ToJson().ToJsonString());
    }

    [Fact]
    public void A_bad_typed_option_is_refused_with_its_JSON_path_before_any_work()
    {
        var va = new MLContext().VisualAnomaly(TestData.Catalog);
        var e = Assert.Throws<PipelineFramework.Abstractions.PipelineException>(() => va.PatchCore(o => o.CoresetRatio = 7));
        Assert.Contains("$.scoring.coresetRatio", e.Message);
        var unknown = Assert.Throws<PipelineFramework.Abstractions.PipelineException>(() => va.Create(va.Scoring.Component("scoring.patchcor")));
        Assert.Contains("scoring.patchcore", unknown.Message);
    }
}
