using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.ModelFiles;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Engine;

/// <summary>
/// An image unlike the good images a model was fitted on (a thumbnail, a strip, another framing) still gets a verdict,
/// and the result says the verdict compares it with parts seen otherwise.
/// </summary>
public class UnlikeImageTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);

    static ImageTensor Rows(ImageTensor image, int top, int count)
    {
        var pixels = new float[image.Channels * count * image.Width];
        for (int c = 0; c < image.Channels; c++)
            Array.Copy(image.Pixels, (c * image.Height + top) * image.Width, pixels, c * count * image.Width, count * image.Width);
        return new ImageTensor(image.Channels, count, image.Width, pixels);
    }

    [Fact]
    public async Task A_thumbnail_or_a_strip_of_a_part_is_flagged_the_parts_photographed_as_for_fitting_are_not_and_the_model_file_keeps_the_sizes()
    {
        var pipeline = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog);
        using var fitted = pipeline.Fit(Hazelnut.Train.Take(10).Select(t => t.Path).ToList());
        var folder = TestData.TempFolder("unlike-images");
        var modelPath = Path.Combine(folder, "m.pfmodel");
        fitted.Save(modelPath);
        using var model = AnomalyModel.Load(modelPath, TestData.Catalog);

        var sizes = JsonNode.Parse(ModelFileEntries.ReadText(modelPath, "manifest.json"))!["training"]!["imageSizes"]!;
        var part = ImageLoader.LoadRgb(Service.ServiceModels.DefectiveHazelnut);
        Assert.True(sizes["minWidth"]!.GetValue<int>() <= part.Width && part.Width <= sizes["maxWidth"]!.GetValue<int>());

        var thumbnail = TestData.WriteThumbnail(Service.ServiceModels.DefectiveHazelnut, Path.Combine(folder, "thumbnail.png"));
        var strip = Path.Combine(folder, "strip.png");
        ImageLoader.SavePng(Rows(part, part.Height / 2 - 40, 80), strip);

        // Every test part of the set, good or defective, is photographed as the training parts were.
        var test = model.Inspect(Hazelnut.Test.Select(t => t.Path).ToList());
        Assert.All(test, r => Assert.Null(r.InputWarning));

        var odd = model.Inspect([thumbnail, strip]);
        Assert.Contains($"The image is {part.Width / 8} x {part.Height / 8} px", odd[0].InputWarning);
        Assert.Contains("shorter side", odd[0].InputWarning);
        Assert.Contains($"The image is {part.Width} x 80 px", odd[1].InputWarning);
        Assert.Contains("aspect ratio", odd[1].InputWarning);
        // Every explanation of the part carries the warning as a note, whichever explainer answers.
        var explained = await model.ExplainAsync(odd[1]);
        Assert.Contains(odd[1].InputWarning, explained.Notes);
        Assert.DoesNotContain((await model.ExplainAsync(test[0])).Notes, n => n.Contains("fitted on good images of"));
        // The verdict is still the model's: the same as the fitted model gives, flag and all.
        var before = fitted.Inspect([thumbnail, strip]);
        Assert.Equal(before.Select(r => (r.RawScore, r.IsAnomaly, r.InputWarning)), odd.Select(r => (r.RawScore, r.IsAnomaly, r.InputWarning)));
    }

    [Fact]
    public void Sizes_that_cannot_be_in_a_model_file_are_refused_when_it_is_loaded()
    {
        var pipeline = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog);
        using var fitted = pipeline.Fit(Hazelnut.Train.Take(6).Select(t => t.Path).ToList());
        var modelPath = Path.Combine(TestData.TempFolder("unlike-images-edited"), "m.pfmodel");
        fitted.Save(modelPath);
        var manifest = JsonNode.Parse(ModelFileEntries.ReadText(modelPath, "manifest.json"))!;
        manifest["training"]!["imageSizes"]!["minWidth"] = 4000;
        ModelFileEntries.ReplaceText(modelPath, new Dictionary<string, string> { ["manifest.json"] = manifest.ToJsonString() });

        var error = Assert.Throws<PipelineException>(() => AnomalyModel.Load(modelPath, TestData.Catalog));
        Assert.Contains("training.imageSizes 4000-", error.Message);
    }

    [Fact]
    public void The_range_takes_every_fitted_size_and_tolerates_small_differences()
    {
        var sizes = GoodImageSizes.Of([(256, 632), (256, 658), (0, 0)])!;
        Assert.Equal(new GoodImageSizes(256, 256, 632, 658), sizes);
        Assert.Null(UnlikeImageWarning.Warning(sizes, null, 256, 645, null));
        Assert.Null(UnlikeImageWarning.Warning(sizes, null, 512, 1290, null));                 // the same framing at twice the resolution
        Assert.Null(UnlikeImageWarning.Warning(sizes, null, 256, 700, null));                  // within 15 % of the aspect range
        Assert.Contains("aspect ratio", UnlikeImageWarning.Warning(sizes, null, 256, 256, null));
        Assert.Contains("shorter side (100 px)", UnlikeImageWarning.Warning(sizes, null, 100, 250, null));
        Assert.Null(UnlikeImageWarning.Warning(sizes, null, 0, 0, null));                      // a preprocessed tensor: size unknown
        Assert.Null(GoodImageSizes.Of([]));
    }
}
