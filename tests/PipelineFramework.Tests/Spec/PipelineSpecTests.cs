using PipelineFramework.Abstractions;
using PipelineFramework.Core.Spec;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Spec;

public class PipelineSpecTests
{
    const string Valid = """
        {
          "name": "t",
          "features": { "type": "features.onnx", "patchSize": 3 },
          "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.05 }
        }
        """;

    static PipelineException Fails(string json) =>
        Assert.Throws<PipelineException>(() => PipelineSpecParser.Parse(json, "p.json", TestData.Catalog));

    [Fact]
    public void Valid_spec_gets_defaults_filled_in()
    {
        var spec = PipelineSpecParser.Parse(Valid, "p.json", TestData.Catalog);
        Assert.Equal("t", spec.Name);
        Assert.Equal(224, spec.Input.Crop);
        Assert.Equal(256, spec.Input.Size);
        Assert.Equal("threshold.quantile", spec.Threshold.Type);
        Assert.Equal(0.05, spec.Scoring.Options["coresetRatio"]!.GetValue<double>());
        // Defaults of unset options are written out, so the model file records every setting.
        Assert.Equal(128, spec.Scoring.Options["projectionDim"]!.GetValue<int>());
        Assert.Equal("builtin:mobilenetv2-int8", spec.Backbone.Options["model"]!.GetValue<string>());
    }

    [Fact]
    public void Unknown_component_type_lists_the_known_ones()
    {
        var e = Fails(Valid.Replace("scoring.patchcore", "scoring.patchkore"));
        Assert.Contains("p.json", e.Message);
        Assert.Contains("$.scoring.type", e.Message);
        Assert.Contains("scoring.patchkore", e.Message);
        Assert.Contains("scoring.patchcore", e.Message);
        Assert.Contains("scoring.padim", e.Message);
    }

    [Fact]
    public void Unknown_option_names_its_json_path_and_suggests_the_right_name()
    {
        var e = Fails(Valid.Replace("\"coresetRatio\"", "\"coresetratio\""));
        Assert.Contains("$.scoring.coresetratio", e.Message);
        Assert.Contains("coresetRatio", e.Message);
    }

    [Fact]
    public void Mistyped_option_names_its_json_path()
    {
        var e = Fails(Valid.Replace("0.05", "\"a lot\""));
        Assert.Contains("$.scoring.coresetRatio", e.Message);
    }

    [Fact]
    public void Option_validation_names_the_option()
    {
        var e = Fails(Valid.Replace("\"patchSize\": 3", "\"patchSize\": 4"));
        Assert.Contains("$.features.patchSize", e.Message);
        Assert.Contains("odd", e.Message);
    }

    [Fact]
    public void Component_of_the_wrong_kind_is_refused()
    {
        var e = Fails(Valid.Replace("\"type\": \"scoring.patchcore\", \"coresetRatio\": 0.05", "\"type\": \"threshold.fixed\""));
        Assert.Contains("$.scoring", e.Message);
        Assert.Contains("threshold.fixed", e.Message);
    }

    [Fact]
    public void Unknown_section_and_malformed_json_are_reported()
    {
        Assert.Contains("$.scorer: unknown section", Fails(Valid.Replace("\"scoring\"", "\"scorer\"")).Message);
        var e = Fails("{ \"name\": \"t\", \"features\": { \"type\": ");
        Assert.Contains("malformed JSON at line 1", e.Message);
        Assert.Contains("$.backbone: missing", Fails("""{ "name": "t", "scoring": { "type": "scoring.padim" } }""").Message);
        Assert.Contains("$.input.crop", Fails(Valid.Replace("\"name\": \"t\",", "\"name\": \"t\", \"input\": { \"size\": 200, \"crop\": 224 },")).Message);
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        var e = Assert.Throws<PipelineException>(() => PipelineSpecParser.ParseFile("/nowhere/p.json", TestData.Catalog));
        Assert.Contains("/nowhere/p.json", e.Message);
    }

    [Fact]
    public void Shipped_pipelines_are_valid_and_round_trip_through_json()
    {
        // AutoML search files (automl-*.json) live beside the pipelines; SearchSpaceTests checks them.
        foreach (var file in TestData.ShippedPipelineFiles)
        {
            var spec = PipelineSpecParser.ParseFile(file, TestData.Catalog);
            var again = PipelineSpecParser.Parse(spec.ToJson().ToJsonString(), "round trip", TestData.Catalog);
            Assert.Equal(spec.ToJson().ToJsonString(), again.ToJson().ToJsonString());
        }
    }
}
