using PipelineFramework.LocoGen;

// dotnet run --project samples/LocoGen -c Release -- <output folder> [seed]
if (args.Length is < 1 or > 2 || (args.Length == 2 && !int.TryParse(args[1], out _)))
{
    Console.Error.WriteLine("usage: LocoGen <output folder> [seed]   (writes train/good, test/{good,logical_anomalies,structural_anomalies}, ground_truth)");
    return 2;
}
int seed = args.Length == 2 ? int.Parse(args[1]) : 7;
LocoGenerator.Generate(args[0], seed);
Console.WriteLine($"LOCO-like set (seed {seed}) written to {Path.GetFullPath(args[0])}");
return 0;
