using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.MLNet;
using PipelineFramework.Tests.Support;
using SkiaSharp;
using static PipelineFramework.Tests.MLNet.MLNetColumnTests;

namespace PipelineFramework.Tests.MLNet;

/// <summary>
/// What a careless application does with the ML.NET surface (a model used after Dispose, an image with transparency
/// through LoadImages, nulls, NaN options, empty rows): each gets a clear error, never a crash or a quietly different
/// score. Real hazelnut images, a real ONNX backbone (the small one of <see cref="MLNetColumnTests"/>) and real model files.
/// </summary>
public class MLNetHostileUseTests
{
    readonly MLContext _ml = new(seed: 1);
    VisualAnomalyCatalog VA => _ml.VisualAnomaly(TestData.Catalog);
    static IReadOnlyList<string> Train => ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(8).Select(t => t.Path).ToList();
    static IReadOnlyList<string> Test => ImageDataset.LoadMvtec(TestData.Hazelnut).Test.Take(4).Select(t => t.Path).ToList();

    IDataView Paths(IEnumerable<string> paths) => _ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { ImagePath = p }));

    string SavedModel()
    {
        using var fitted = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train));
        var path = Path.Combine(TestData.TempFolder("hostile-mlnet"), "m.pfmodel");
        fitted.SaveModel(path);
        return path;
    }

    List<ScoredRow> Score(ITransformer model, IDataView view) => _ml.Data.CreateEnumerable<ScoredRow>(model.Transform(view), reuseRowObject: false).ToList();

    [Fact]
    public void A_model_used_after_Dispose_is_refused_with_a_clear_message_instead_of_crashing_the_process()
    {
        // Before: Transform after Dispose ran the released ONNX session ("output name cannot be empty"), and a model
        // disposed by its PredictionEngine took the process down with SIGSEGV (exit 139).
        var path = SavedModel();
        var model = VA.LoadModel(path);
        var lazy = model.Transform(Paths(Test));
        model.Dispose();
        model.Dispose(); // twice is harmless
        var e = Assert.Throws<ObjectDisposedException>(() => _ml.Data.CreateEnumerable<ScoredRow>(lazy, false).ToList());
        Assert.Contains("This model was disposed", e.Message);
        Assert.Throws<ObjectDisposedException>(() => Score(model, Paths(Test)));
        var target = Path.Combine(Path.GetDirectoryName(path)!, "after-dispose.pfmodel");
        Assert.Throws<ObjectDisposedException>(() => model.SaveModel(target));
        Assert.False(File.Exists(target));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp-*"));

        // A PredictionEngine disposes the transformer it was given; the message says how to keep the model.
        var owned = VA.LoadModel(path);
        _ml.Model.CreatePredictionEngine<PathRow, ScoredRow>(owned).Dispose();
        e = Assert.Throws<ObjectDisposedException>(() => Score(owned, Paths(Test)));
        Assert.Contains("OwnsTransformer = false", e.Message);

        // A view does not own the model: the model outlives an engine made over a view.
        using var kept = VA.LoadModel(path);
        _ml.Model.CreatePredictionEngine<PathRow, ScoredRow>(kept.WithImageColumn("ImagePath")).Dispose();
        Assert.Equal(Test.Count, Score(kept, Paths(Test)).Count);
    }

    [Fact]
    public void An_MLImage_with_transparency_is_refused_rather_than_scored_unlike_its_file()
    {
        // The decoder keeps the colour under a transparent pixel; ML.NET's LoadImages multiplies it by alpha. Before,
        // the same PNG scored raw 4.03 by path and 5.00 as an MLImage (the default pipeline), without a word.
        var folder = TestData.TempFolder("alpha");
        var rgb = ImageLoader.LoadRgb(Test[0]);
        var transparent = WriteRgba(rgb, Path.Combine(folder, "alpha.png"), x => (byte)(x < rgb.Width / 2 ? 128 : 255));
        var opaque = WriteRgba(rgb, Path.Combine(folder, "opaque.png"), _ => 255);
        using var model = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train));
        var byImage = model.WithImageColumn("Image");
        IDataView Loaded(string file) => _ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(Paths([file])).Transform(Paths([file]));

        var e = Assert.Throws<PipelineException>(() => Score(byImage, Loaded(transparent)));
        Assert.Contains("row 0 of column 'Image' has transparent pixels", e.Message);
        Assert.Contains("LoadRawImageBytes", e.Message);
        // The same file by path and as bytes is scored (alpha ignored by both), and an opaque PNG through LoadImages
        // still gives its file's score to the bit.
        var byPath = Score(model, Paths([transparent]))[0];
        var raw = _ml.Transforms.LoadRawImageBytes("Image", null, "ImagePath").Fit(Paths([transparent])).Transform(Paths([transparent]));
        Assert.Equal(byPath.RawScore, Score(byImage, raw)[0].RawScore);
        Assert.Equal(Score(model, Paths([opaque]))[0].RawScore, Score(byImage, Loaded(opaque))[0].RawScore);
        // Fitting on such MLImages is refused the same way, naming the row.
        var fitRows = Train.Take(3).Append(transparent).ToList();
        var fitImages = _ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(Paths(fitRows)).Transform(Paths(fitRows));
        e = Assert.Throws<PipelineException>(() => VA.PipelineFromJson(SmallPipeline, "Image").Fit(fitImages));
        Assert.Contains("Row 3 of column 'Image' has transparent pixels", e.Message);
    }

    static string WriteRgba(ImageTensor rgb, string path, Func<int, byte> alphaAtColumn)
    {
        int plane = rgb.Width * rgb.Height;
        using var bitmap = new SKBitmap(new SKImageInfo(rgb.Width, rgb.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var span = bitmap.GetPixelSpan();
        static byte B(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255), 0, 255);
        for (int i = 0; i < plane; i++)
        {
            span[4 * i] = B(rgb.Pixels[i]);
            span[4 * i + 1] = B(rgb.Pixels[plane + i]);
            span[4 * i + 2] = B(rgb.Pixels[2 * plane + i]);
            span[4 * i + 3] = alphaAtColumn(i % rgb.Width);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void Bad_rows_are_named_by_row_and_column_not_by_a_temporary_file()
    {
        // Before: "Image file is empty: /tmp/pf-fit-xe0LlG/00000003.png" (a file the application never made), and
        // ": '' is not an image type" for an empty path, "/tmp: '' is not an image type" for a folder.
        var bytes = _ml.Data.LoadFromEnumerable(Train.Take(3).Select(p => new BytesRow { Image = File.ReadAllBytes(p) }).Append(new BytesRow { Image = [] }));
        var e = Assert.Throws<PipelineException>(() => VA.PipelineFromJson(SmallPipeline, "Image").Fit(bytes));
        Assert.Contains("row 3 of column 'Image'", e.Message);
        Assert.DoesNotContain("pf-fit-", e.Message);

        e = Assert.Throws<PipelineException>(() => VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train.Take(2).Append(""))));
        Assert.Equal("Row 2 of column 'ImagePath' is empty; every row must hold an image file path.", e.Message);
        using var model = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train));
        e = Assert.Throws<PipelineException>(() => Score(model, Paths([""])));
        Assert.Contains("row 0 of column 'ImagePath' is empty", e.Message);
        // A blank path is an empty one (before: "   : '' is not an image type", naming no row).
        e = Assert.Throws<PipelineException>(() => Score(model, Paths(["   "])));
        Assert.Contains("row 0 of column 'ImagePath' is empty", e.Message);
        var folder = TestData.TempFolder("a-folder");
        e = Assert.Throws<PipelineException>(() => Score(model, Paths([folder])));
        Assert.Contains($"{folder} is a folder, not a regular file", e.Message);
    }

    [Fact]
    public void Null_arguments_name_the_parameter_instead_of_a_NullReferenceException()
    {
        var estimator = VA.PipelineFromJson(SmallPipeline);
        Assert.Equal("input", Assert.Throws<ArgumentNullException>(() => estimator.Fit(null!)).ParamName);
        Assert.Equal("change", Assert.Throws<ArgumentNullException>(() => estimator.With((Func<Core.Spec.PipelineSpec, Core.Spec.PipelineSpec>)null!)).ParamName);
        Assert.Contains("returned null", Assert.Throws<ArgumentException>(() => estimator.With(s => null!)).Message);
        Assert.Contains("is null", Assert.Throws<ArgumentException>(() => estimator.With([null!])).Message);
        Assert.Equal("context", Assert.Throws<ArgumentNullException>(() => ((MLContext)null!).VisualAnomaly()).ParamName);
        Assert.Equal("modelPath", Assert.Throws<ArgumentNullException>(() => VA.LoadModel(null!)).ParamName);
        Assert.Equal("imageColumnName", Assert.Throws<ArgumentNullException>(() => VA.PipelineFromJson(SmallPipeline, null!)).ParamName);
        using var model = VA.LoadModel(SavedModel());
        Assert.Equal("input", Assert.Throws<ArgumentNullException>(() => model.Transform(null!)).ParamName);
        Assert.Equal("imageColumnName", Assert.Throws<ArgumentNullException>(() => model.WithImageColumn(null!)).ParamName);
    }

    [Fact]
    public void An_explanation_column_named_like_a_column_the_transformer_writes_is_refused()
    {
        // Before: WithExplanation("Score") hid the Score column behind a text one (reading Score as a float failed with
        // ML.NET's "Can't bind the IDataView column 'Score' of type 'String' ..."), and WithExplanation("ImagePath")
        // replaced every row's path with its explanation.
        using var model = VA.LoadModel(SavedModel());
        foreach (var name in new[] { "Score", "PredictedLabel", "RawScore", "IsAnomaly", "AnomalyMap", "InputWarning", "ImagePath" })
        {
            var e = Assert.Throws<ArgumentException>(() => model.WithExplanation(name));
            Assert.StartsWith($"The explanation column cannot be named '{name}'", e.Message);
            Assert.Throws<ArgumentException>(() => VA.PipelineFromJson(SmallPipeline).WithExplanation(name));
        }
        Assert.Throws<ArgumentException>(() => model.WithExplanation("Image").WithImageColumn("Image"));
        Assert.Equal("columnName", Assert.Throws<ArgumentNullException>(() => model.WithExplanation(null!)).ParamName);
        // Another name is an explanation column beside the others.
        var explained = model.WithExplanation("Why").Transform(Paths(Test.Take(1)));
        Assert.Contains("threshold", explained.GetColumn<string>("Why").Single());
        Assert.Equal(Score(model, Paths(Test.Take(1)))[0].Score, explained.GetColumn<float>("Score").Single());
    }

    [Fact]
    public void A_score_a_hair_above_the_threshold_reads_above_one_half_as_a_Single()
    {
        // The engine's normalised score is a double; the Score column is a Single. Before, a part scoring a hair above
        // the threshold read Score == 0.5f with IsAnomaly true, so an application testing Score > 0.5f passed it as good.
        // The threshold is moved (with the normalisation centre, which must equal it) to just below a test part's raw score.
        var saved = SavedModel();
        double raw;
        using (var original = VA.LoadModel(saved)) raw = original.Model.Inspect(Test[0]).RawScore;
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(ModelFiles.ModelFileSurgery.Entry(File.ReadAllBytes(saved), "manifest.json"))!;
        double threshold = raw - 1e-9 * (double)manifest["normalization"]!["scale"]!;
        manifest["threshold"]!["value"] = threshold;
        manifest["normalization"]!["center"] = threshold;
        var edited = ModelFiles.ModelFileSurgery.Save(ModelFiles.ModelFileSurgery.WithText(File.ReadAllBytes(saved), "manifest.json", manifest.ToJsonString()), "hair.pfmodel");

        using var model = VA.LoadModel(edited);
        var inspected = model.Model.Inspect(Test[0]);
        Assert.True(inspected.IsAnomaly);
        Assert.True(inspected.Score > 0.5);
        Assert.Equal(0.5f, (float)inspected.Score); // what the column held before
        var row = Score(model, Paths([Test[0]]))[0];
        Assert.True(row.IsAnomaly);
        Assert.True(row.Score > 0.5f, $"Score {row.Score:R} with IsAnomaly true");
        Assert.Equal(MathF.BitIncrement(0.5f), row.Score);
        // Any other score is the engine's double rounded to the nearest Single, as before.
        using var plain = VA.LoadModel(saved);
        Assert.All(plain.Model.Inspect(Test).Zip(Score(plain, Paths(Test))), p => Assert.Equal((float)p.First.Score, p.Second.Score));
    }

    sealed class CancelOnFirstReport(CancellationTokenSource source) : IProgress<ProgressUpdate>
    {
        public List<ProgressUpdate> Reports { get; } = [];
        public void Report(ProgressUpdate value)
        {
            lock (Reports) Reports.Add(value);
            source.Cancel();
        }
    }

    [Fact]
    public void Fit_stops_at_the_next_batch_once_its_token_is_cancelled()
    {
        // Before: IEstimator.Fit has no token and there was no other, so a fit could only be stopped with the process.
        var train = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Select(t => t.Path).ToList();
        using var source = new CancellationTokenSource();
        var progress = new CancelOnFirstReport(source);
        var estimator = new VisualAnomalyEstimator(VA.PipelineFromJson(SmallPipeline).Pipeline) { Progress = progress };
        Assert.ThrowsAny<OperationCanceledException>(() => estimator.Fit(Paths(train), source.Token));
        Assert.Single(progress.Reports); // the first batch of the backbone pass, and nothing after it
        Assert.True(progress.Reports[0].Done < train.Count);
        // Byte rows too (while they are staged), and a token cancelled before the call.
        var bytes = _ml.Data.LoadFromEnumerable(train.Take(3).Select(p => new BytesRow { Image = File.ReadAllBytes(p) }));
        Assert.ThrowsAny<OperationCanceledException>(() => VA.PipelineFromJson(SmallPipeline, "Image").Fit(bytes, source.Token));
        // Without cancelling, the same estimator fits.
        using var fitted = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train), CancellationToken.None);
        Assert.Equal(Test.Count, Score(fitted, Paths(Test)).Count);
    }

    [Fact]
    public void NaN_and_infinity_in_typed_options_are_refused_with_the_option_and_its_range()
    {
        // Before: System.Text.Json's ArgumentException, "... consider specifying 'JsonNumberHandling.AllowNamedFloatingPointLiterals'".
        Assert.Equal("typed pipeline: $.scoring.coresetRatio: NaN is out of range; allowed (0, 1]",
            Assert.Throws<PipelineException>(() => VA.PatchCore(o => o.CoresetRatio = double.NaN)).Message);
        Assert.Equal("typed pipeline: $.map.sigma: Infinity is out of range; allowed [0, 64]",
            Assert.Throws<PipelineException>(() => VA.PipelineFromJson(SmallPipeline).With(s => s with { Map = s.Map with { Sigma = double.PositiveInfinity } })).Message);
        Assert.Contains("$.input.mean: NaN is out of range",
            Assert.Throws<PipelineException>(() => VA.PipelineFromJson(SmallPipeline).With(s => s with { Input = s.Input with { Mean = [float.NaN, 0.5f, 0.5f] } })).Message);
        // The same holds for "NaN" written into pipeline JSON.
        Assert.Contains("$.scoring.coresetRatio: NaN is out of range",
            Assert.Throws<PipelineException>(() => VA.PipelineFromJson("""{ "name": "n", "backbone": { "type": "backbone.onnx" }, "scoring": { "type": "scoring.patchcore", "coresetRatio": "NaN" } }""")).Message);
        Assert.Contains("finite", Assert.Throws<PipelineException>(() => VA.ExtractPixels("o", "i", 224, 224, [float.NaN, 0, 0])).Message);
        Assert.Contains("finite", Assert.Throws<PipelineException>(() => VA.ExtractPixels("o", "i", 224, 224, null, [float.PositiveInfinity, 1, 1])).Message);
    }

    [Fact]
    public void Saving_to_a_folder_or_loading_an_empty_file_says_so()
    {
        var folder = TestData.TempFolder("save-target");
        using var model = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train));
        // Before: IOException "Is a directory" after the whole model was written to a temporary file.
        var e = Assert.Throws<PipelineException>(() => model.SaveModel(folder));
        Assert.Equal($"Model file '{folder}' is a folder; give a file name, e.g. {Path.Combine(folder, "model.pfmodel")}.", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(folder));

        var empty = Path.Combine(folder, "empty.pfmodel");
        File.WriteAllBytes(empty, []);
        // Before: "... not a zip archive, or one cut short: Central Directory corrupt."
        Assert.Contains("is empty (0 bytes)", Assert.Throws<PipelineException>(() => VA.LoadModel(empty)).Message);
        Assert.Contains("pipeline: is empty", Assert.Throws<PipelineException>(() => VA.PipelineFromJson("  ")).Message);
    }

    public sealed class PathScore
    {
        public string ImagePath { get; set; } = "";
        public float RawScore { get; set; }
    }

    IDataView OneShot<TRow>(IEnumerable<TRow> rows) where TRow : class
    {
        var queue = new BlockingCollection<TRow>();
        foreach (var row in rows) queue.Add(row);
        queue.CompleteAdding();
        return _ml.Data.LoadFromEnumerable(queue.GetConsumingEnumerable());
    }

    [Fact]
    public void A_view_that_gives_two_cursors_different_rows_is_refused_instead_of_pairing_rows_with_other_rows_scores()
    {
        // Transform reads the image column a batch ahead through a second cursor. Before, a one-shot source (a queue's
        // GetConsumingEnumerable, as a camera feeds frames) split its rows between the two cursors: the default model
        // on hazelnut's 23 test images gave 9 rows, each with another row's score (colour/16.jpg, a defect, scored
        // 0.001 and passed as good), without a word.
        var all = ImageDataset.LoadMvtec(TestData.Hazelnut).Test.Select(t => t.Path).ToList();
        Assert.True(all.Count > 16, "more rows than two batches");
        using var model = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train));

        var e = Assert.Throws<PipelineException>(() => Score(model, OneShot(all.Select(p => new PathRow { ImagePath = p }))));
        Assert.Contains("gave the transform's two cursors different rows (row 0 holds another image", e.Message);
        Assert.Contains("into a list before LoadFromEnumerable", e.Message);
        e = Assert.Throws<PipelineException>(() => Score(model.WithImageColumn("Image"), OneShot(all.Select(p => new BytesRow { Image = File.ReadAllBytes(p) }))));
        Assert.Contains("row 0 holds another image", e.Message);
        // MLImages are not read twice (each read decodes): the path LoadImages read tells the rows apart.
        var images = _ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(Paths(all)).Transform(OneShot(all.Select(p => new PathRow { ImagePath = p })));
        e = Assert.Throws<PipelineException>(() => Score(model.WithImageColumn("Image"), images));
        Assert.Contains("row 0 holds another image", e.Message);

        // Views that replay their rows (the same list, shuffled, filtered) still pair every row with its own score.
        var plain = _ml.Data.CreateEnumerable<PathScore>(model.Transform(Paths(all)), false).ToDictionary(r => r.ImagePath, r => r.RawScore);
        foreach (var view in new[] { _ml.Data.ShuffleRows(Paths(all), seed: 3), _ml.Data.FilterByCustomPredicate<PathRow>(Paths(all), r => r.ImagePath.Contains("good")) })
        {
            var rows = _ml.Data.CreateEnumerable<PathScore>(model.Transform(view), false).ToList();
            Assert.NotEmpty(rows);
            Assert.All(rows, r => Assert.Equal(plain[r.ImagePath], r.RawScore));
        }
        // A PredictionEngine (one row at a time) is the way to score a one-shot source.
        using var engine = _ml.Model.CreatePredictionEngine<PathRow, PathScore>(model.WithImageColumn("ImagePath"));
        foreach (var path in all.Take(3)) Assert.Equal(plain[path], engine.Predict(new PathRow { ImagePath = path }).RawScore);
    }

    public sealed class FeatureRow
    {
        [VectorType(4, 8, 8)] public float[] Features { get; set; } = [];
    }

    public sealed class NamedFeatureRow
    {
        public string Name { get; set; } = "";
        [VectorType(4, 8, 8)] public float[] Features { get; set; } = [];
    }

    public sealed class NamedScore
    {
        public string Name { get; set; } = "";
        public float RawScore { get; set; }
    }

    /// <summary>A 4 x 8 x 8 feature map of seeded noise; <paramref name="shift"/> moves it away from the fitted ones.</summary>
    static float[] Map(int seed, float shift)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, 256).Select(_ => (float)random.NextDouble() + shift).ToArray();
    }

    [Fact]
    public void A_one_shot_source_of_MLImages_or_feature_maps_is_refused_at_its_first_row_before_any_score_is_handed_out()
    {
        // Before, an MLImage or feature column was not checked row by row: the error came only when reading ended, and
        // a caller that read a few rows (Take, Preview, a loop that stops) got other rows' scores without any error:
        // the first 3 of hazelnut's test images through LoadImages gave raw 1.16, 1.22, 1.03 where each scores 1.05,
        // 2.97, 1.38 by itself (colour/09.jpg, a defect, got a score below its neighbours'), and the first 3 feature
        // rows below 0.93, 0.14, 2.88 where they score 0.20, 8.94, 0.12 (test-9, far from the fitted maps, passed).
        var all = ImageDataset.LoadMvtec(TestData.Hazelnut).Test.Select(t => t.Path).ToList();
        using var model = VA.PipelineFromJson(SmallPipeline).Fit(Paths(Train));
        var plain = _ml.Data.CreateEnumerable<PathScore>(model.Transform(Paths(all)), false).ToDictionary(r => r.ImagePath, r => r.RawScore);
        var images = _ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(Paths(all)).Transform(OneShot(all.Select(p => new PathRow { ImagePath = p })));
        var e = Assert.Throws<PipelineException>(() => _ml.Data.CreateEnumerable<PathScore>(model.WithImageColumn("Image").Transform(images), false).Take(3).ToList());
        Assert.Contains("row 0 holds another image than the one read for it", e.Message);

        // Feature maps: with a column that tells rows apart (a name), and without one (the map itself is compared).
        var fit = Enumerable.Range(0, 10).Select(i => new NamedFeatureRow { Name = $"fit-{i}", Features = Map(i, 0) }).ToList();
        var test = Enumerable.Range(0, 20).Select(i => new NamedFeatureRow { Name = $"test-{i}", Features = Map(100 + i, i % 2 == 0 ? 0 : 0.5f * i) }).ToList();
        using var features = VA.PatchCore("Features", o => o.CoresetRatio = 0.5).Fit(_ml.Data.LoadFromEnumerable(fit));
        var own = _ml.Data.CreateEnumerable<NamedScore>(features.Transform(_ml.Data.LoadFromEnumerable(test)), false).ToDictionary(r => r.Name, r => r.RawScore);
        Assert.True(own.Values.Distinct().Count() > 10, "the rows score differently, so a row paired with another row's score would show");
        e = Assert.Throws<PipelineException>(() => _ml.Data.CreateEnumerable<NamedScore>(features.Transform(OneShot(test)), false).Take(3).ToList());
        Assert.Contains("row 0 holds another image than the one read for it", e.Message);
        e = Assert.Throws<PipelineException>(() => features.Transform(OneShot(test.Select(r => new FeatureRow { Features = r.Features })))
            .GetColumn<float>("RawScore").Take(3).ToList());
        Assert.Contains("row 0 holds another image than the one read for it", e.Message);

        // Replayed views are unchanged: every row keeps its own score (a list, and the same rows shuffled).
        foreach (var view in new[] { _ml.Data.LoadFromEnumerable(test), _ml.Data.ShuffleRows(_ml.Data.LoadFromEnumerable(test), seed: 3) })
            Assert.All(_ml.Data.CreateEnumerable<NamedScore>(features.Transform(view), false), r => Assert.Equal(own[r.Name], r.RawScore));
        var loaded = _ml.Transforms.LoadImages("Image", null, "ImagePath").Fit(Paths(all)).Transform(Paths(all));
        Assert.All(_ml.Data.CreateEnumerable<PathScore>(model.WithImageColumn("Image").Transform(loaded), false), r => Assert.Equal(plain[r.ImagePath], r.RawScore));
    }
}
