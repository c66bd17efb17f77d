using System.CommandLine;
using PipelineFramework.Core;
using PipelineFramework.Core.MLNet;

namespace PipelineFramework.Cli;

static partial class Commands
{
    /// <summary><c>pf generate-catalog</c>: rewrites the typed ML.NET catalog from the installed components' options.</summary>
    public static Command GenerateCatalog(Option<string[]> plugins)
    {
        var outOption = new Option<string>("--out") { Description = "File to write.", DefaultValueFactory = _ => TypedCatalogGenerator.RelativePath };
        var command = new Command("generate-catalog", "Write the typed ML.NET catalog (VisualAnomalyCatalog.g.cs) from the installed components' options.") { outOption };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(outOption)!;
            var catalog = Catalog(parse.GetValue(plugins));
            AtomicFile.WriteText(path, TypedCatalogGenerator.Generate(catalog));
            Console.WriteLine($"wrote {path} ({catalog.Components.Count} components)");
            return 0;
        });
        return command;
    }
}
