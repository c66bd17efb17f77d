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
/// The second part measures the second signal, the part's pixels against per-pixel statistics of good parts
/// (<see cref="GoodPixels"/>): the estimate models state (the larger of the map's and the pixels' count) and the variants
/// docs/explanation.md reports as negative results, on the same defects.
/// dotnet run --project bench/PipelineFramework.Bench -c Release -- size --data &lt;category&gt; [--synthetic 200]
///   [--levels 0.15,0.2,0.3,0.4,0.5,0.7] [--pipeline pipelines/patchcore-mobilenet.json] [--out size-calibration.json]
///   [--pixel-factor 2] [--spread-floor 0.00784]   (statistics other than the model's, for the sensitivity check)
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
        int pixelFactor = GoodPixels.DefaultFactor;
        float spreadFloor = GoodPixels.DefaultSpreadFloor;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--data": data = args[++i]; break;
                case "--pipeline": pipelinePath = args[++i]; break;
                case "--out": outPath = args[++i]; break;
                case "--synthetic": syntheticCount = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--levels": levels = args[++i].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--pixel-factor": pixelFactor = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--spread-floor": spreadFloor = float.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}; use --data <category> [--synthetic N] [--levels a,b] [--pipeline file] [--out file] [--pixel-factor N] [--spread-floor v]"); return 1;
            }
        }
        if (data is null) { Console.Error.WriteLine("size needs --data <category folder with train/good, test and ground_truth>"); return 1; }

        var catalog = ComponentCatalog.CreateDefault();
        pipelinePath ??= Path.Combine(RepoRoot(), "pipelines", "patchcore-mobilenet.json");
        var pipeline = AnomalyPipeline.FromFile(pipelinePath, catalog);
        var dataset = ImageDataset.LoadMvtec(data);
        AnomalyModel model;
        List<string> holdout, fitImages;
        using (var prepared = pipeline.Prepare(dataset.Train.Select(t => t.Path).ToList()))
        {
            holdout = prepared.HoldoutImages.ToList();
            fitImages = prepared.FitImages.ToList();
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
            var original = ImageLoader.LoadMask(d.MaskPath!);
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

        // The second signal: the model's own statistics, or ones fitted here with other settings (sensitivity).
        var pixels = model.GoodPixels ?? throw new InvalidOperationException("the fitted model has no per-pixel statistics");
        if (pixelFactor != pixels.Factor || spreadFloor != pixels.SpreadFloor)
        {
            var collector = new GoodPixels.Collector(fitImages.Count + holdout.Count, pixelFactor);
            Parallel.For(0, fitImages.Count + holdout.Count, i =>
                collector.Add(i, model.Preprocessing.Load(i < fitImages.Count ? fitImages[i] : holdout[i - fitImages.Count])));
            pixels = collector.Build(Enumerable.Range(0, fitImages.Count).ToList(), Enumerable.Range(fitImages.Count, holdout.Count).ToList(), spreadFloor: spreadFloor)!;
        }
        var syntheticPixels = samples.Select((s, i) => (s.Synthesizer + "/" + i, synthetic[i], s.Mask, 0, 0, s.Image)).ToList();
        var testPixels = testItems.Select((t, i) => (t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, model.Preprocessing.Load(defects[i].Path))).ToList();
        var pixelResults = PixelSizes(syntheticPixels, testPixels, model, goodLevel, atDefault, pixels, psf);

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
            ["pixels"] = pixelResults,
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

    /// <summary>One region's sizes in image pixels: the map's estimate, the pixels' (deviating less expected, deviating, deviating at twice the threshold, grown by hysteresis) and the bump's area.</summary>
    sealed record RegionSizes(double Map, double Excess, double Count, double CountAtTwice, double Grown, double Bump);

    /// <summary>
    /// The second signal against the masks: the product's estimate (<see cref="FittedStages.Regions"/> with the part's
    /// pixels: the larger of the map's and the pixels' count) and the variants docs/explanation.md reports, per side.
    /// </summary>
    static JsonObject PixelSizes(
        IReadOnlyList<(string Name, InspectionResult Result, Grid2D Mask, int OriginalHeight, int OriginalWidth, ImageTensor Image)> synthetic,
        IReadOnlyList<(string Name, InspectionResult Result, Grid2D Mask, int OriginalHeight, int OriginalWidth, ImageTensor Image)> test,
        AnomalyModel model, double goodLevel, DefectSize size, GoodPixels pixels, Grid2D psf)
    {
        // The point defect's bump: a defect's bump no larger than 1.5 times this is below the map's resolution.
        int psfPeak = Array.IndexOf(psf.Values, psf.Values.Max());
        var psfFollowed = new List<int>();
        size.Area(psf, 0, psfPeak % psf.Width, psfPeak / psf.Width, new PixelBox(psfPeak % psf.Width, psfPeak / psf.Width, 1, 1), new bool[psf.Values.Length], psfFollowed);
        double pointBump = psfFollowed.Count;

        var rules = new (string Name, string What, Func<RegionSizes, double, double> Rule)[]
        {
            ("map", "today's estimate: the map alone", (r, _) => r.Map),
            ("pixels_only", "the pixels' count (deviating less expected) wherever there is one, else the map", (r, _) => r.Excess > 0 ? r.Excess : r.Map),
            ("pixels_only_grown", "deviating pixels grown through half the threshold inside the bump, else the map", (r, _) => r.Grown > 0 ? r.Grown : r.Map),
            ("geometric_mean_grown", "geometric mean of the map and the grown pixels", (r, _) => r.Grown > 0 ? Math.Sqrt(r.Map * r.Grown) : r.Map),
            ("max_grown", "the larger of the map and the grown pixels", (r, _) => Math.Max(r.Map, r.Grown)),
            ("max_excess_and_stable_shrink", "the model's rule, and a stable pixel count below half the map's estimate of a bump no larger than 1.5 point bumps replaces it",
                (r, scale) => r.Count > 0 && r.CountAtTwice >= r.Count / 2 && r.Bump <= 1.5 * pointBump * scale && r.Count < r.Map / 2 ? r.Count : Math.Max(r.Map, r.Excess)),
        };
        var result = new JsonObject
        {
            ["factor"] = pixels.Factor, ["deviating"] = pixels.Deviating, ["spread_floor"] = pixels.SpreadFloor,
            ["fit_images"] = pixels.FitImages, ["holdout_images"] = pixels.HoldoutImages,
            ["mean_false_deviation_rate"] = Math.Round(pixels.MeanFalseRate, 5),
            ["point_bump_px"] = pointBump,
        };
        foreach (var (side, items) in new[] { ("synthetic", synthetic), ("test", test) })
        {
            var product = new List<(string Name, double Ratio, double MapRatio)>();
            var measured = new List<(string Name, double Mask, double Scale, List<RegionSizes> Regions)>();
            foreach (var (name, inspected, mask, height, width, image) in items)
            {
                int maskPixels = mask.Values.Count(v => v >= 0.5f);
                if (!inspected.IsAnomaly || inspected.Regions.Count == 0 || maskPixels == 0) continue;
                double scale = height <= 0 ? 1 : model.Preprocessing.PlacementFor(height, width).PixelArea;
                double maskArea = maskPixels * scale;
                var stated = FittedStages.Regions(inspected.RawMap, model.Threshold, goodLevel, model.Preprocessing, height, width, size, image, pixels);
                var mapOnly = FittedStages.Regions(inspected.RawMap, model.Threshold, goodLevel, model.Preprocessing, height, width, size);
                if (stated.Count == 0) continue;
                product.Add((name, stated.Sum(r => (double)r.CoreImageArea) / maskArea, mapOnly.Sum(r => (double)r.CoreImageArea) / maskArea));
                measured.Add((name, maskArea, scale, Measure(inspected.RawMap, image, mapOnly, goodLevel, size, pixels, scale)));
            }
            var sideResult = new JsonObject
            {
                ["model"] = Counts(product.Select(p => p.Ratio).ToList()),
                ["changed_from_map"] = new JsonArray(product.Where(p => Math.Abs(p.Ratio - p.MapRatio) > 1e-9 && (p.Ratio is >= 0.5 and <= 2) != (p.MapRatio is >= 0.5 and <= 2))
                    .Select(p => (JsonNode)$"{p.Name}: {p.MapRatio:0.00}x to {p.Ratio:0.00}x").ToArray()),
            };
            if (side == "test")
                sideResult["misses"] = new JsonArray(product.Where(p => p.Ratio is < 0.5 or > 2).Select(p => (JsonNode)$"{p.Name}: {p.Ratio:0.00}x").ToArray());
            var variants = new JsonObject();
            foreach (var (ruleName, what, rule) in rules)
            {
                var counts = Counts(measured.Select(m => m.Regions.Sum(r => rule(r, m.Scale)) / m.Mask).ToList());
                counts["what"] = what;
                static bool Within(double ratio) => ratio is >= 0.5 and <= 2;
                counts["changed_from_map"] = new JsonArray(measured
                    .Select(m => (m.Name, Map: m.Regions.Sum(r => r.Map) / m.Mask, Ratio: m.Regions.Sum(r => rule(r, m.Scale)) / m.Mask))
                    .Where(m => Within(m.Map) != Within(m.Ratio)).Select(m => (JsonNode)$"{m.Name}: {m.Map:0.00}x to {m.Ratio:0.00}x").ToArray());
                variants[ruleName] = counts;
            }
            sideResult["variants"] = variants;
            result[side] = sideResult;
        }
        return result;
    }

    /// <summary>Each region's sizes, the regions taken strongest first as <see cref="FittedStages.Regions"/> takes them.</summary>
    static List<RegionSizes> Measure(Grid2D map, ImageTensor image, IReadOnlyList<DefectRegion> regions, double goodLevel, DefectSize size, GoodPixels pixels, double scale)
    {
        var deviation = pixels.Deviation(image)!;
        var taken = new bool[map.Values.Length];
        var counted = new bool[deviation.Length];
        var claimed = new bool[deviation.Length];
        var sizes = new List<RegionSizes>();
        foreach (var region in regions)
        {
            var followed = new List<int>();
            double mapArea = size.Area(map, goodLevel, region.PeakX, region.PeakY, region.MapBox, taken, followed);
            double excess = pixels.ExcessArea(deviation, followed, map.Width, counted);
            // The same pixels without the expected false ones, at the threshold and at twice it, and grown through half of it.
            var inBump = new HashSet<int>();
            foreach (int i in followed)
            {
                int x = i % map.Width / pixels.Factor, y = i / map.Width / pixels.Factor;
                if (x < pixels.Width && y < pixels.Height && !claimed[y * pixels.Width + x]) inBump.Add(y * pixels.Width + x);
            }
            int count = inBump.Count(p => deviation[p] > pixels.Deviating), twice = inBump.Count(p => deviation[p] > 2 * pixels.Deviating);
            var stack = new Stack<int>(inBump.Where(p => deviation[p] > pixels.Deviating));
            foreach (int p in stack) claimed[p] = true;
            int grown = 0;
            while (stack.Count > 0)
            {
                int p = stack.Pop(), px = p % pixels.Width, py = p / pixels.Width;
                grown++;
                for (int y = Math.Max(0, py - 1); y <= Math.Min(pixels.Height - 1, py + 1); y++)
                for (int x = Math.Max(0, px - 1); x <= Math.Min(pixels.Width - 1, px + 1); x++)
                {
                    int q = y * pixels.Width + x;
                    if (!claimed[q] && inBump.Contains(q) && deviation[q] > pixels.Deviating / 2) { claimed[q] = true; stack.Push(q); }
                }
            }
            foreach (int p in inBump) claimed[p] = true;
            double unit = pixels.Factor * pixels.Factor * scale;
            sizes.Add(new RegionSizes(mapArea * scale, excess * scale, count * unit, twice * unit, grown * unit, followed.Count * scale));
        }
        return sizes;
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
        return dir?.FullName ?? throw new InvalidOperationException($"size: no --pipeline given, and no PipelineFramework.sln above {AppContext.BaseDirectory} to find pipelines/patchcore-mobilenet.json in; pass --pipeline <file>.");
    }
}
