using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using PipelineFramework.Abstractions;
using PipelineFramework.Service;

namespace PipelineFramework.Cli;

static partial class Commands
{
    public static Command Serve(Option<string[]> plugins, CancellationToken cancellation)
    {
        var modelsOption = new Option<string>("--models") { Description = $"Folder of <category>{ModelRegistry.Extension} files; new and changed files are loaded while serving.", Required = true };
        var portOption = new Option<int>("--port") { Description = "TCP port.", DefaultValueFactory = _ => 5080 };
        var hostOption = new Option<string>("--host")
        {
            Description = $"Address to listen on. Anything but loopback needs an API key in {ServiceOptions.ApiKeyVariable} (environment or user secrets).",
            DefaultValueFactory = _ => "127.0.0.1",
        };
        var dataOption = new Option<string>("--data") { Description = "Folder for the results database (results.db) and reject images (rejects/); one pf serve per folder (a second one refuses to start).", DefaultValueFactory = _ => "pf-service-data" };
        var keepOption = new Option<int>("--keep-rejects") { Description = "Reject images kept on disk (oldest deleted first; their results stay).", DefaultValueFactory = _ => 1000 };
        var command = new Command("serve", "Serve inspections over HTTP (POST /v1/inspect/<category>) with a web page of recent parts, heat maps and explanations.")
        {
            modelsOption, portOption, hostOption, dataOption, keepOption,
        };
        command.SetAction(parse =>
        {
            var host = parse.GetValue(hostOption)!;
            if (!IPAddress.TryParse(host == "localhost" ? "127.0.0.1" : host, out var address))
                throw new PipelineException($"--host '{host}' is not an IP address; use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface, needs {ServiceOptions.ApiKeyVariable}).");
            var options = new ServiceOptions
            {
                ModelsFolder = Path.GetFullPath(parse.GetValue(modelsOption)!),
                DataFolder = Path.GetFullPath(parse.GetValue(dataOption)!),
                Address = address,
                Port = parse.GetValue(portOption),
                ApiKey = Services.Secrets.Get(ServiceOptions.ApiKeyVariable),
                RejectImagesKept = parse.GetValue(keepOption),
            };
            var server = InspectionServer.Create(options, Catalog(parse.GetValue(plugins)), Services,
                // pf's output escapes control characters (TerminalOutput), the console logger's colour codes included;
                // plain lines read better than escaped colour codes.
                logging => logging.AddSimpleConsole(console => console.ColorBehavior = LoggerColorBehavior.Disabled));
            if (server.Registry.Categories.Count == 0)
                Console.Error.WriteLine($"warning: no model is served yet; put <category>{ModelRegistry.Extension} files into {options.ModelsFolder} (readiness reports 503 until then)");
            try
            {
                server.RunAsync(cancellation).GetAwaiter().GetResult();
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
