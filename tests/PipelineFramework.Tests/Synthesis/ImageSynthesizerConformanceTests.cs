using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Synthesis;

/// <summary>
/// What every image synthesiser in the catalog must do, whoever wrote it: the same seed gives the same defect, other
/// seeds give other defects, and every defect has a mask. A plugin added later is checked with no new test.
/// </summary>
public class ImageSynthesizerConformanceTests
{
    static readonly ImageTensor Good = TestImages.Part();

    /// <summary>Each installed image synthesiser with its defaults, plus CutPaste's other modes.</summary>
    public static TheoryData<string, string> Synthesizers()
    {
        var data = new TheoryData<string, string>();
        foreach (var d in TestData.Catalog.Components.Where(d => typeof(IImageSynthesizer).IsAssignableFrom(d.ImplementationType)))
            data.Add(d.TypeName, "{}");
        data.Add("synthesis.cutpaste", """{ "mode": "rectangle" }""");
        data.Add("synthesis.cutpaste", """{ "mode": "scar" }""");
        return data;
    }

    static IImageSynthesizer Create(string type, string options) =>
        (IImageSynthesizer)TestData.Catalog.Create(TestData.Catalog.Find(type), JsonNode.Parse(options)!.AsObject(), "$.synthesis");

    [Fact]
    public void The_suite_covers_the_shipped_synthesisers()
    {
        var covered = Synthesizers().Select(row => (string)row[0]).ToHashSet();
        Assert.Superset(covered, new HashSet<string> { "synthesis.cutpaste", "synthesis.perlin", "synthesis.poisson" });
    }

    [Theory]
    [MemberData(nameof(Synthesizers))]
    public void Same_seed_gives_identical_image_and_mask(string type, string options)
    {
        var synth = Create(type, options);
        var a = synth.Synthesize(Good, TestImages.Source(Good), 42);
        var b = synth.Synthesize(Good, TestImages.Source(Good), 42);
        Assert.Equal(a.Image.Pixels, b.Image.Pixels);
        Assert.Equal(a.Mask.Values, b.Mask.Values);
    }

    [Theory]
    [MemberData(nameof(Synthesizers))]
    public void Different_seeds_give_different_non_empty_masks(string type, string options)
    {
        var synth = Create(type, options);
        var masks = Enumerable.Range(0, 10).Select(s => synth.Synthesize(Good, TestImages.Source(Good), s).Mask.Values).ToList();
        Assert.All(masks, m => Assert.Contains(m, v => v > 0));
        for (int i = 0; i < masks.Count; i++)
            for (int j = i + 1; j < masks.Count; j++)
                Assert.False(masks[i].AsSpan().SequenceEqual(masks[j]), $"{type} {options}: seeds {i} and {j} gave the same mask.");
    }
}
