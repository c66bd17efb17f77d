using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.MLNet;

/// <summary>
/// Image columns of every kind, the PredictionEngine, ML.NET's anomaly conventions and the seed, on one small model
/// fitted once on the shipped hazelnut images.
/// </summary>
public class MLNetColumnTests : IClassFixture<MLNetColumnTests.FittedHazelnut>
{
    public sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
        public bool Label { get; set; }
    }

    public sealed class BytesRow
    {
        public byte[] Image { get; set; } = [];
    }

    public sealed class ScoredRow
    {
        public float Score { get; set; }
        public float RawScore { get; set; }
        public bool PredictedLabel { get; set; }
        public bool IsAnomaly { get; set; }
        [VectorType(64 * 64)] public float[] AnomalyMap { get; set; } = [];
    }

    // A tiny real ONNX backbone (average pooling) at 64 x 64, so that every test here takes seconds on 2 shared cores.
    internal static readonly string SmallPipeline = $$"""
        {
          "name": "mlnet-small",
          "seed": 5,
          "input": { "size": 72, "crop": 64 },
          "backbone": { "type": "backbone.onnx", "model": "{{TinyOnnx.Write(TestData.TempFolder("mlnet-tiny-onnx"))}}", "layers": ["pool4", "pool8"], "threads": 1 },
          "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.5 }
        }
        """;

    public sealed class FittedHazelnut : IDisposable
    {
        public MLContext ML { get; } = new(seed: 1);
        public VisualAnomalyTransformer Model { get; }
        public IReadOnlyList<(string Path, bool Defective)> Test { get; }

        public FittedHazelnut()
        {
            var data = ImageDataset.LoadMvtec(TestData.Hazelnut);
            var train = ML.Data.LoadFromEnumerable(data.Train.Take(12).Select(t => new PathRow { ImagePath = t.Path }));
            Model = ML.VisualAnomaly(TestData.Catalog).PipelineFromJson(SmallPipeline).Fit(train);
            Test = data.Test.Select(t => (t.Path, t.Label == 1)).ToList();
        }

        public void Dispose() => Model.Dispose();
    }

    readonly FittedHazelnut _fixture;
    MLContext ML => _fixture.ML;

    public MLNetColumnTests(FittedHazelnut fixture) => _fixture = fixture;

    List<ScoredRow> Score(ITransformer model, IDataView view) => ML.Data.CreateEnumerable<ScoredRow>(model.Transform(view), reuseRowObject: false).ToList();

    IDataView PathView() => ML.Data.LoadFromEnumerable(_fixture.Test.Select(t => new PathRow { ImagePath = t.Path, Label = t.Defective }));

    static void AssertSameBits(IReadOnlyList<ScoredRow> expected, IReadOnlyList<ScoredRow> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i].RawScore), BitConverter.SingleToInt32Bits(actual[i].RawScore));
            Assert.Equal(expected[i].Score, actual[i].Score);
            Assert.Equal(expected[i].IsAnomaly, actual[i].IsAnomaly);
            Assert.Equal(expected[i].AnomalyMap, actual[i].AnomalyMap);
        }
    }

    [Fact]
    public void Paths_bytes_raw_image_bytes_and_MLImages_give_the_same_results_to_the_bit()
    {
        var byPath = Score(_fixture.Model, PathView());
        var direct = _fixture.Model.Model.Inspect(_fixture.Test.Select(t => t.Path).ToList());
        Assert.Equal(direct.Select(r => (float)r.RawScore), byPath.Select(r => r.RawScore));

        var bytes = ML.Data.LoadFromEnumerable(_fixture.Test.Select(t => new BytesRow { Image = File.ReadAllBytes(t.Path) }));
        var byBytesModel = _fixture.Model.WithImageColumn("Image");
        AssertSameBits(byPath, Score(byBytesModel, bytes));

        // What ML.NET's own loaders make: a byte vector (LoadRawImageBytes) and an MLImage (LoadImages).
        var raw = ML.Transforms.LoadRawImageBytes("Image", null, "ImagePath").Fit(PathView()).Transform(PathView());
        AssertSameBits(byPath, Score(byBytesModel, raw));
        var images = ML.Transforms.LoadImages("Image", null, "ImagePath").Fit(PathView()).Transform(PathView());
        Assert.IsType<Microsoft.ML.Transforms.Image.ImageDataViewType>(images.Schema["Image"].Type);
        AssertSameBits(byPath, Score(byBytesModel, images));
    }

    [Fact]
    public void Fitting_on_bytes_or_MLImages_gives_the_model_fitting_on_paths_gives()
    {
        var train = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(12).Select(t => new PathRow { ImagePath = t.Path }).ToList();
        var paths = ML.Data.LoadFromEnumerable(train);
        var images = ML.Transforms.LoadImages("Image", null, "ImagePath").Fit(paths).Transform(paths);
        var bytes = ML.Data.LoadFromEnumerable(train.Select(t => new BytesRow { Image = File.ReadAllBytes(t.ImagePath) }));
        foreach (var view in new[] { images, bytes })
        {
            using var model = ML.VisualAnomaly(TestData.Catalog).PipelineFromJson(SmallPipeline, imageColumnName: "Image").Fit(view);
            Assert.Equal(_fixture.Model.Model.Threshold, model.Model.Threshold);
            AssertSameBits(Score(_fixture.Model, PathView()), Score(model.WithImageColumn("ImagePath"), PathView()));
        }
    }

    [Fact]
    public void PredictionEngine_scores_camera_frames_one_at_a_time_as_Transform_does()
    {
        var frames = _fixture.Test.Select(t => new BytesRow { Image = File.ReadAllBytes(t.Path) }).ToList();
        var model = _fixture.Model.WithImageColumn("Image");
        var batched = Score(model, ML.Data.LoadFromEnumerable(frames));
        using var engine = ML.Model.CreatePredictionEngine<BytesRow, ScoredRow>(model);
        var single = frames.Select(f => engine.Predict(f)).ToList();
        AssertSameBits(batched, single);
        Assert.True(single.Select(s => s.RawScore).Distinct().Count() > 1, "each Predict must score its own frame");

        // Through an ML.NET chain: LoadRawImageBytes -> visual anomaly, one path at a time.
        var chain = ML.Transforms.LoadRawImageBytes("Image", null, "ImagePath").Append(ML.VisualAnomaly(TestData.Catalog).PipelineFromJson(SmallPipeline, "Image"))
            .Fit(ML.Data.LoadFromEnumerable(ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(12).Select(t => new PathRow { ImagePath = t.Path })));
        using var chainEngine = ML.Model.CreatePredictionEngine<PathRow, ScoredRow>(chain);
        AssertSameBits(batched, _fixture.Test.Select(t => chainEngine.Predict(new PathRow { ImagePath = t.Path })).ToList());
    }

    [Fact]
    public void Score_and_PredictedLabel_feed_MLNET_anomaly_and_binary_evaluators_with_our_AUROC()
    {
        var scored = _fixture.Model.Transform(PathView());
        var rows = Score(_fixture.Model, PathView());
        var labels = _fixture.Test.Select(t => (byte)(t.Defective ? 1 : 0)).ToArray();
        double ours = Metrics.Auroc(rows.Select(r => r.Score).ToArray(), labels);
        Assert.Equal(rows.Select(r => r.IsAnomaly), rows.Select(r => r.PredictedLabel));
        Assert.Equal(rows.Select(r => r.Score > 0.5f), rows.Select(r => r.PredictedLabel));

        var binary = ML.BinaryClassification.EvaluateNonCalibrated(scored, "Label", "Score", "PredictedLabel");
        Assert.Equal(ours, binary.AreaUnderRocCurve, 6);
        int tp = rows.Where((r, i) => labels[i] == 1 && r.PredictedLabel).Count();
        Assert.Equal((double)tp / labels.Count(l => l == 1), binary.PositiveRecall, 6);

        var withFloatLabel = ML.Transforms.Conversion.ConvertType("Label", "Label", Microsoft.ML.Data.DataKind.Single).Fit(scored).Transform(scored);
        var anomaly = ML.AnomalyDetection.Evaluate(withFloatLabel, "Label", "Score", "PredictedLabel");
        Assert.Equal(ours, anomaly.AreaUnderRocCurve, 6);
        Assert.True(ours > 0.6, $"hazelnut AUROC {ours}");
    }

    public sealed class TallScoredRow
    {
        public float Score { get; set; }
        [VectorType(96 * 64)] public float[] AnomalyMap { get; set; } = [];
    }

    [Fact]
    public void An_aspect_keeping_input_gives_a_map_column_of_its_own_height_and_width()
    {
        // AutoML's choices keep the aspect ratio (224 x 560 for KolektorSDD); the map column follows the model's input.
        string tall = SmallPipeline.Replace("\"input\": { \"size\": 72, \"crop\": 64 }", "\"input\": { \"resize\": \"fit\", \"width\": 64, \"height\": 96 }", StringComparison.Ordinal);
        Assert.NotEqual(SmallPipeline, tall);
        var train = ML.Data.LoadFromEnumerable(ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(12).Select(t => new PathRow { ImagePath = t.Path }));
        using var model = ML.VisualAnomaly(TestData.Catalog).PipelineFromJson(tall).Fit(train);
        var scored = model.Transform(PathView());
        var mapType = (VectorDataViewType)scored.Schema[VisualAnomalyColumns.AnomalyMap].Type;
        Assert.Equal([96, 64], mapType.Dimensions.ToArray());
        var rows = ML.Data.CreateEnumerable<TallScoredRow>(scored, reuseRowObject: false).ToList();
        Assert.All(rows, r => Assert.Equal(96 * 64, r.AnomalyMap.Length));
        var direct = model.Model.Inspect(_fixture.Test.Select(t => t.Path).ToList());
        Assert.Equal(direct.Select(r => r.RawMap.Values.Length), rows.Select(r => r.AnomalyMap.Length));
    }

    [Fact]
    public void InputWarning_column_says_why_an_image_is_unlike_the_fitted_ones_and_is_empty_for_the_rest()
    {
        var folder = TestData.TempFolder("mlnet-unlike");
        var part = Core.Images.ImageLoader.LoadRgb(_fixture.Test[0].Path);
        var strip = Path.Combine(folder, "strip.png");
        Core.Images.ImageLoader.SavePng(Core.Images.Resample.Resize(part, part.Height / 10, part.Width), strip);
        var paths = _fixture.Test.Select(t => t.Path).Append(strip).ToList();

        var scored = _fixture.Model.Transform(ML.Data.LoadFromEnumerable(paths.Select(p => new PathRow { ImagePath = p })));
        var warnings = scored.GetColumn<string>(VisualAnomalyColumns.InputWarning).ToList();
        Assert.All(warnings.Take(_fixture.Test.Count), w => Assert.Equal("", w));
        Assert.Contains("aspect ratio", warnings[^1]);
        Assert.Equal(_fixture.Model.Model.Inspect([strip])[0].InputWarning, warnings[^1]);
    }

    [Fact]
    public void Explanation_column_holds_the_offline_explainers_summary()
    {
        var model = _fixture.Model.WithExplanation();
        var scored = model.Transform(PathView());
        var texts = scored.GetColumn<string>(VisualAnomalyColumns.Explanation).ToList();
        var expected = _fixture.Model.Model.Inspect(_fixture.Test.Select(t => t.Path).ToList())
            .Select(r => _fixture.Model.Model.ExplainAsync(r).GetAwaiter().GetResult().Summary).ToList();
        Assert.Equal(expected, texts);
        Assert.All(texts, t => Assert.False(string.IsNullOrWhiteSpace(t)));
    }

    [Fact]
    public void MLContext_seed_applies_where_the_JSON_gives_none()
    {
        var va = new MLContext(seed: 7).VisualAnomaly(TestData.Catalog);
        Assert.Equal(7, va.PipelineFromJson(SmallPipeline.Replace("\"seed\": 5,", "")).Pipeline.Spec.Seed);
        Assert.Equal(5, va.PipelineFromJson(SmallPipeline).Pipeline.Spec.Seed);
        Assert.Equal(7, va.PatchCore().Pipeline.Spec.Seed);
        Assert.Null(VisualAnomalyCatalog.SeedOf(new MLContext()));
    }

    [Fact]
    public void MLNET_Model_Save_refuses_with_a_pointer_to_SaveModel_and_LoadModel()
    {
        var e = Assert.ThrowsAny<Exception>(() => ML.Model.Save(_fixture.Model, null, new MemoryStream()));
        Assert.Contains("transformer.SaveModel(path)", e.ToString());
        Assert.Contains("mlContext.VisualAnomaly().LoadModel(path)", e.ToString());
    }

    [Fact]
    public void MLNET_Model_Load_of_our_file_fails_with_a_pointer_to_LoadModel_and_the_file_still_loads_our_way()
    {
        var path = Path.Combine(TestData.TempFolder("mlnet-model-load"), "model.pfmodel");
        _fixture.Model.SaveModel(path);

        // ML.NET invokes the extension by reflection: the pointer is the inner exception's message, and in ToString().
        var e = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _));
        Assert.Contains("mlContext.VisualAnomaly().LoadModel(path)", e.ToString());
        Assert.Equal(MLNetLoadRedirect.Message, e.InnerException?.Message);

        var reloaded = ML.VisualAnomaly(TestData.Catalog).LoadModel(path);
        var image = ML.Data.LoadFromEnumerable([new PathRow { ImagePath = _fixture.Test[0].Path }]);
        Assert.Equal(
            _fixture.Model.Transform(image).GetColumn<float>("RawScore").Single(),
            reloaded.Transform(image).GetColumn<float>("RawScore").Single());
    }

    [Fact]
    public void Unsupported_image_column_is_a_clear_error()
    {
        var view = ML.Data.LoadFromEnumerable([new { ImagePath = 3f }]);
        var e = Assert.Throws<PipelineFramework.Abstractions.PipelineException>(() => _fixture.Model.Transform(view));
        Assert.Contains("LoadRawImageBytes", e.Message);
        Assert.Contains("LoadImages", e.Message);
    }
}
