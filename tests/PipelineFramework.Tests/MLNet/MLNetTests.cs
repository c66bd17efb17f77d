using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.MLNet;

public class MLNetTests
{
    sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
        public bool Defective { get; set; }
    }

    sealed class ScoredRow
    {
        public string ImagePath { get; set; } = "";
        public bool Defective { get; set; }
        public float Score { get; set; }
        public float RawScore { get; set; }
        public bool IsAnomaly { get; set; }
        [VectorType(224 * 224)] public float[] AnomalyMap { get; set; } = [];
    }

    const string Pipeline = """
        {
          "name": "mlnet",
          "seed": 3,
          "input": { "size": 224, "crop": 224 },
          "features": { "type": "features.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
          "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.25 }
        }
        """;

    [Fact]
    public void Estimator_fits_on_a_data_view_and_the_transformer_appends_score_verdict_and_map()
    {
        var ml = new MLContext(seed: 1);
        var data = ImageDataset.LoadMvtec(TestData.Hazelnut);
        var train = ml.Data.LoadFromEnumerable(data.Train.Take(10).Select(t => new ImageRow { ImagePath = t.Path }));
        var testRows = data.Test.Where((_, i) => i % 2 == 0).Select(t => new ImageRow { ImagePath = t.Path, Defective = t.Label == 1 }).ToList();
        var test = ml.Data.LoadFromEnumerable(testRows);

        var estimator = ml.VisualAnomaly(TestData.Catalog).PipelineFromJson(Pipeline);
        // Appended after an ML.NET transform, as an app would chain it.
        var chained = ml.Transforms.CopyColumns("OriginalPath", "ImagePath").Append(estimator);
        using var chain = chained.Fit(train);
        var model = chain.LastTransformer;
        Assert.Contains(chain.GetOutputSchema(train.Schema), c => c.Name == "AnomalyMap");
        var scored = model.Transform(test);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 224, 224), scored.Schema["AnomalyMap"].Type);
        var rows = ml.Data.CreateEnumerable<ScoredRow>(scored, reuseRowObject: false).ToList();

        Assert.Equal(testRows.Count, rows.Count);
        Assert.Equal(testRows.Select(r => r.ImagePath), rows.Select(r => r.ImagePath));
        var direct = model.Model.Inspect(testRows.Select(r => r.ImagePath).ToList());
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal((float)direct[i].RawScore, rows[i].RawScore);
            Assert.Equal((float)direct[i].Score, rows[i].Score);
            Assert.Equal(direct[i].IsAnomaly, rows[i].IsAnomaly);
            Assert.Equal(rows[i].Score > 0.5f, rows[i].IsAnomaly);
            Assert.Equal(224 * 224, rows[i].AnomalyMap.Length);
        }
        // Defective hazelnuts score above good ones on average.
        Assert.True(rows.Where(r => r.Defective).Average(r => r.RawScore) > rows.Where(r => !r.Defective).Average(r => r.RawScore));

        // Round trip through the model file: the loaded transformer gives the same column values.
        var path = Path.Combine(TestData.TempFolder("mlnet"), "m.pfmodel");
        model.SaveModel(path);
        using var loaded = ml.VisualAnomaly(TestData.Catalog).LoadModel(path);
        var again = ml.Data.CreateEnumerable<ScoredRow>(loaded.Transform(test), reuseRowObject: false).ToList();
        Assert.Equal(rows.Select(r => r.RawScore), again.Select(r => r.RawScore));
        Assert.Equal(rows[0].AnomalyMap, again[0].AnomalyMap);
    }

    [Fact]
    public void Missing_image_column_is_a_clear_error()
    {
        var ml = new MLContext();
        var view = ml.Data.LoadFromEnumerable([new { Path = "x.png" }]);
        var estimator = ml.VisualAnomaly(TestData.Catalog).PipelineFromJson(Pipeline);
        var e = Assert.Throws<PipelineFramework.Abstractions.PipelineException>(() => estimator.Fit(view));
        Assert.Contains("ImagePath", e.Message);
    }
}
