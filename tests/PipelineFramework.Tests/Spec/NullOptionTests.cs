using PipelineFramework.Abstractions;
using PipelineFramework.Core.Spec;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Spec;

/// <summary>
/// A JSON null where an option cannot be null (a list, a string, a number, an item of such a list) is refused when the
/// pipeline is read, with its path and what to write; before, it reached the component's Validate() and ended in a
/// NullReferenceException (exit 2).
/// </summary>
public class NullOptionTests
{
    const string Backbone = """ "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] } """;
    const string Embedding = """ "embedding": { "type": "embedding.patch" } """;
    const string Scoring = """ "scoring": { "type": "scoring.patchcore" } """;

    static PipelineException Fails(string json) =>
        Assert.Throws<PipelineException>(() => PipelineSpecParser.Parse(json, "p.json", TestData.Catalog));

    [Theory]
    [InlineData($$"""{ "name": "x", "backbone": { "type": "backbone.onnx", "layers": null }, {{Embedding}}, {{Scoring}} }""", "$.backbone.layers: null is not allowed; give a list of strings or leave the key out for the default")]
    [InlineData($$"""{ "name": "x", "backbone": { "type": "backbone.onnx", "layers": [null] }, {{Embedding}}, {{Scoring}} }""", "$.backbone.layers[0]: null is not allowed in this list; give a string")]
    [InlineData($$"""{ "name": "x", {{Backbone}}, "embedding": { "type": "embedding.patch", "layers": null }, {{Scoring}} }""", "$.embedding.layers: null is not allowed")]
    [InlineData($$"""{ "name": "x", {{Backbone}}, "embedding": { "type": "embedding.patch", "layers": ["feat_f6_s8_32ch", null] }, {{Scoring}} }""", "$.embedding.layers[1]: null is not allowed in this list; give a string")]
    [InlineData($$"""{ "name": "x", "input": { "mean": null }, {{Backbone}}, {{Embedding}}, {{Scoring}} }""", "$.input.mean: null is not allowed; give a list of numbers")]
    [InlineData($$"""{ "name": "x", "logic": [ { "type": "logic.components", "description": null } ], {{Backbone}}, {{Embedding}}, {{Scoring}} }""", "$.logic[0].description: null is not allowed; give a string")]
    [InlineData($$"""{ "name": "x", "logic": [ { "type": "logic.components", "llmModel": null } ], {{Backbone}}, {{Embedding}}, {{Scoring}} }""", "$.logic[0].llmModel: null is not allowed; give a string")]
    [InlineData($$"""{ "name": "x", {{Backbone}}, {{Embedding}}, "scoring": { "type": "scoring.patchcore", "coresetRatio": null } }""", "$.scoring.coresetRatio: null is not allowed; give a number")]
    public void A_null_where_the_option_cannot_be_null_is_refused_with_its_path(string json, string expected)
    {
        var e = Fails(json);
        Assert.Contains($"p.json: {expected}", e.Message);
    }

    [Fact]
    public void A_null_for_an_option_that_may_be_unset_still_means_the_default()
    {
        var spec = PipelineSpecParser.Parse($$"""
            { "name": "x", "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"], "input": null }, {{Embedding}}, {{Scoring}},
              "synthesis": [ { "type": "synthesis.perlin", "textureFolder": null } ], "input": { "width": null } }
            """, "p.json", TestData.Catalog);
        Assert.Single(spec.Synthesis);
    }

    [Fact]
    public void A_component_type_that_is_not_a_string_says_so_rather_than_missing()
    {
        var e = Fails($$"""{ "name": "x", {{Backbone}}, {{Embedding}}, "scoring": { "type": 5 } }""");
        Assert.Contains("$.scoring.type: must be a string naming the component", e.Message);
    }
}
