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

    /// <summary>The parts in another order per thread, so a buffer shared between calls cannot hide behind equal values.</summary>
    static IReadOnlyList<string> PartPaths(int shift) =>
        Rotate.List(Parts, shift).Select(p => Path.Combine(TestData.Hazelnut, p)).ToList();

    /// <summary>The default pipeline as shipped, fitted on 8 train images (the count keeps the fit short).</summary>
    static readonly Lazy<AnomalyModel> Model = new(() =>
        AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog)
            .Fit(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order(StringComparer.Ordinal).Take(8).ToList()));

    [Fact]
    public void Eight_threads_inspecting_at_once_match_one_thread()
    {
        var model = Model.Value;
        var expected = model.Inspect(PartPaths(0));
        Assert.Contains(expected, r => r.Regions.Count > 0);

        var results = ConformanceData.OnEightThreadsAtOnce(t => model.Inspect(PartPaths(t)));
        for (int t = 0; t < results.Length; t++)
        {
            // Back in the one-thread order.
            var order = Rotate.Order(Parts.Length, t);
            var result = new InspectionResult[Parts.Length];
            for (int k = 0; k < order.Length; k++) result[order[k]] = results[t][k];
            Assert.Equal(expected.Count, result.Length);
            for (int i = 0; i < expected.Count; i++)
            {
                string what = $"thread {t}, {Parts[i]}";
                Assert.True(BitConverter.DoubleToInt64Bits(expected[i].RawScore) == BitConverter.DoubleToInt64Bits(result[i].RawScore),
                    $"{what}: raw score {result[i].RawScore:R}, one thread gave {expected[i].RawScore:R}.");
                Assert.Equal((expected[i].RawMap.Height, expected[i].RawMap.Width), (result[i].RawMap.Height, result[i].RawMap.Width));
                Bits.Equal(expected[i].RawMap.Values, result[i].RawMap.Values, what + " raw map");
                Assert.Equal(expected[i].Regions, result[i].Regions);
                Assert.Equal(expected[i].IsAnomaly, result[i].IsAnomaly);
                Assert.Equal(expected[i].Id, result[i].Id);
            }
        }
    }
}
