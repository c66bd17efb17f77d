using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Engine;

/// <summary>
/// A fit too large for the memory is refused before any work, with the estimate, what is available and what to change;
/// the estimate follows the measured peaks; a prepared set holds decoded hold-out images only once a stage asks.
/// </summary>
public class FitMemoryTests
{
    static readonly AnomalyPipeline PatchCore = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog);

    static IReadOnlyList<LayerInfo> Layers(AnomalyPipeline pipeline)
    {
        using var backbone = pipeline.Backbone.Fit(pipeline.Spec.Geometry, new FitContext());
        return backbone.Layers;
    }

    [Fact]
    public void The_estimate_is_within_a_tenth_of_the_peaks_measured_on_bottle()
    {
        // /usr/bin/time -v pf fit --pipeline pipelines/patchcore-mobilenet.json on bottle's train/good (209 images)
        // and on it three times (flipped copies, 627 images), peak resident MiB: docs/reliability.md, "Fit memory".
        var layers = Layers(PatchCore);
        foreach (var (images, measuredMb) in new[] { (209, 627), (627, 1223) })
        {
            double estimatedMb = FitMemory.Estimate(PatchCore, layers, images).Total / (double)(1 << 20);
            Assert.InRange(estimatedMb / measuredMb, 0.9, 1.1);
        }
    }

    [Fact]
    public void A_set_too_large_for_the_memory_is_refused_with_the_estimate_what_is_available_and_how_many_images_would_fit()
    {
        var layers = Layers(PatchCore);
        long available = 2L << 30;
        var error = Assert.Throws<PipelineException>(() => FitMemory.Require(PatchCore, layers, 10_000, (available, "test")));
        Assert.Contains("Fitting 10,000 good images", error.Message);
        var estimate = FitMemory.Estimate(PatchCore, layers, 10_000);
        Assert.Contains($"needs at least {FitMemory.Format(estimate.LiveTotal)} of memory at its peak, about {FitMemory.Format(estimate.Total)} resident", error.Message);
        Assert.Contains("2.0 GiB is available (test)", error.Message);
        var fits = int.Parse(System.Text.RegularExpressions.Regex.Match(error.Message, @"at most about ([\d,]+)").Groups[1].Value.Replace(",", ""));
        Assert.True(FitMemory.Estimate(PatchCore, layers, fits).LiveTotal <= available);
        Assert.True(FitMemory.Estimate(PatchCore, layers, fits + 1).LiveTotal > available);
        // The same set where the memory suffices goes ahead.
        FitMemory.Require(PatchCore, layers, 10_000, (64L << 30, "test"));
    }

    [Fact]
    public void A_set_close_to_the_memory_available_is_fitted_with_a_warning()
    {
        var log = new RecordingLog();
        var pipeline = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog, HostServices.None with { Log = log });
        var layers = Layers(pipeline);
        long estimate = FitMemory.Estimate(pipeline, layers, 1_000).Total;
        FitMemory.Require(pipeline, layers, 1_000, (estimate * 2, "test"));
        Assert.Empty(log.Lines);
        FitMemory.Require(pipeline, layers, 1_000, ((long)(estimate * 1.1), "test"));
        Assert.Contains(log.Lines, l => l.StartsWith("warning: Fitting 1,000 images needs about") && l.Contains("close to the"));
        // Below the resident peak but above what must be live: the GC collects harder, so the fit goes ahead with the warning.
        var parts = FitMemory.Estimate(pipeline, layers, 1_000);
        FitMemory.Require(pipeline, layers, 1_000, ((parts.LiveTotal + parts.Total) / 2, "test"));
        Assert.Contains(log.Lines, l => l.Contains("more than the") && l.Contains($"at least {FitMemory.Format(parts.LiveTotal)} must be live"));
        Assert.Throws<PipelineException>(() => FitMemory.Require(pipeline, layers, 1_000, (parts.LiveTotal - 1, "test")));
    }

    [Fact]
    public void Embeddings_larger_than_one_array_can_hold_are_refused_even_with_memory_to_spare()
    {
        var layers = Layers(PatchCore);
        var error = Assert.Throws<PipelineException>(() => FitMemory.Require(PatchCore, layers, 20_000, (1L << 40, "test")));
        Assert.Contains("more than .NET can allocate", error.Message);
        Assert.Contains("at most about", error.Message);
    }

    [Fact]
    public void Decoded_hold_out_images_are_held_only_once_a_stage_asks_for_them()
    {
        var hazelnut = ImageDataset.LoadMvtec(TestData.Hazelnut);
        using var prepared = PatchCore.Prepare(hazelnut.Train.Take(10).Select(t => t.Path).ToList());
        long before = prepared.SizeInBytes;
        var holdout = prepared.Holdout;
        Assert.Equal(prepared.HoldoutImages.Count, holdout.Count);
        long decoded = holdout.Sum(h => (long)h.Image.Pixels.Length * sizeof(float) + (long)h.Whole!.Pixels.Length * sizeof(float));
        Assert.Equal(before + decoded, prepared.SizeInBytes);
        // A view on fewer fitting images shares them rather than decoding again.
        using var view = prepared.WithFitImages([0, 1]);
        Assert.Same(holdout, view.Holdout);
    }

    [Fact]
    public void Pf_fit_under_a_memory_limit_too_small_for_the_set_says_so_and_writes_no_model()
    {
        var folder = TestData.TempFolder("fit-memory-limit");
        var model = Path.Combine(folder, "m.pfmodel");
        // A real limit the .NET runtime enforces on its heap (as in a container), set where 14 of hazelnut's 28
        // training images fit by the estimate.
        long limit = FitMemory.Estimate(PatchCore, Layers(PatchCore), 14).LiveTotal;
        var (code, output, error) = PfProcess.Run(new Dictionary<string, string?> { ["DOTNET_GCHeapHardLimit"] = limit.ToString("x") },
            ["fit", "--pipeline", TestData.Pipeline("patchcore-mobilenet"), "--data", TestData.Hazelnut, "--model", model]);
        Assert.NotEqual(0, code);
        Assert.Contains("Fitting 28 good images with pipeline 'patchcore-mobilenet' would not fit", error);
        Assert.Contains($"{FitMemory.Format(limit)} is available", error);
        Assert.Contains("fit on at most about 14 of them", error);
        Assert.DoesNotContain("Exception", error + output);
        Assert.DoesNotContain("   at ", error);
        Assert.False(File.Exists(model));
        Assert.Empty(Directory.GetFiles(folder));
    }
}
