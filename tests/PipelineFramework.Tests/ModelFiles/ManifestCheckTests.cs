using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.ModelFiles.ModelFileSurgery;

namespace PipelineFramework.Tests.ModelFiles;

public class ManifestCheckTests
{
    static string Manifest => Encoding.UTF8.GetString(Entry(Format1, "manifest.json"));

    static PipelineException LoadFails(string manifestText)
    {
        var path = Save(WithText(Format1, "manifest.json", manifestText), "edited.pfmodel");
        return Assert.Throws<PipelineException>(() => AnomalyModel.Load(path, TestData.Catalog));
    }

    static PipelineException LoadFails(Action<JsonObject> edit)
    {
        var manifest = JsonNode.Parse(Manifest)!.AsObject();
        edit(manifest);
        return LoadFails(manifest.ToJsonString());
    }

    [Fact]
    public void Manifest_cut_in_the_middle_or_not_json_names_the_file_and_the_entry()
    {
        foreach (var text in new[] { Manifest[..(Manifest.Length / 2)], "hello", "", "[1, 2]" })
        {
            var e = LoadFails(text);
            Assert.Contains("edited.pfmodel", e.Message);
            Assert.Contains("manifest.json", e.Message);
        }
    }

    [Theory]
    [InlineData("threshold")]
    [InlineData("normalization")]
    [InlineData("preprocessing")]
    [InlineData("components")]
    [InlineData("pipeline")]
    [InlineData("training")]
    public void Manifest_missing_or_null_required_field_names_it(string field)
    {
        Assert.Contains(field, LoadFails(m => m.Remove(field)).Message);
        Assert.Contains(field, LoadFails(m => m[field] = null).Message);
    }

    [Fact]
    public void Manifest_errors_say_what_the_JSON_lacks_without_naming_our_types()
    {
        // Before: "is malformed at $: JSON deserialization for type 'PipelineFramework.Core.ModelFiles.ModelManifest' was
        // missing required properties including: 'threshold'.." and "... could not be converted to
        // PipelineFramework.Core.ModelFiles.TrainingManifest." (what VA.LoadModel, pf score and the service printed for
        // an edited or damaged manifest).
        var missing = LoadFails(m => m.Remove("threshold")).Message;
        Assert.Contains("is malformed at $: lacks required properties: 'threshold'.", missing);
        var text = LoadFails(m => m["training"]!["holdoutImages"] = "six").Message;
        Assert.Contains("$.training.holdoutImages: is not the kind of value expected here", text);
        var objectText = LoadFails(m => m["threshold"] = "high").Message;
        Assert.Contains("$.threshold: is not the kind of value expected here", objectText);
        foreach (var message in new[] { missing, text, objectText })
        {
            Assert.DoesNotContain("PipelineFramework.Core", message);
            Assert.DoesNotContain("System.", message);
        }
    }

    [Fact]
    public void Manifest_with_null_nested_values_is_refused()
    {
        Assert.Contains("scoring", LoadFails(m => m["components"]!["scoring"] = null).Message);
        Assert.Contains("type", LoadFails(m => m["components"]!["scoring"]!["type"] = null).Message);
        var mean = LoadFails(m => m["preprocessing"]!["mean"] = null).Message;
        Assert.Contains("$.preprocessing.mean: null where a value is required", mean);
        Assert.DoesNotContain("nullability", mean);   // the reader's advice to the programmer, not to a user
        Assert.Contains("policy", LoadFails(m => m["threshold"]!["policy"] = null).Message);
    }

    [Fact]
    public void Manifest_numbers_that_would_give_wrong_verdicts_are_refused()
    {
        // A zero or negative scale makes every normalised score 0, 1 or NaN, or inverts the ranking.
        Assert.Contains("scale", LoadFails(m => m["normalization"]!["scale"] = 0.0).Message);
        Assert.Contains("scale", LoadFails(m => m["normalization"]!["scale"] = -1.0).Message);
        Assert.Contains("size", LoadFails(m => m["preprocessing"]!["size"] = 0).Message);
        Assert.Contains("std", LoadFails(m => m["preprocessing"]!["std"] = new JsonArray(0.2, 0.0, 0.2)).Message);
        Assert.Contains("mean", LoadFails(m => m["preprocessing"]!["mean"] = new JsonArray(0.5)).Message);
        // A threshold edited apart from the normalisation centre gave "score 0.001" beside "ANOMALY".
        Assert.Contains("differs from the threshold -1E+300", LoadFails(m => m["threshold"]!["value"] = -1e300).Message);
        var e = LoadFails(m => m["threshold"]!["value"] = "NaN");
        Assert.Contains("threshold", e.Message);
        Assert.Contains("fit the model again", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A model fitted now (format 2, every preprocessing field recorded): fit mode, grey, per-image intensity.</summary>
    static readonly Lazy<byte[]> Current = new(() =>
    {
        using var model = AnomalyPipeline.FromJson("""
            {
              "name": "tall-grey", "seed": 3,
              "input": { "resize": "fit", "width": 224, "height": 336, "colour": "grey", "intensity": "mean" },
              "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch", "feat_f10_s16_64ch"] },
              "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.25 }
            }
            """, TestData.Catalog).Fit(Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")).Order(StringComparer.Ordinal).Take(4).ToList());
        var path = Path.Combine(TestData.TempFolder("manifest-current"), "m.pfmodel");
        model.Save(path);
        return File.ReadAllBytes(path);
    });

    static string EditedPreprocessing(byte[] model, string field, JsonNode value)
    {
        var manifest = JsonNode.Parse(Entry(model, "manifest.json"))!.AsObject();
        Assert.NotNull(manifest["preprocessing"]![field]);   // the field is recorded: the edit changes it, not adds it
        manifest["preprocessing"]![field] = value;
        return Save(WithText(model, "manifest.json", manifest.ToJsonString()), "edited.pfmodel");
    }

    public static TheoryData<string, string, string> PreprocessingEdits => new()
    {
        { "size", "300", "preprocessing.size is 300, but the pipeline stored in the same file gives 256" },
        { "crop", "112", "preprocessing.crop is 112, but the pipeline stored in the same file gives 224" },
        { "mean", "[0.5, 0.5, 0.5]", "preprocessing.mean is [0.5, 0.5, 0.5], but the pipeline stored in the same file gives [0.485, 0.456, 0.406]" },
        { "std", "[1, 1, 1]", "preprocessing.std is [1, 1, 1], but" },
        { "resize", "\"nearest\"", "preprocessing.resize is nearest, but the pipeline stored in the same file gives antialiased-linear" },
        { "channelOrder", "\"BGR\"", "preprocessing.channelOrder is BGR, but" },
        { "mode", "\"square\"", "preprocessing.mode is square, but the pipeline stored in the same file gives fit" },
        { "width", "336", "preprocessing.width is 336, but the pipeline stored in the same file gives 224" },
        { "height", "224", "preprocessing.height is 224, but the pipeline stored in the same file gives 336" },
        { "colour", "\"rgb\"", "preprocessing.colour is rgb, but the pipeline stored in the same file gives grey" },
        { "intensity", "\"none\"", "preprocessing.intensity is none, but the pipeline stored in the same file gives mean" },
    };

    [Theory]
    [MemberData(nameof(PreprocessingEdits))]
    public void A_manifest_whose_preprocessing_disagrees_with_the_stored_pipeline_is_refused_naming_the_field(string field, string value, string expected)
    {
        // Before, the numbers were informational: an edited manifest said one thing and the model did another, and it loaded.
        var path = EditedPreprocessing(Current.Value, field, JsonNode.Parse(value)!);
        var e = Assert.Throws<PipelineException>(() => AnomalyModel.Load(path, TestData.Catalog));
        Assert.Contains("edited.pfmodel', entry 'manifest.json': " + expected, e.Message);
        Assert.Contains("fit the model again", e.Message);
    }

    [Fact]
    public void Models_as_written_load_and_pf_refuses_an_edited_one_in_one_line()
    {
        var current = Save(Current.Value, "current.pfmodel");
        using (var loaded = AnomalyModel.Load(current, TestData.Catalog)) Assert.Equal((336, 224), (loaded.MapHeight, loaded.MapWidth));
        // Format 1 recorded no width or height (0 when read): not compared, so files written before fit mode still load.
        Assert.Equal(0, JsonNode.Parse(Entry(Format1, "manifest.json"))!["preprocessing"]!["width"]?.GetValue<int>() ?? 0);
        using (AnomalyModel.Load(Format1Path, TestData.Catalog)) { }

        var edited = EditedPreprocessing(Current.Value, "crop", 112);
        var (code, output, err) = PfProcess.Run("score", "--model", edited, "--images", Path.Combine(TestData.Hazelnut, "test", "good"));
        Assert.Equal(1, code);
        Assert.Equal($"error: Model file '{edited}', entry 'manifest.json': preprocessing.crop is 112, but the pipeline stored in the same file gives 224 " +
            "(the model scores with the pipeline's; the two are written together, so one was edited). " +
            "The file is damaged: copy it again from where it was written, or fit the model again.", err.Trim());
        Assert.DoesNotContain("verdict", output);
    }
}
