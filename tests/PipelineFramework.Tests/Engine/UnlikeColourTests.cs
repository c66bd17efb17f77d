using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Tests.ModelFiles;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Engine;

/// <summary>
/// A grey image scored by a model fitted on colour images (or the reverse) still gets a verdict, and the result says
/// the verdict compares it with parts seen otherwise; the model file keeps what its good images were.
/// </summary>
public class UnlikeColourTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);

    /// <summary>
    /// The image's luma (Rec. 601, as the pipeline's grey mode takes it), written the two ways grey images arrive: as a
    /// one-channel PNG, or as an RGB JPEG whose three channels went through compression.
    /// </summary>
    static string WriteGrey(string source, string target)
    {
        var luma = ImageLoader.LoadGrey(source);
        bool oneChannel = target.EndsWith(".png", StringComparison.Ordinal);
        using var bitmap = new SKBitmap(new SKImageInfo(luma.Width, luma.Height, oneChannel ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
        var span = bitmap.GetPixelSpan();
        for (int i = 0; i < luma.Values.Length; i++)
        {
            byte y = (byte)Math.Clamp((int)MathF.Round(luma.Values[i] * 255f), 0, 255);
            if (oneChannel) span[i] = y;
            else { span[4 * i] = span[4 * i + 1] = span[4 * i + 2] = y; span[4 * i + 3] = 255; }
        }
        using var encoded = bitmap.Encode(oneChannel ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, 75);
        File.WriteAllBytes(target, encoded.ToArray());
        return target;
    }

    static string? ManifestColour(string modelPath) =>
        JsonNode.Parse(ModelFileEntries.ReadText(modelPath, "manifest.json"))!["training"]!["imageColour"]?.GetValue<string>();

    [Fact]
    public async Task A_colour_model_flags_grey_copies_of_test_parts_not_the_colour_ones_and_keeps_what_it_saw_through_save_and_load()
    {
        var pipeline = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog);
        using var fitted = pipeline.Fit(Hazelnut.Train.Take(8).Select(t => t.Path).ToList());
        var folder = TestData.TempFolder("unlike-colour");
        var modelPath = Path.Combine(folder, "m.pfmodel");
        fitted.Save(modelPath);
        using var model = AnomalyModel.Load(modelPath, TestData.Catalog);
        Assert.Equal("colour", ManifestColour(modelPath));
        Assert.Equal(GoodImageColour.Colour, model.Manifest.Training.ImageColour);

        // Every test part of the set, good or defective, is a colour photo as the training parts were.
        var test = model.Inspect(Hazelnut.Test.Select(t => t.Path).ToList());
        Assert.All(test, r => Assert.Null(r.InputWarning));

        var part = Hazelnut.Test.First(t => t.Label == 0).Path;
        var greyJpeg = WriteGrey(part, Path.Combine(folder, "grey.jpg"));
        var greyPng = WriteGrey(part, Path.Combine(folder, "grey.png"));
        var greyThumbnail = TestData.WriteThumbnail(greyPng, Path.Combine(folder, "grey-thumbnail.png"));
        var odd = model.Inspect([greyJpeg, greyPng, greyThumbnail]);
        foreach (var r in odd.Take(2))
        {
            Assert.StartsWith("The image is grey, where the model was fitted on colour good images only.", r.InputWarning);
            Assert.Contains("\"colour\": \"grey\"", r.InputWarning);
        }
        // Unlike in size and in colour: one warning says both.
        Assert.Contains("shorter side", odd[2].InputWarning);
        Assert.Contains("It is also grey, where the model was fitted on colour good images only.", odd[2].InputWarning);
        Assert.Contains(odd[0].InputWarning, (await model.ExplainAsync(odd[0])).Notes);
        // The verdict is still the model's, and the model fitted in memory says the same as the one saved and loaded.
        Assert.Equal(fitted.Inspect([greyJpeg, greyPng, greyThumbnail]).Select(r => (r.RawScore, r.IsAnomaly, r.InputWarning)),
            odd.Select(r => (r.RawScore, r.IsAnomaly, r.InputWarning)));
    }

    [Fact]
    public void A_grey_model_flags_colour_parts_and_a_grey_input_pipeline_flags_neither()
    {
        var folder = TestData.TempFolder("unlike-colour-grey");
        var greyTrain = Hazelnut.Train.Take(6).Select((t, i) => WriteGrey(t.Path, Path.Combine(folder, $"train{i}.png"))).ToList();
        var part = Hazelnut.Test.First(t => t.Label == 0).Path;
        var greyPart = WriteGrey(part, Path.Combine(folder, "part.jpg"));

        using (var grey = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog).Fit(greyTrain))
        {
            var modelPath = Path.Combine(folder, "grey.pfmodel");
            grey.Save(modelPath);
            Assert.Equal("grey", ManifestColour(modelPath));
            using var loaded = AnomalyModel.Load(modelPath, TestData.Catalog);
            var results = loaded.Inspect([part, greyPart]);
            Assert.StartsWith("The image is in colour, where the model was fitted on grey good images only.", results[0].InputWarning);
            Assert.Null(results[1].InputWarning);
        }

        // "colour": "grey" turns every image grey before the backbone: a colour part gives its grey copy's features, so
        // neither kind is unlike what the model saw. The good images are still recorded as they were.
        var json = File.ReadAllText(TestData.Pipeline("patchcore-mobilenet")).Replace("\"crop\": 224 }", "\"crop\": 224, \"colour\": \"grey\" }");
        var greyInput = AnomalyPipeline.FromJson(json, TestData.Catalog);
        Assert.Equal(ColourMode.Grey, greyInput.Spec.Preprocessing.Colour);
        using var fitted = greyInput.Fit(Hazelnut.Train.Take(6).Select(t => t.Path).ToList());
        var greyInputPath = Path.Combine(folder, "grey-input.pfmodel");
        fitted.Save(greyInputPath);
        Assert.Equal("colour", ManifestColour(greyInputPath));
        using var model = AnomalyModel.Load(greyInputPath, TestData.Catalog);
        Assert.All(model.Inspect([part, greyPart]), r => Assert.Null(r.InputWarning));
    }

    [Fact]
    public void A_model_file_written_before_colour_was_recorded_loads_and_flags_no_image_for_its_colour()
    {
        var folder = TestData.TempFolder("unlike-colour-format1");
        using var model = AnomalyModel.Load(ModelFileSurgery.Format1Path, TestData.Catalog);
        Assert.Null(JsonNode.Parse(ModelFileEntries.ReadText(ModelFileSurgery.Format1Path, "manifest.json"))!["training"]!["imageColour"]);
        Assert.Null(model.Manifest.Training.ImageColour);
        var part = Hazelnut.Test.First(t => t.Label == 0).Path;
        var results = model.Inspect([part, WriteGrey(part, Path.Combine(folder, "grey.jpg")), WriteGrey(part, Path.Combine(folder, "grey.png"))]);
        Assert.All(results, r => Assert.Null(r.InputWarning));
    }

    [Fact]
    public void The_shipped_hazelnut_photos_count_as_colour_and_their_grey_copies_as_grey_however_they_were_encoded()
    {
        var folder = TestData.TempFolder("colour-measure");
        var colour = Hazelnut.Train.Concat(Hazelnut.Test).Select(t => t.Path).ToList();
        Assert.All(colour, path => Assert.False(ImageColour.IsGrey(ImageLoader.LoadRgb(path)), path));

        // Grey copies as RGB JPEG and as one-channel PNG.
        var copies = colour.Take(20).SelectMany((path, i) => new[] { WriteGrey(path, Path.Combine(folder, $"{i}.jpg")), WriteGrey(path, Path.Combine(folder, $"{i}.png")) });
        Assert.All(copies, path => Assert.True(ImageColour.IsGrey(ImageLoader.LoadRgb(path)), path));
    }

    [SharedDataFact]
    public void Bottle_photos_count_as_colour_and_KolektorSDD_one_channel_JPEGs_as_grey()
    {
        var bottle = ImageDataset.LoadMvtec(TestData.Bottle);
        var colour = bottle.Train.Concat(bottle.Test).Select(t => t.Path).Where((_, i) => i % 10 == 0).ToList();
        Assert.All(colour, path => Assert.False(ImageColour.IsGrey(ImageLoader.LoadRgb(path)), path));
        var kolektor = Directory.GetFiles(Path.Combine(TestData.SharedDatasets, "kolektorsdd_256", "kolektorsdd", "train", "good")).Order().Take(20);
        Assert.All(kolektor, path => Assert.True(ImageColour.IsGrey(ImageLoader.LoadRgb(path)), path));
    }

    [Fact]
    public void The_good_images_are_grey_colour_or_mixed_and_only_the_other_kind_is_flagged()
    {
        Assert.Equal(GoodImageColour.Grey, ImageColour.Of([true, true]));
        Assert.Equal(GoodImageColour.Colour, ImageColour.Of([false]));
        Assert.Equal(GoodImageColour.Mixed, ImageColour.Of([false, true, false]));
        Assert.Null(ImageColour.Of([]));
        Assert.Null(ImageColour.Unlike(GoodImageColour.Mixed, true));
        Assert.Null(ImageColour.Unlike(GoodImageColour.Colour, null));     // a preprocessed tensor: colour unknown
        Assert.Null(ImageColour.Unlike(GoodImageColour.Grey, true));

        // A grey image with a coloured stamp on under 5 % of it is still grey; one on more is in colour.
        static ImageTensor Stamped(int colouredPixels)
        {
            var image = new ImageTensor(3, 100, 100, Enumerable.Repeat(0.5f, 3 * 100 * 100).ToArray());
            for (int i = 0; i < colouredPixels; i++) image.Pixels[i] = 0.5f + 9 / 255f;   // red above the others by 9 levels
            return image;
        }
        Assert.True(ImageColour.IsGrey(Stamped(500)));
        Assert.False(ImageColour.IsGrey(Stamped(501)));
        var faint = Stamped(10_000);
        for (int i = 0; i < 10_000; i++) faint.Pixels[i] = 0.5f + 8 / 255f;                // 8 levels: rounding, not colour
        Assert.True(ImageColour.IsGrey(faint));
    }
}
