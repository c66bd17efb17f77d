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
}
