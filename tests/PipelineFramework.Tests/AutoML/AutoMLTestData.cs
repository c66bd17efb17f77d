using PipelineFramework.AutoML.SearchSpace;
using PipelineFramework.Core.Data;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.AutoML;

/// <summary>The small searches the AutoML tests share: shipped hazelnut images, settings that differ only after the backbone.</summary>
static class AutoMLTestData
{
    /// <summary>8 good images: 2 held out, 6 to fit on, 8 synthetic anomalies made from the held-out ones.</summary>
    internal static IReadOnlyList<string> FewImages => ImageDataset.ListImages(Path.Combine(TestData.Hazelnut, "train", "good")).Take(8).ToList();

    /// <summary>Options searched only after the backbone (map smoothing, coreset ratio from its metadata, threshold policy), so a search of dozens of trials runs the backbone once per image.</summary>
    internal static SearchSpec AfterBackboneSearch(string tuner = "random", int trials = 50, int parallel = 1, int syntheticCount = 8,
        string objective = """{ "imageAuroc": 0.2, "pixelAuroc": 0.6, "aupro": 0.2 }""") => SearchSpec.Parse($$"""
        {
          "base": "{{TestData.Pipeline("patchcore-mobilenet").Replace("\\", "/")}}",
          "search": {
            "map.sigma": "auto",
            "scoring.coresetRatio": "auto",
            "threshold": [ { "type": "threshold.quantile" }, { "type": "threshold.synthetic-f1" } ]
          },
          "validation": { "holdout": 0.25, "syntheticCount": {{syntheticCount}} },
          "objective": {{objective}},
          "budget": { "time": "10m", "trials": {{trials}}, "parallel": {{parallel}} },
          "halving": { "minFraction": 0.25, "eta": 3 },
          "tuner": "{{tuner}}"
        }
        """, TestData.Catalog, TestData.RepoRoot);
}
