using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Tests.Support;
using Xunit;

namespace PipelineFramework.Tests.Images;

/// <summary>
/// The "fit" input mode (aspect ratio kept, padded, nothing cut), grey input, and the backbone's tiling of inputs larger
/// than its fixed graph size: what long parts such as KolektorSDD's commutators need.
/// </summary>
public class InputModeTests
{
    [Fact]
    public void Fit_keeps_the_aspect_ratio_pads_images_with_edges_and_masks_with_zeros()
    {
        // 2 high, 4 wide, a column ramp; fitted into 4 x 4 it keeps its size and sits in rows 1..2.
        var pixels = new float[3 * 2 * 4];
        for (int c = 0; c < 3; c++) for (int y = 0; y < 2; y++) for (int x = 0; x < 4; x++) pixels[(c * 2 + y) * 4 + x] = x / 4f + c;
        var fit = Preprocessing.Fit(4, 4);
        var result = fit.Apply(new ImageTensor(3, 2, 4, pixels));
        Assert.Equal((3, 4, 4), (result.Channels, result.Height, result.Width));
        for (int y = 0; y < 4; y++) Assert.Equal([0f, 0.25f, 0.5f, 0.75f], result.Pixels.AsSpan(y * 4, 4).ToArray());

        var mask = fit.ApplyToMask(new Grid2D(2, 4, Enumerable.Repeat(1f, 8).ToArray()));
        Assert.Equal([0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f, 0f, 0f, 0f, 0f], mask.Values);
    }

    [Fact]
    public void Boxes_map_back_to_the_original_image_in_both_modes()
    {
        // A 100 x 200 (h x w) image fitted into 200 x 200 is scaled by 1 and sits 50 rows down.
        var fit = Preprocessing.Fit(200, 200);
        Assert.Equal(new PixelBox(20, 0, 40, 30), fit.ToOriginal(new PixelBox(20, 50, 40, 30), 100, 200));
        Assert.Equal(1.0, fit.PlacementFor(100, 200).PixelArea, 9);
        // A box in the padding clips to the image's edge rather than leaving it.
        var padding = fit.ToOriginal(new PixelBox(0, 180, 10, 10), 100, 200);
        Assert.True(padding.Y + padding.Height <= 100);

        // Square: 512 x 512 resized to 256 and cropped to 224 (offset 16): one map pixel is 2 x 2 original pixels.
        var square = new Preprocessing(256, 224);
        Assert.Equal(new PixelBox(32, 32, 20, 20), square.ToOriginal(new PixelBox(0, 0, 10, 10), 512, 512));
        Assert.Equal(4.0, square.PlacementFor(512, 512).PixelArea, 9);
    }

    [Fact]
    public void Grey_input_is_one_luma_channel_repeated()
    {
        var image = new ImageTensor(3, 1, 1, [1f, 0f, 0f]);
        var grey = (new Preprocessing(1, 1) with { Colour = ColourMode.Grey }).Apply(image);
        Assert.Equal([0.299f, 0.299f, 0.299f], grey.Pixels);
    }

    [Theory]
    [InlineData("""{ "resize": "fit", "width": 224 }""", "$.input.height")]
    [InlineData("""{ "width": 224, "height": 448 }""", "only used with \"resize\": \"fit\"")]
    [InlineData("""{ "resize": "stretch" }""", "$.input.resize")]
    public void Input_mistakes_are_named(string input, string expected)
    {
        var e = Assert.Throws<PipelineException>(() => AnomalyPipeline.FromJson($$"""
            { "name": "x", "input": {{input}}, "backbone": { "type": "backbone.onnx" }, "scoring": { "type": "scoring.patchcore" } }
            """, TestData.Catalog));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_fixed_size_backbone_runs_a_taller_input_as_tiles_whose_maps_are_stitched_exactly()
    {
        var top = Load("train/good/00.jpg");
        var bottom = Load("train/good/01.jpg");
        var tall = new float[3 * 448 * 224];
        for (int c = 0; c < 3; c++)
        {
            top.Plane(c).CopyTo(tall.AsSpan(c * 448 * 224, 224 * 224));
            bottom.Plane(c).CopyTo(tall.AsSpan(c * 448 * 224 + 224 * 224, 224 * 224));
        }
        using var tiled = Backbone(448, 224);
        using var single = Backbone(224, 224);
        Assert.Equal([56, 28, 28], tiled.Layers.Select(l => l.Height));
        Assert.All(tiled.Layers, l => Assert.Equal(l.Height / 2, l.Width));

        var stitched = tiled.Run([new ImageTensor(3, 448, 224, tall)]);
        var alone = single.Run([top, bottom]);
        for (int l = 0; l < alone.Layers.Count; l++)
        {
            var layer = alone.Layers[l];
            int plane = layer.Height * layer.Width;
            for (int c = 0; c < layer.Channels; c++)
            {
                var planeOfTall = stitched.Image(l, 0).Slice(c * 2 * plane, 2 * plane);
                Assert.Equal(alone.Image(l, 0).Slice(c * plane, plane).ToArray(), planeOfTall[..plane].ToArray());
                Assert.Equal(alone.Image(l, 1).Slice(c * plane, plane).ToArray(), planeOfTall[plane..].ToArray());
            }
        }
    }

    [Theory]
    [InlineData(200, 224, "a smaller one is not enlarged")]
    [InlineData(450, 224, "use 448 high and 224 wide")]
    public void Inputs_that_cannot_be_tiled_are_refused_with_what_to_set(int height, int width, string expected)
    {
        var e = Assert.Throws<PipelineException>(() => Backbone(height, width));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_fit_mode_pipeline_scores_non_square_maps_and_reports_regions_inside_the_image()
    {
        var pipeline = AnomalyPipeline.FromJson("""
            {
              "name": "tall", "seed": 3,
              "input": { "resize": "fit", "width": 224, "height": 336 },
              "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
              "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.25 }
            }
            """, TestData.Catalog);
        var train = Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order(StringComparer.Ordinal).Take(6).ToList();
        using var model = pipeline.Fit(train);
        Assert.Equal((336, 224), (model.MapHeight, model.MapWidth));
        var defect = Path.Combine(TestData.Hazelnut, "test", "colour", "00.jpg");
        var (width, height) = ImageLoader.ReadSize(defect);
        var result = model.Inspect([defect])[0];
        Assert.Equal((336, 224), (result.RawMap.Height, result.RawMap.Width));
        Assert.NotEmpty(result.Regions);
        Assert.All(result.Regions, r =>
        {
            Assert.InRange(r.ImageBox.X, 0, width - 1);
            Assert.InRange(r.ImageBox.Y, 0, height - 1);
            Assert.True(r.ImageBox.X + r.ImageBox.Width <= width && r.ImageBox.Y + r.ImageBox.Height <= height);
        });
    }

    [Fact]
    public void Decoded_pixels_are_prepared_as_a_file_is_whole_image_included()
    {
        // An ML.NET MLImage column hands over decoded pixels; logic checks must still see the whole image, as from a path.
        var path = Path.Combine(TestData.Hazelnut, "test", "colour", "00.jpg");
        var preprocessing = new Preprocessing(256, 224);
        var fromFile = ImageSource.FromFile(path).Load(preprocessing);
        var fromPixels = ImageSource.FromPixels("frame", ImageLoader.LoadRgb(path)).Load(preprocessing);
        Assert.Equal(fromFile.Image.Pixels, fromPixels.Image.Pixels);
        Assert.NotNull(fromPixels.Whole);
        Assert.Equal(fromFile.Whole!.Pixels, fromPixels.Whole!.Pixels);
        Assert.Equal((fromFile.OriginalHeight, fromFile.OriginalWidth), (fromPixels.OriginalHeight, fromPixels.OriginalWidth));
    }

    static ImageTensor Load(string relative) => new Preprocessing(224, 224).Load(Path.Combine(TestData.Hazelnut, relative));

    static IFittedBackbone Backbone(int height, int width)
    {
        var backbone = (IBackbone)TestData.Catalog.Create(TestData.Catalog.Find("backbone.onnx"), new JsonObject(), "$.backbone");
        var input = new Core.Spec.InputSpec();
        return backbone.Fit(new InputGeometry { Channels = 3, Height = height, Width = width, Mean = input.Mean, Std = input.Std }, new FitContext { Seed = 1 });
    }
}
