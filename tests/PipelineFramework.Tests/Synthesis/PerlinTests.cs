using PipelineFramework.Abstractions;
using PipelineFramework.Synthesis.Perlin;

namespace PipelineFramework.Tests.Synthesis;

public class PerlinTests
{
    private static readonly ImageTensor Good = TestImages.Part();
    private static readonly PerlinSynthesizer Default = new(new PerlinOptions());

    [Fact]
    public void Mask_is_never_empty_and_is_exactly_the_changed_pixels()
    {
        var input = Good.Clone();
        for (int seed = 0; seed < 50; seed++)
        {
            var result = Default.Synthesize(input, TestImages.Source(input), seed);
            Assert.Equal(Good.Pixels, input.Pixels);
            Assert.True(SynthesisAssert.Count(result.Mask) > 0, $"Empty mask for seed {seed}.");
            SynthesisAssert.MaskIsBinary(result.Mask);
            SynthesisAssert.MaskIsExactlyChanged(input, result);
            SynthesisAssert.ValuesInUnitRange(result.Image);
        }
    }

    [Fact]
    public void Blend_follows_the_DRAEM_formula_without_augmentation()
    {
        // With an opaque texture (beta ~ 0) and no augmentation, masked pixels take the other image's values.
        var other = TestImages.Other();
        var synth = new PerlinSynthesizer(new PerlinOptions { AugmentTexture = false, BetaMin = 0, BetaMax = 1e-9 });
        var result = synth.Synthesize(Good, new SynthesisSource([Good, other]), 3);
        int plane = Good.Height * Good.Width;
        for (int i = 0; i < plane; i++)
            if (result.Mask.Values[i] > 0)
                for (int c = 0; c < 3; c++) Assert.Equal(other.Pixels[c * plane + i], result.Image.Pixels[c * plane + i], 1e-6f);
    }

    [Fact]
    public void Works_when_the_source_holds_only_the_image_itself()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            var result = Default.Synthesize(Good, new SynthesisSource([Good]), seed);
            Assert.True(SynthesisAssert.Count(result.Mask) > 0);
            SynthesisAssert.MaskIsExactlyChanged(Good, result);
        }
    }

    [Fact]
    public void Missing_texture_folder_names_the_folder_and_the_option()
    {
        string folder = Path.Combine(Path.GetTempPath(), "pf-no-such-textures-" + Guid.NewGuid().ToString("N"));
        var synth = new PerlinSynthesizer(new PerlinOptions { TextureFolder = folder });
        var source = new SynthesisSource([Good]) { LoadImage = _ => Good };
        var ex = Assert.Throws<PipelineException>(() => synth.Synthesize(Good, source, 1));
        Assert.Contains(folder, ex.Message);
        Assert.Contains("textureFolder", ex.Message);
    }

    [Fact]
    public void Texture_folder_images_are_loaded_through_the_host()
    {
        string folder = Path.Combine(Path.GetTempPath(), "pf-textures-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (string name in new[] { "b.png", "a.JPG", "c.txt", "d.bmp" }) File.WriteAllText(Path.Combine(folder, name), "");
            var requested = new List<string>();
            var small = TestImages.Other(32); // a different size: resampled to the image's geometry
            var source = new SynthesisSource([Good]) { LoadImage = p => { lock (requested) requested.Add(Path.GetFileName(p)); return small; } };
            var synth = new PerlinSynthesizer(new PerlinOptions { TextureFolder = folder });
            for (int seed = 0; seed < 20; seed++)
            {
                var result = synth.Synthesize(Good, source, seed);
                SynthesisAssert.MaskIsExactlyChanged(Good, result);
                SynthesisAssert.ValuesInUnitRange(result.Image);
            }
            Assert.NotEmpty(requested);
            Assert.All(requested, name => Assert.Contains(name, new[] { "a.JPG", "b.png", "d.bmp" }));

            var noLoader = Assert.Throws<PipelineException>(() => synth.Synthesize(Good, new SynthesisSource([Good]), 1));
            Assert.Contains("textureFolder", noLoader.Message);
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void Validate_rejects_bad_options_by_name()
    {
        var errors = new PerlinOptions { MinScaleExponent = 4, MaxScaleExponent = 2, BetaMin = 0.9, BetaMax = 0.5, TextureFolder = " " }.Validate().ToList();
        Assert.Contains(errors, e => e.Option == "minScaleExponent");
        Assert.Contains(errors, e => e.Option == "betaMin");
        Assert.Contains(errors, e => e.Option == "textureFolder");
        Assert.Empty(new PerlinOptions().Validate());
    }
}

/// <summary>
/// A bad textureFolder is refused when the pipeline is read, before any work, as one error naming the JSON path; before,
/// it was found inside a parallel loop after the backbone pass (exit 2, an AggregateException with one copy per worker),
/// and a fit that drew no anomaly accepted it silently.
/// </summary>
public class PerlinTextureFolderValidationTests
{
    static PipelineException Fails(string folder) => Assert.Throws<PipelineException>(() => PipelineFramework.Core.Spec.PipelineSpecParser.Parse(
        """{ "name": "x", "backbone": { "type": "backbone.onnx" }, "embedding": { "type": "embedding.patch" }, "scoring": { "type": "scoring.patchcore" }, """ +
        $$""" "synthesis": [ { "type": "synthesis.perlin", "textureFolder": {{System.Text.Json.JsonSerializer.Serialize(folder)}} } ] }""",
        "p.json", PipelineFramework.Tests.Support.TestData.Catalog));

    [Fact]
    public void A_missing_folder_a_file_or_a_folder_without_images_is_refused_when_the_pipeline_is_read()
    {
        var root = PipelineFramework.Tests.Support.TestData.TempFolder("perlin-textures");
        var missing = Path.Combine(root, "none");
        var file = Path.Combine(root, "a.txt");
        File.WriteAllText(file, "x");
        var empty = Path.Combine(root, "empty");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "no images");

        Assert.Contains("p.json: $.synthesis[0].textureFolder: the folder", Fails(missing).Message);
        Assert.Contains("does not exist", Fails(missing).Message);
        Assert.Contains("p.json: $.synthesis[0].textureFolder: '" + file + "' is a file", Fails(file).Message);
        Assert.Contains("holds no *.png, *.jpg, *.jpeg or *.bmp files", Fails(empty).Message);
    }
}
