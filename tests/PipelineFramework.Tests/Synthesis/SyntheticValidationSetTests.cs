using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Synthesis;

public class SyntheticValidationSetTests
{
    const string Pipeline = """
        {
          "name": "synth", "seed": 5,
          "synthesis": [ { "type": "synthesis.cutpaste" }, { "type": "synthesis.perlin" }, { "type": "synthesis.poisson" } ],
          "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" }
        }
        """;

    [Fact]
    public void Built_from_good_images_deterministically_cycling_through_the_synthesisers()
    {
        var pipeline = AnomalyPipeline.FromJson(Pipeline, TestData.Catalog);
        var good = ImageDataset.LoadMvtec(TestData.Hazelnut).Train.Take(4).Select(t => t.Path).ToList();
        var first = pipeline.Synthesize(good, 6);
        var again = pipeline.Synthesize(good, 6);
        Assert.Equal(["synthesis.cutpaste", "synthesis.perlin", "synthesis.poisson", "synthesis.cutpaste", "synthesis.perlin", "synthesis.poisson"],
            first.Select(s => s.Synthesizer));
        for (int i = 0; i < first.Count; i++)
        {
            Assert.Equal(first[i].Image.Pixels, again[i].Image.Pixels);
            Assert.Equal(first[i].Mask.Values, again[i].Mask.Values);
            Assert.Contains(first[i].Mask.Values, v => v > 0);
            Assert.Contains(first[i].SourceImage, good);
            Assert.Equal((224, 224), (first[i].Mask.Height, first[i].Mask.Width));
        }
    }
}
