using System.IO.Compression;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Explain;
using PipelineFramework.Core.Images;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.ModelFiles;

/// <summary>
/// The per-pixel statistics of good parts in the model file (<c>size/</c>): written, read back to the same stated sizes,
/// the same bytes from the same fit, optional (files written before them load and size by the map), and checked.
/// </summary>
public class GoodPixelsStateTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);
    static IReadOnlyList<string> Train => Hazelnut.Train.Take(8).Select(t => t.Path).ToList();
    static IReadOnlyList<string> Test => Hazelnut.Test.Select(t => t.Path).ToList();
    static readonly string[] Entries = ["size/settings.json", "size/good_median.npy", "size/good_spread.npy", "size/false_deviation_rate.npy"];

    const string Pipeline = """
        {
          "name": "small",
          "seed": 7,
          "input": { "size": 224, "crop": 224 },
          "features": { "type": "features.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
          "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.25 }
        }
        """;

    static AnomalyModel FitModel() => AnomalyPipeline.FromJson(Pipeline, TestData.Catalog).Fit(Train);

    static string Saved(AnomalyModel model)
    {
        var path = Path.Combine(TestData.TempFolder("size-state"), "m.pfmodel");
        model.Save(path);
        return path;
    }

    static Dictionary<string, byte[]> SizeEntries(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        return zip.Entries.Where(e => e.FullName.StartsWith(GoodPixels.Folder, StringComparison.Ordinal))
            .ToDictionary(e => e.FullName, e => { using var s = e.Open(); var m = new MemoryStream(); s.CopyTo(m); return m.ToArray(); });
    }

    static string Rewritten(string path, Func<string, byte[], byte[]?> change)
    {
        var target = Path.Combine(TestData.TempFolder("size-state"), "changed.pfmodel");
        using (var source = ZipFile.OpenRead(path))
        using (var output = ZipFile.Open(target, ZipArchiveMode.Create))
        {
            foreach (var entry in source.Entries)
            {
                byte[] bytes;
                using (var s = entry.Open()) { var m = new MemoryStream(); s.CopyTo(m); bytes = m.ToArray(); }
                if (change(entry.FullName, bytes) is not { } kept) continue;
                using var to = output.CreateEntry(entry.FullName).Open();
                to.Write(kept);
            }
        }
        return target;
    }

    [Fact]
    public void Saved_model_keeps_the_statistics_and_states_the_same_sizes()
    {
        using var fitted = FitModel();
        Assert.NotNull(fitted.GoodPixels);
        var path = Saved(fitted);
        Assert.Equal(Entries.Order(), SizeEntries(path).Keys.Order());
        using var loaded = AnomalyModel.Load(path, TestData.Catalog);
        Assert.NotNull(loaded.GoodPixels);
        Assert.Equal(fitted.GoodPixels!.MeanFalseRate, loaded.GoodPixels!.MeanFalseRate);

        var before = fitted.Inspect(Test);
        var after = loaded.Inspect(Test);
        Assert.Contains(before, r => r.Regions.Count > 0);
        for (int i = 0; i < before.Count; i++)
            Assert.Equal(before[i].Regions.Select(r => r.CoreImageArea), after[i].Regions.Select(r => r.CoreImageArea));

        // Saving the loaded model writes the same statistics again.
        var again = Path.Combine(TestData.TempFolder("size-state-again"), "m.pfmodel");
        loaded.Save(again);
        Assert.Equal(SizeEntries(path), SizeEntries(again));
    }

    [Fact]
    public void The_same_fit_writes_the_same_statistics()
    {
        using var first = FitModel();
        using var second = FitModel();
        Assert.Equal(SizeEntries(Saved(first)), SizeEntries(Saved(second)));
    }

    [Fact]
    public void A_model_file_without_statistics_loads_and_sizes_by_the_map_alone()
    {
        using var fitted = FitModel();
        var older = Rewritten(Saved(fitted), (name, bytes) => name.StartsWith(GoodPixels.Folder, StringComparison.Ordinal) ? null : bytes);
        using var loaded = AnomalyModel.Load(older, TestData.Catalog);
        Assert.Null(loaded.GoodPixels);

        var results = loaded.Inspect(Test);
        var size = new DefectSize(loaded.PointSpread());
        Assert.Contains(results, r => r.Regions.Count > 0);
        foreach (var result in results.Where(r => r.Regions.Count > 0))
        {
            var image = ImageLoader.LoadRgb(result.Id);
            var mapOnly = FittedStages.Regions(result.RawMap, loaded.Threshold, loaded.Normalization.GoodMedian(), loaded.Preprocessing,
                image.Height, image.Width, size);
            Assert.Equal(mapOnly.Select(r => r.CoreImageArea), result.Regions.Select(r => r.CoreImageArea));
        }
    }

    [Theory]
    [InlineData("size/false_deviation_rate.npy", "shape")]
    [InlineData("size/good_spread.npy", "shape")]
    [InlineData("size/settings.json", "factor")]
    public void Damaged_statistics_name_the_file_and_the_entry(string entry, string problem)
    {
        using var fitted = FitModel();
        var damaged = Rewritten(Saved(fitted), (name, bytes) => name != entry ? bytes
            : entry.EndsWith(".json", StringComparison.Ordinal) ? System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(bytes).Replace("\"factor\": 2", "\"factor\": 0"))
            : ModelFileSurgery.Npy("(2, 3)", new float[6]));
        var error = Assert.Throws<PipelineException>(() => AnomalyModel.Load(damaged, TestData.Catalog));
        Assert.Contains("changed.pfmodel", error.Message);
        Assert.Contains(entry, error.Message);
        Assert.Contains(problem, error.Message);
    }
}
