using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Llm;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Evaluation;

/// <summary>
/// The reports of the real <c>pf evaluate</c> and <c>pf automl</c> over a copy of hazelnut whose category folder,
/// defect-type folder, image file names and pipeline name are markup that runs script if a page ever parses it as
/// markup. Opened in a real headless Chromium: every name is shown as text and nothing runs. And should a future
/// change forget to escape one, the report's own Content-Security-Policy still keeps a script from running.
/// </summary>
public class HostileTextInReportsTests
{
    // A file name cannot hold '/', so no name closes a tag; attributes that run script need none.
    const string Category = "<img src=x onerror=document.title='category'>";
    const string DefectType = "<svg onload=document.title='defect-type'>";
    const string PipelineName = "<iframe srcdoc=\"<script>parent.document.title='pipeline'</script>\"> \"quoted\" 'name'";
    static readonly string[] DefectImages = ["\"'><img src=x onerror=document.title='image'>", "javascript:document.title='js'"];
    static readonly string[] GoodImages = ["<script>document.title='script';", "&lt;b&gt; &#39; not an entity"];

    static readonly Lazy<(string Evaluate, string Automl)> Reports = new(() =>
    {
        var work = TestData.TempFolder("hostile-text");
        var category = Path.Combine(work, "data", Category);
        CopyTree(TestData.Hazelnut, category);
        Directory.Move(Path.Combine(category, "test", "colour"), Path.Combine(category, "test", DefectType));
        Directory.Move(Path.Combine(category, "ground_truth", "colour"), Path.Combine(category, "ground_truth", DefectType));
        for (int i = 0; i < DefectImages.Length; i++)
        {
            File.Move(Path.Combine(category, "test", DefectType, $"0{i}.jpg"), Path.Combine(category, "test", DefectType, DefectImages[i] + ".jpg"));
            File.Move(Path.Combine(category, "ground_truth", DefectType, $"0{i}.png"), Path.Combine(category, "ground_truth", DefectType, DefectImages[i] + ".png"));
        }
        var good = Directory.GetFiles(Path.Combine(category, "test", "good")).Order().ToList();
        for (int i = 0; i < GoodImages.Length; i++) File.Move(good[i], Path.Combine(category, "test", "good", GoodImages[i] + ".jpg"));

        var pipeline = Path.Combine(work, "pipeline.json");
        File.WriteAllText(pipeline, new JsonObject
        {
            ["name"] = PipelineName,
            ["features"] = new JsonObject { ["type"] = "features.onnx" },
            ["scoring"] = new JsonObject { ["type"] = "scoring.padim", ["reducedDim"] = 32 },
        }.ToJsonString());

        var evaluateOut = Path.Combine(work, "evaluate");
        var (code, _, stderr) = PfProcess.Run("evaluate", "--pipeline", pipeline, "--data", category, "--out", evaluateOut, "--gallery", "100");
        Assert.True(code == 0, stderr);
        var automlOut = Path.Combine(work, "automl");
        (code, _, stderr) = PfProcess.Run("automl", "--data", category, "--out", automlOut, "--trials", "1", "--budget", "3m");
        Assert.True(code == 0, stderr);
        return (Path.Combine(evaluateOut, "report.html"), Path.Combine(automlOut, "report.html"));
    });

    static void CopyTree(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var dir in Directory.GetDirectories(source, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(Path.Combine(target, Path.GetRelativePath(source, dir)));
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories)) File.Copy(file, Path.Combine(target, Path.GetRelativePath(source, file)));
    }

    static IEnumerable<string> BothReports => [Reports.Value.Evaluate, Reports.Value.Automl];

    [Fact]
    public void Both_reports_escape_the_names_and_carry_a_policy_that_forbids_scripts()
    {
        foreach (var report in BothReports)
        {
            var html = File.ReadAllText(report);
            Assert.Contains(ReportHtml.Text(Category), html);
            Assert.DoesNotContain(Category, html);
            // The policy is the head's first rule after the charset: it governs everything after it.
            Assert.Contains("<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"" + ReportHtml.ContentSecurityPolicy + "\">", html);
        }
        var evaluate = File.ReadAllText(Reports.Value.Evaluate);
        foreach (var name in new[] { DefectType, PipelineName }.Concat(DefectImages).Concat(GoodImages))
        {
            Assert.Contains(ReportHtml.Text(name), evaluate);
            Assert.DoesNotContain(name, evaluate);
        }
    }

    [ChromiumFact]
    public async Task Hostile_names_show_as_text_and_run_nothing_in_Chromium()
    {
        await using var browser = await HeadlessChromium.StartAsync();
        foreach (var report in BothReports)
        {
            var page = await Open(browser, report);
            Assert.Contains(Category, (string)page["title"]!);
            Assert.Equal(0, (int)page["markup"]!);
            Assert.Equal("", (string)page["ran"]!);
        }
        var evaluate = await Open(browser, Reports.Value.Evaluate);
        Assert.Equal($"{PipelineName} on {Category}", (string)evaluate["title"]!);
        var names = evaluate["names"]!.AsArray().Select(n => (string)n!).ToList();
        foreach (var name in DefectImages.Concat(GoodImages)) Assert.Contains(name + ".jpg", names);
        Assert.Contains(DefectType, (string)evaluate["text"]!);
    }

    [ChromiumFact]
    public async Task A_script_slipped_into_a_report_does_not_run_in_Chromium()
    {
        // Before the policy, both lines ran: the title became "slipped" and the body got data-ran="img".
        const string Slipped = "<script>document.title='slipped'</script><img src=x onerror=\"document.body.dataset.ran='img'\">\n</body>";
        await using var browser = await HeadlessChromium.StartAsync();
        foreach (var report in BothReports)
        {
            var tampered = Path.Combine(Path.GetDirectoryName(report)!, "tampered.html");
            File.WriteAllText(tampered, File.ReadAllText(report).Replace("</body>", Slipped, StringComparison.Ordinal));
            var page = await Open(browser, tampered);
            Assert.Contains(Category, (string)page["title"]!);
            Assert.Equal("", (string)page["ran"]!);
        }
    }

    [ChromiumFact]
    public async Task An_llm_answering_in_markup_is_shown_as_text_in_Chromium()
    {
        const string Summary = "Rejected: <img src=x onerror=document.title='llm'> </script><script>document.title='llm-script'</script>";
        const string Reason = "the score is above the threshold <b onmouseover=alert(1)>bold</b>";
        using var server = new FakeOpenAIServer((_, request) =>
            request.Body["messages"]!.AsArray().Last()!["role"]!.GetValue<string>() == "tool"
                ? FakeReply.Text(new JsonObject
                {
                    ["verdict"] = "ANOMALY", ["summary"] = Summary, ["confidence"] = 0.7,
                    ["reasons"] = new JsonArray(new JsonObject { ["text"] = Reason, ["facts"] = new JsonArray("score", "threshold") }),
                }.ToJsonString())
                : FakeReply.ToolCalls("inspection-get_verdict"));
        var services = new HostServices
        {
            Secrets = new DictionarySecrets(new Dictionary<string, string> { [LlmSecretNames.Endpoint] = server.BaseUrl + "/v1", [LlmSecretNames.ApiKey] = "sk-test" }),
        };
        var pipeline = AnomalyPipeline.FromJson("""
            { "name": "explained", "seed": 5, "backbone": { "type": "backbone.onnx", "layers": ["feat_f6_s8_32ch"] },
              "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.5 },
              "explain": { "type": "explain.llm", "kind": "openai-compatible", "model": "llama3.1", "timeoutSeconds": 30 } }
            """, TestData.Catalog, services: services);
        var output = TestData.TempFolder("hostile-llm");
        Evaluator.Run(pipeline, TestData.Hazelnut, output, new EvaluationOptions { GallerySize = 4 });

        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync(new Uri(Path.Combine(output, "report.html")).AbsoluteUri);
        await Task.Delay(500);
        var page = (await browser.EvaluateAsync("""
            ({
              title: document.title,
              markup: document.querySelectorAll('script, [onerror], [onmouseover], details.why img, details.why b').length,
              summaries: [...document.querySelectorAll('details.why summary')].map(s => s.textContent),
              reasons: [...document.querySelectorAll('details.why li')].map(li => li.textContent),
            })
            """))!;
        Assert.Equal("explained on hazelnut", (string)page["title"]!);
        Assert.Equal(0, (int)page["markup"]!);
        // The answers the LLM gave are shown letter for letter (a part whose answer fails the fact check gets the offline one).
        Assert.Contains(Summary, page["summaries"]!.AsArray().Select(s => (string)s!));
        Assert.Contains(Reason, page["reasons"]!.AsArray().Select(r => (string)r!));
    }

    /// <summary>Opens a report and, after its images had the time to fail, tells what the page holds and whether anything ran.</summary>
    static async Task<JsonNode> Open(HeadlessChromium browser, string path)
    {
        await browser.NavigateAsync(new Uri(path).AbsoluteUri);
        await Task.Delay(500);
        return (await browser.EvaluateAsync("""
            ({
              title: document.title,
              ran: document.body.dataset.ran || '',
              markup: document.querySelectorAll('script, svg, iframe, [onerror], [onload]').length,
              names: [...document.querySelectorAll('figure .name')].map(n => n.textContent),
              text: document.body.innerText,
            })
            """))!;
    }
}
