using System.Diagnostics;
using System.Text.Json.Nodes;
using PipelineFramework.Compute;

namespace PipelineFramework.Bench;

/// <summary>
/// How PatchCore's coreset time grows with the number of fitting images, at the default pipeline's shapes (28 x 28
/// patches of 192 dimensions an image, 10 % kept, 128-d projection), every size in one run so that all see the same
/// machine load. CPU seconds of the process as well as wall seconds: on a shared machine the first is the steadier.
/// dotnet run --project bench/PipelineFramework.Bench -c Release -- coreset [--images 167,502]
/// </summary>
static class CoresetScalingBench
{
    public static int Run(string[] args)
    {
        int[] sizes = [167, 502];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--images": sizes = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}; use coreset [--images 167,502]"); return 1;
            }
        }
        const int positions = 28 * 28, dim = 192;
        foreach (int images in sizes)
        {
            int count = images * positions, keep = (int)Math.Round(0.1 * count);
            var data = new float[(long)count * dim];
            var random = new Random(images);
            for (long v = 0; v < data.LongLength; v++) data[v] = (float)random.NextDouble();
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            KCenterGreedy.Select(data, count, dim, keep, projectionDim: 128, seed: 42);
            watch.Stop();
            process.Refresh();
            var row = new JsonObject
            {
                ["fitting_images"] = images, ["patches"] = count, ["kept"] = keep,
                ["wall_seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 2),
                ["cpu_seconds"] = Math.Round((process.TotalProcessorTime - cpu).TotalSeconds, 2),
            };
            Console.WriteLine(row.ToJsonString());
        }
        return 0;
    }
}
