using Microsoft.ML;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.MLNet;

/// <summary>Runs alone, after the parallel tests: it measures the process's managed memory, which tests beside it would change.</summary>
[CollectionDefinition(nameof(MLNetStreamingTests), DisableParallelization = true)]
public sealed class MLNetStreamingCollection;

[Collection(nameof(MLNetStreamingTests))]
public class MLNetStreamingTests
{
    public sealed class FrameRow
    {
        public byte[] Image { get; set; } = [];
    }

    public sealed class ScoreRow
    {
        public float RawScore { get; set; }
    }

    [Fact]
    public void Transform_streams_10000_rows_with_flat_memory_scoring_one_batch_ahead()
    {
        var ml = new MLContext(seed: 1);
        var data = ImageDataset.LoadMvtec(TestData.Hazelnut);
        // Small frames (64 x 64 PNG) keep 10,000 rows within seconds; four distinct images, cycled.
        var frames = data.Test.Take(4).Select(t =>
        {
            var path = Path.Combine(TestData.TempFolder("mlnet-stream"), Path.GetFileNameWithoutExtension(t.Path) + ".png");
            ImageLoader.SavePng(Resample.Resize(ImageLoader.LoadRgb(t.Path), 64, 64), path);
            return File.ReadAllBytes(path);
        }).ToArray();
        var train = ml.Data.LoadFromEnumerable(data.Train.Take(12).Select(t => new FrameRow { Image = File.ReadAllBytes(t.Path) }));
        // Frames at the input size and a narrow map blur: the cheapest real pipeline, so the 10,000 rows take seconds.
        var pipeline = MLNetColumnTests.SmallPipeline.Replace("\"size\": 72", "\"size\": 64").Replace("\"seed\": 5,", "\"seed\": 5, \"map\": { \"sigma\": 1 },");
        using var model = ml.VisualAnomaly(TestData.Catalog).PipelineFromJson(pipeline, "Image").Fit(train);
        Assert.Equal(1, model.Model.Spec.Map.Sigma);
        var expected = model.Model.Inspect(frames.Select((f, i) => Core.Engine.ImageSource.FromBytes($"frame {i}", f)).ToList())
            .Select(r => (float)r.RawScore).ToArray();

        const int rows = 10_000;
        long produced = 0;
        IEnumerable<FrameRow> Camera()
        {
            for (int i = 0; i < rows; i++)
            {
                Interlocked.Increment(ref produced);
                yield return new FrameRow { Image = frames[i % frames.Length] };
            }
        }
        var scored = model.Transform(ml.Data.LoadFromEnumerable(Camera()));
        Assert.Equal(0, Interlocked.Read(ref produced)); // lazy: nothing is read before a cursor asks

        long baseline = 0, peakGrowth = 0;
        int batch = model.Model.Spec.Calibration.BatchSize, n = 0;
        foreach (var row in ml.Data.CreateEnumerable<ScoreRow>(scored, reuseRowObject: true))
        {
            Assert.Equal(expected[n % frames.Length], row.RawScore);
            n++;
            // Two cursors read the source (rows handed out, and images a batch ahead): never more than a batch ahead.
            Assert.True(Interlocked.Read(ref produced) <= 2L * n + batch, $"read {produced} source rows after {n} scored rows");
            if (n == 1000) baseline = GC.GetTotalMemory(forceFullCollection: true);
            else if (n % 3000 == 0) peakGrowth = Math.Max(peakGrowth, GC.GetTotalMemory(forceFullCollection: true) - baseline);
        }
        Assert.Equal(rows, n);
        // Keeping every result would hold 9,000 maps of 64 x 64 floats (~150 MB) more at the end than at row 1,000.
        Assert.True(peakGrowth < 8 << 20, $"managed memory grew by {peakGrowth / 1e6:0.0} MB between row 1,000 and row {rows}");
    }
}
