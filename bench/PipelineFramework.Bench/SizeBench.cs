using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Explain;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;

namespace PipelineFramework.Bench;

/// <summary>
/// Can a model learn its own defect-size response at fit time from synthetic defects? One fit of a category, then
/// synthetic defects made from its held-out good images (known masks, never a test image) and the category's test
/// defects, both sized by <see cref="DefectSize"/> at several levels and by a log-linear correction fitted on the synthetic
/// ones: how many estimates fall within a factor 2 of the mask on each side. A level or correction chosen on the synthetic
/// side is only worth storing in the model if it also wins on the test side (docs/explanation.md, "Size").
/// dotnet run --project bench/PipelineFramework.Bench -c Release -- size --data &lt;category&gt; [--synthetic 200]
///   [--levels 0.15,0.2,0.3,0.4,0.5,0.7] [--pipeline pipelines/patchcore-mobilenet.json] [--out size-calibration.json]
/// </summary>
static class SizeBench
{
    sealed record Sized(string Name, double MaskArea, IReadOnlyList<DefectRegion> Regions, double PeakContrast, double PixelScale)
    {
        public double Estimate => Regions.Sum(r => (double)r.CoreImageArea);
    }

    public static int Run(string[] args)
    {
        string? data = null, pipelinePath = null;
        string outPath = "size-calibration.json";
        int syntheticCount = 200;
        double[] levels = [0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--data": data = args[++i]; break;
                case "--pipeline": pipelinePath = args[++i]; break;
                case "--out": outPath = args[++i]; break;
                case "--synthetic": syntheticCount = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--levels": levels = args[++i].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray(); break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}; use --data <category> [--synthetic N] [--levels a,b] [--pipeline file] [--out file]"); return 1;
            }
        }
        if (data is null) { Console.Error.WriteLine("size needs --data <category folder with train/good, test and ground_truth>"); return 1; }

        var catalog = ComponentCatalog.CreateDefault();
        pipelinePath ??= Path.Combine(RepoRoot(), "pipelines", "patchcore-mobilenet.json");
        var pipeline = AnomalyPipeline.FromFile(pipelinePath, catalog);
        var dataset = ImageDataset.LoadMvtec(data);
        AnomalyModel model;
        List<string> holdout;
        using (var prepared = pipeline.Prepare(dataset.Train.Select(t => t.Path).ToList()))
        {
            holdout = prepared.HoldoutImages.ToList();
            model = pipeline.Fit(prepared);
        }
        using var _ = model;
        double goodLevel = model.Normalization.GoodMedian();

        // Synthetic defects from the held-out good images: preprocessed already, so their pixels are the map's.
        var samples = pipeline.Synthesize(holdout, syntheticCount);
        var synthetic = model.Inspect(samples.Select(s => s.Image).ToList(), samples.Select((s, i) => $"{s.Synthesizer}/{i}").ToList());
        var defects = dataset.Test.Where(t => t.Label == 1 && t.MaskPath is not null).ToList();
        var tested = model.Inspect(defects.Select(d => d.Path).ToList());
        var psf = model.PointSpread();

        JsonObject Side(IEnumerable<(string Name, InspectionResult Result, Grid2D Mask, int OriginalHeight, int OriginalWidth)> items, DefectSize size, bool listMisses)
        {
            var sized = Size(items, model, goodLevel, size);
            var ratios = sized.Select(s => s.Estimate / s.MaskArea).ToList();
            var result = Counts(ratios);
            if (listMisses)
                result["misses"] = new JsonArray(sized.Zip(ratios).Where(p => p.Second is < 0.5 or > 2)
                    .Select(p => (JsonNode)$"{p.First.Name}: {p.Second:0.00}x of {p.First.MaskArea:0} px").ToArray());
            return result;
        }

        var syntheticItems = samples.Select((s, i) => (s.Synthesizer + "/" + i, synthetic[i], s.Mask, 0, 0)).ToList();
        var testItems = defects.Select((d, i) =>
        {
            var original = ImageLoader.LoadGrey(d.MaskPath!);
            return ($"{d.DefectType}/{d.Name}", tested[i], model.Preprocessing.ApplyToMask(original), original.Height, original.Width);
        }).ToList();

        var byLevel = new JsonArray();
        foreach (var level in levels)
        {
            var size = new DefectSize(psf, level);
            byLevel.Add(new JsonObject
            {
                ["level"] = level, ["edge_spread_px"] = Math.Round(size.EdgeSpread, 2),
                ["synthetic"] = Side(syntheticItems, size, false), ["test"] = Side(testItems, size, true),
            });
        }

        // (b) log(mask area) = a + b log(estimate) + c log(peak contrast), areas in map pixels (synthetic defects have no
        // other), least absolute deviations on the synthetic defects at the default level, applied to the test defects.
        var atDefault = new DefectSize(psf);
        var syntheticSized = Size(syntheticItems, model, goodLevel, atDefault);
        var testSized = Size(testItems, model, goodLevel, atDefault);
        static double[] Features(Sized s) => [1, Math.Log(Math.Max(1, s.Estimate) / s.PixelScale), Math.Log(Math.Max(1e-3, s.PeakContrast))];
        var logLinear = new JsonObject();
        foreach (var terms in new[] { 2, 3 })   // a + b log(estimate), then + c log(peak contrast)
        {
            double[] Terms(Sized s) => Features(s)[..terms];
            var coefficients = LeastAbsoluteDeviations(syntheticSized.Select(Terms).ToList(), syntheticSized.Select(s => Math.Log(s.MaskArea / s.PixelScale)).ToList());
            List<double> Corrected(IEnumerable<Sized> sized) => sized.Select(s => Math.Exp(Terms(s).Zip(coefficients, (x, c) => x * c).Sum()) * s.PixelScale / s.MaskArea).ToList();
            logLinear[terms == 2 ? "area" : "area_and_contrast"] = new JsonObject
            {
                ["coefficients"] = new JsonArray(coefficients.Select(c => (JsonNode)Math.Round(c, 4)).ToArray()),
                ["synthetic"] = Counts(Corrected(syntheticSized)),
                ["test"] = Counts(Corrected(testSized)),
            };
        }

        var results = new JsonObject
        {
            ["data"] = data,
            ["pipeline"] = pipeline.Spec.Name,
            ["holdout_images"] = holdout.Count,
            ["synthetic_defects"] = samples.Count,
            ["note"] = "within_2x counts defects detected with regions whose summed CoreImageArea is within a factor 2 of the mask; synthetic = defects made from held-out good images (what a fit could learn from), test = the category's defects",
            ["by_level"] = byLevel,
            // What a fit would store: the level with most synthetic defects within 2x (ties: the smaller median error).
            ["level_chosen_on_synthetic"] = byLevel.OrderByDescending(l => (int)l!["synthetic"]!["within_2x"]!)
                .ThenBy(l => (double?)l!["synthetic"]!["median_abs_log_ratio"] ?? double.MaxValue).First()!["level"]!.DeepClone(),
            ["log_linear"] = logLinear,
        };
        var json = results.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteText(outPath, json);
        Console.WriteLine(json);
        Console.Error.WriteLine($"written to {Path.GetFullPath(outPath)}");
        return 0;
    }

    /// <summary>The detected defects with regions, their regions re-sized with <paramref name="size"/>; mask area in image pixels.</summary>
    static List<Sized> Size(IEnumerable<(string Name, InspectionResult Result, Grid2D Mask, int OriginalHeight, int OriginalWidth)> items,
        AnomalyModel model, double goodLevel, DefectSize size)
    {
        var sized = new List<Sized>();
        foreach (var (name, result, mask, height, width) in items)
        {
            int maskPixels = mask.Values.Count(v => v >= 0.5f);
            if (!result.IsAnomaly || result.Regions.Count == 0 || maskPixels == 0) continue;
            var regions = FittedStages.Regions(result.RawMap, model.Threshold, goodLevel, model.Preprocessing, height, width, size);
            if (regions.Count == 0) continue;
            double pixelScale = height <= 0 ? 1 : model.Preprocessing.PlacementFor(height, width).PixelArea;
            double peak = regions.Max(r => r.PeakScore);
            sized.Add(new Sized(name, maskPixels * pixelScale, regions, (peak - goodLevel) / (model.Threshold - goodLevel), pixelScale));
        }
        return sized;
    }

    static JsonObject Counts(IReadOnlyList<double> ratios)
    {
        var absLog = ratios.Select(r => Math.Abs(Math.Log(r))).Order().ToList();
        return new JsonObject
        {
            ["defects"] = ratios.Count,
            ["within_2x"] = ratios.Count(r => r is >= 0.5 and <= 2),
            ["median_ratio"] = ratios.Count == 0 ? null : Math.Round(ratios.Order().ElementAt(ratios.Count / 2), 3),
            ["median_abs_log_ratio"] = absLog.Count == 0 ? null : Math.Round(absLog[absLog.Count / 2], 3),
        };
    }

    /// <summary>Least absolute deviations by iteratively reweighted least squares (robust to the odd synthetic defect the map misses).</summary>
    static double[] LeastAbsoluteDeviations(IReadOnlyList<double[]> x, IReadOnlyList<double> y)
    {
        int k = x[0].Length;
        var weights = Enumerable.Repeat(1.0, x.Count).ToArray();
        var beta = new double[k];
        for (int iteration = 0; iteration < 50; iteration++)
        {
            var a = new double[k, k + 1];
            for (int i = 0; i < x.Count; i++)
            for (int r = 0; r < k; r++)
            {
                for (int c = 0; c < k; c++) a[r, c] += weights[i] * x[i][r] * x[i][c];
                a[r, k] += weights[i] * x[i][r] * y[i];
            }
            for (int r = 0; r < k; r++) a[r, r] += 1e-9;
            beta = Solve(a, k);
            for (int i = 0; i < x.Count; i++)
                weights[i] = 1 / Math.Max(1e-3, Math.Abs(y[i] - x[i].Zip(beta, (v, b) => v * b).Sum()));
        }
        return beta;
    }

    /// <summary>Gauss-Jordan with partial pivoting on the augmented k × (k + 1) system.</summary>
    static double[] Solve(double[,] a, int k)
    {
        for (int c = 0; c < k; c++)
        {
            int pivot = Enumerable.Range(c, k - c).MaxBy(r => Math.Abs(a[r, c]));
            for (int j = 0; j <= k; j++) (a[c, j], a[pivot, j]) = (a[pivot, j], a[c, j]);
            for (int r = 0; r < k; r++)
            {
                if (r == c) continue;
                double f = a[r, c] / a[c, c];
                for (int j = 0; j <= k; j++) a[r, j] -= f * a[c, j];
            }
        }
        return Enumerable.Range(0, k).Select(r => a[r, k] / a[r, r]).ToArray();
    }

    static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PipelineFramework.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("run from inside the repository, or pass --pipeline");
    }
}
