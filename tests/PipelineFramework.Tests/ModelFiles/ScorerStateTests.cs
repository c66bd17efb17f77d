using System.Runtime.InteropServices;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;
using static PipelineFramework.Tests.ModelFiles.ModelFileSurgery;

namespace PipelineFramework.Tests.ModelFiles;

public class ScorerStateTests
{
    static readonly CategoryDataset Hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);

    static PipelineException LoadFails(byte[] model) =>
        Assert.Throws<PipelineException>(() => AnomalyModel.Load(Save(model), TestData.Catalog));

    [Fact]
    public void Format1_model_written_before_the_checks_still_loads_and_scores()
    {
        using var model = AnomalyModel.Load(Format1Path, TestData.Catalog);
        var results = model.Inspect(Hazelnut.Test.Take(2).Select(t => t.Path).ToList());
        Assert.All(results, r => Assert.True(double.IsFinite(r.RawScore) && r.RawScore > 0));
    }

    [Fact]
    public void Format1_model_loaded_and_saved_again_keeps_its_state_byte_for_byte_in_the_current_layout()
    {
        var path = Path.Combine(TestData.TempFolder("resave"), "again.pfmodel");
        using (var model = AnomalyModel.Load(Format1Path, TestData.Catalog)) model.Save(path);
        var again = File.ReadAllBytes(path);
        // Format 2 keeps the backbone under backbone/ (it was under features/); the state itself is unchanged.
        Assert.True(Entry(Format1, Backbone).AsSpan().SequenceEqual(Entry(again, "backbone/backbone.onnx")), Backbone);
        Assert.True(Entry(Format1, Bank).AsSpan().SequenceEqual(Entry(again, Bank)), Bank);
    }

    [Fact]
    public void Empty_patchcore_bank_is_refused_at_load()
    {
        var e = LoadFails(WithEntry(Format1, Bank, Npy("(0, 128)", ReadOnlySpan<float>.Empty)));
        Assert.Contains("memory_bank", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Patchcore_bank_of_the_wrong_rank_or_width_is_refused_at_load()
    {
        var values = MemoryMarshal.Cast<byte, float>(Entry(Format1, Bank).AsSpan(128)).ToArray();
        Assert.Contains("memory_bank", LoadFails(WithEntry(Format1, Bank, Npy($"({values.Length},)", values))).Message);
        Assert.Contains("memory_bank", LoadFails(WithEntry(Format1, Bank, Npy($"({values.Length}, 0)", ReadOnlySpan<float>.Empty))).Message);
    }

    static readonly Lazy<byte[]> PadimModel = new(() =>
    {
        var pipeline = AnomalyPipeline.FromJson("""
            { "name": "padim-small", "seed": 7, "input": { "size": 224, "crop": 224 },
              "features": { "type": "features.onnx", "layers": ["feat_f6_s8_32ch"] },
              "scoring": { "type": "scoring.padim", "reducedDim": 8 } }
            """, TestData.Catalog);
        using var fitted = pipeline.Fit(Hazelnut.Train.Take(3).Select(t => t.Path).ToList());
        var path = Path.Combine(TestData.TempFolder("padim"), "padim.pfmodel");
        fitted.Save(path);
        return File.ReadAllBytes(path);
    });

    static float[] Tensor(byte[] model, string entry, out byte[] npy)
    {
        npy = Entry(model, entry);
        int header = 10 + BitConverter.ToUInt16(npy, 8);
        return MemoryMarshal.Cast<byte, float>(npy.AsSpan(header)).ToArray();
    }

    [Fact]
    public void Padim_state_with_inconsistent_shapes_or_channels_is_refused_at_load()
    {
        var model = PadimModel.Value;
        using (AnomalyModel.Load(Save(model), TestData.Catalog)) { }
        var input = Tensor(model, "scoring/input_shape.npy", out _); // [height, width, inputDim]
        var channels = Tensor(model, "scoring/channels.npy", out _);
        Assert.Equal(8, channels.Length);

        // input_shape disagreeing with mean's grid.
        var e = LoadFails(WithEntry(model, "scoring/input_shape.npy", Npy("(3,)", [input[0] + 1, input[1], input[2]])));
        Assert.Contains("input_shape", e.Message);
        // A channel index outside the feature vector.
        var outside = (float[])channels.Clone();
        outside[^1] = input[2];
        Assert.Contains("channels", LoadFails(WithEntry(model, "scoring/channels.npy", Npy("(8,)", outside))).Message);
        var fraction = (float[])channels.Clone();
        fraction[0] += 0.5f;
        Assert.Contains("channels", LoadFails(WithEntry(model, "scoring/channels.npy", Npy("(8,)", fraction))).Message);
        // Inverse covariances for fewer positions than the mean has.
        var inverse = Tensor(model, "scoring/inverse_covariance.npy", out _);
        int positions = (int)(input[0] * input[1]);
        Assert.Contains("inverse_covariance", LoadFails(WithEntry(model, "scoring/inverse_covariance.npy",
            Npy($"({positions - 1}, 8, 8)", inverse.AsSpan(0, (positions - 1) * 64)))).Message);
    }
}
