using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Conformance;

/// <summary>
/// A fitted model is shared by a service's request threads: inspecting from many threads at once must give what one
/// thread gets, to the bit, through every stage (backbone, embedding, scorer, map, regions).
/// </summary>
public class ModelThreadingTests
{
    static readonly string[] Parts =
        ["test/colour/00.jpg", "test/colour/01.jpg", "test/good/04.jpg", "test/good/05.jpg"];

    static IReadOnlyList<string> PartPaths => Parts.Select(p => Path.Combine(TestData.Hazelnut, p)).ToList();

    /// <summary>The default pipeline as shipped, fitted on 8 train images (the count keeps the fit short).</summary>
    static readonly Lazy<AnomalyModel> Model = new(() =>
        AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog)
            .Fit(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order(StringComparer.Ordinal).Take(8).ToList()));

    [Fact]
    public void Eight_threads_inspecting_at_once_match_one_thread()
    {
        var model = Model.Value;
        var expected = model.Inspect(PartPaths);
        Assert.Contains(expected, r => r.Regions.Count > 0);

        var results = ConformanceData.OnEightThreadsAtOnce(() => model.Inspect(PartPaths));
        for (int t = 0; t < results.Length; t++)
        {
            Assert.Equal(expected.Count, results[t].Count);
            for (int i = 0; i < expected.Count; i++)
            {
                string what = $"thread {t}, {Parts[i]}";
                Assert.True(BitConverter.DoubleToInt64Bits(expected[i].RawScore) == BitConverter.DoubleToInt64Bits(results[t][i].RawScore),
                    $"{what}: raw score {results[t][i].RawScore:R}, one thread gave {expected[i].RawScore:R}.");
                Assert.Equal((expected[i].RawMap.Height, expected[i].RawMap.Width), (results[t][i].RawMap.Height, results[t][i].RawMap.Width));
                Bits.Equal(expected[i].RawMap.Values, results[t][i].RawMap.Values, what + " raw map");
                Assert.Equal(expected[i].Regions, results[t][i].Regions);
                Assert.Equal(expected[i].IsAnomaly, results[t][i].IsAnomaly);
            }
        }
    }
}
