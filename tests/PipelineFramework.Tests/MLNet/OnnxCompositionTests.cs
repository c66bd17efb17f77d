using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.MLNet;

/// <summary>
/// ML.NET's own image and ONNX transforms computing the features, the visual anomaly scorer on the feature column,
/// compared with our own backbone stage on the same ONNX graph and layer.
/// </summary>
public class OnnxCompositionTests
{
    public sealed class Row
    {
        public string ImagePath { get; set; } = "";
        public bool Label { get; set; }
    }

    const string Layer = "feat_f10_s16_64ch";

    [Fact]
    public void LoadImages_ResizeImages_ExtractPixels_ApplyOnnxModel_then_PatchCore_scores_like_our_backbone_stage()
    {
        var ml = new MLContext(seed: 3);
        var onnx = Path.Combine(TestData.RepoRoot, "plugins", "Features.Onnx", "models", "mobilenetv2-12-int8-features.onnx");
        var data = ImageDataset.LoadMvtec(TestData.Hazelnut);
        var train = ml.Data.LoadFromEnumerable(data.Train.Select(t => new Row { ImagePath = t.Path }));
        var testRows = data.Test.Select(t => new Row { ImagePath = t.Path, Label = t.Label == 1 }).ToList();
        var test = ml.Data.LoadFromEnumerable(testRows);
        var va = ml.VisualAnomaly(TestData.Catalog);

        var composed = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("Resized", 224, 224, "Image"))
            // va.ExtractPixels, not ML.NET's (broken beside SkiaSharp 3): ImageNet mean/std per channel, as our backbone stage.
            .Append(va.ExtractPixels("input", "Resized", 224, 224))
            .Append(ml.Transforms.ApplyOnnxModel([Layer], ["input"], onnx))
            .Append(va.PatchCore(Layer, o => o.CoresetRatio = 0.25));
        using var composedModel = composed.Fit(train);
        var composedScores = composedModel.Transform(test).GetColumn<float>("RawScore").ToArray();
        var anomalyModel = (VisualAnomalyTransformer)composedModel.LastTransformer;
        Assert.Equal((14, 14), (anomalyModel.Model.MapHeight, anomalyModel.Model.MapWidth)); // the stride-16 layer's grid: maps are at feature resolution here

        using var ours = va.PipelineFromJson($$"""
            {
              "name": "ours", "seed": 3,
              "input": { "size": 224, "crop": 224 },
              "backbone": { "type": "backbone.onnx", "layers": ["{{Layer}}"] },
              "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.25 }
            }
            """).Fit(train);
        var ourScores = ours.Transform(test).GetColumn<float>("RawScore").ToArray();

        var labels = testRows.Select(r => (byte)(r.Label ? 1 : 0)).ToArray();
        double composedAuroc = Metrics.Auroc(composedScores, labels), ourAuroc = Metrics.Auroc(ourScores, labels);
        var relative = composedScores.Zip(ourScores, (a, b) => Math.Abs(a - b) / Math.Max(b, 1e-6f)).Order().ToArray();
        var message = $"AUROC composed {composedAuroc:0.000} ours {ourAuroc:0.000}; relative raw-score difference median {relative[relative.Length / 2]:0.000} max {relative[^1]:0.000}; "
            + $"Spearman {Spearman(composedScores, ourScores):0.000}";
        Console.WriteLine(message);
        // Only the resize differs (ML.NET's Skia resize against ours): stated tolerance in docs/mlnet.md.
        Assert.True(Math.Abs(composedAuroc - ourAuroc) <= 0.02, message);
        Assert.True(relative[relative.Length / 2] <= 0.05, message);
        Assert.True(Spearman(composedScores, ourScores) >= 0.95, message);
    }

    static double Spearman(float[] a, float[] b)
    {
        double[] Ranks(float[] x)
        {
            var order = Enumerable.Range(0, x.Length).OrderBy(i => x[i]).ToArray();
            var ranks = new double[x.Length];
            for (int r = 0; r < order.Length; r++) ranks[order[r]] = r;
            return ranks;
        }
        var ra = Ranks(a);
        var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average();
        double cov = ra.Zip(rb, (x, y) => (x - ma) * (y - mb)).Sum();
        return cov / Math.Sqrt(ra.Sum(x => (x - ma) * (x - ma)) * rb.Sum(y => (y - mb) * (y - mb)));
    }
}
