using System.Text.Json.Nodes;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Service;

/// <summary>
/// The service's page in a real headless Chromium: a defective part posted to the API appears in the list, with its
/// heat-map overlay decoded on screen, its regions and its explanation; nothing is fetched from beyond the service.
/// A full-page screenshot is left as a test artefact (bin/.../artefacts/service-page-&lt;category&gt;.png).
/// </summary>
[Collection("Service")]
public class ServicePageInBrowserTests(ServiceModels models)
{
    [ChromiumFact(needsSharedData: true)]
    public async Task Posted_defective_bottle_shows_in_the_page_with_overlay_and_explanation()
    {
        // A bottle model from 20 good images: enough for a broken bottle to stand out, and fitted in seconds.
        var folder = TestData.TempFolder("service-bottle-model");
        var modelPath = Path.Combine(folder, "bottle.pfmodel");
        var train = Directory.GetFiles(Path.Combine(TestData.Bottle, "train", "good")).Order().Take(20).ToList();
        using (var model = AnomalyPipeline.FromFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog).Fit(train)) model.Save(modelPath);
        var defect = Directory.GetFiles(Path.Combine(TestData.Bottle, "test", "broken_large")).Order().First();
        var good = Directory.GetFiles(Path.Combine(TestData.Bottle, "test", "good")).Order().First();
        await CheckPage("bottle", modelPath, good, defect);
        Directory.Delete(folder, recursive: true);
    }

    [ChromiumFact]
    public Task Posted_defective_hazelnut_shows_in_the_page_with_overlay_and_explanation() =>
        CheckPage("hazelnut", models.ModelA, ServiceModels.GoodHazelnut, ServiceModels.DefectiveHazelnut);

    async Task CheckPage(string category, string modelPath, string goodImage, string defectImage)
    {
        await using var service = await RunningService.StartAsync(models, category: category, modelFile: modelPath);
        await service.InspectAsync(category, goodImage);
        var part = await service.InspectAsync(category, defectImage);
        Assert.Equal("ANOMALY", (string)part["verdict"]!);
        string id = (string)part["id"]!;

        await using var browser = await HeadlessChromium.StartAsync(1400, 1100);
        var origin = service.Server.BaseAddress.GetLeftPart(UriPartial.Authority);
        await browser.NavigateAsync(service.Server.BaseAddress.AbsoluteUri);

        // The page polls and asks for the explanation itself; wait until all of it is on screen.
        JsonNode? page = null;
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while (DateTime.UtcNow < deadline)
        {
            page = await browser.EvaluateAsync(PageFacts);
            if ((bool)page!["done"]!) break;
            await Task.Delay(200);
        }
        Assert.True((bool)page!["done"]!, page.ToJsonString());
        Assert.Equal(id, (string)page["firstRow"]!["id"]!);
        Assert.Equal("ANOMALY", (string)page["firstRow"]!["verdict"]!);
        Assert.Equal(category, (string)page["firstRow"]!["category"]!);
        Assert.Equal(2, (int)page["rows"]!);
        Assert.EndsWith($"/v1/inspections/{id}/overlay.png", (string)page["overlay"]!["src"]!);
        Assert.Equal(224, (int)page["overlay"]!["naturalWidth"]!);
        Assert.Equal(part["regions"]!.AsArray().Count, (int)page["regionRows"]!);
        Assert.StartsWith("Rejected", (string)page["explanation"]!);
        Assert.Contains($"{(double)part["rawScore"]!:0.###}", (string)page["reasons"]!);

        // Offline: every request went to the service itself, and nothing failed.
        var requests = browser.Events.Where(e => (string?)e["method"] == "Network.requestWillBeSent")
            .Select(e => (string)e["params"]!["request"]!["url"]!).ToList();
        Assert.All(requests, url => Assert.StartsWith(origin, url));
        Assert.DoesNotContain(browser.Events, e => (string?)e["method"] is "Runtime.exceptionThrown" or "Network.loadingFailed");

        // The filter: only good parts, so the reject leaves the list.
        await browser.EvaluateAsync("(() => { const s = document.getElementById('filter-verdict'); s.value = 'ok'; s.dispatchEvent(new Event('change')); return true; })()");
        // The page fetches the filtered list: wait for it (a fixed half second was too short on a loaded machine).
        const string FirstVerdict = "(() => { const c = document.querySelector('#parts tbody tr td:nth-child(3)'); return c ? c.textContent : ''; })()";
        string? firstVerdict = null;
        for (var until = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < until; await Task.Delay(100))
            if ((firstVerdict = (string?)await browser.EvaluateAsync(FirstVerdict)) == "OK") break;
        Assert.Equal("OK", firstVerdict);
        Assert.Equal(1, (int)(await browser.EvaluateAsync("document.querySelectorAll('#parts tbody tr').length"))!);
        await browser.EvaluateAsync("(() => { const s = document.getElementById('filter-verdict'); s.value = ''; s.dispatchEvent(new Event('change')); location.hash = '#/parts/" + id + "'; return true; })()");
        await Task.Delay(800);

        var screenshot = await browser.ScreenshotAsync();
        var artefacts = Path.Combine(AppContext.BaseDirectory, "artefacts");
        Directory.CreateDirectory(artefacts);
        var shotPath = Path.Combine(artefacts, $"service-page-{category}.png");
        File.WriteAllBytes(shotPath, screenshot);
        Console.WriteLine($"service page screenshot: {shotPath}");

        // A thumbnail of a part is unlike the images the model was fitted on: the page says so beside its facts.
        var thumbnail = TestData.WriteThumbnail(goodImage, Path.Combine(TestData.TempFolder("service-page-thumbnail"), "thumbnail.png"));
        var small = await service.InspectAsync(category, thumbnail);
        await browser.EvaluateAsync("(() => { location.hash = '#/parts/" + (string)small["id"]! + "'; return true; })()");
        JsonNode? warning = null;
        for (var until = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < until; await Task.Delay(200))
        {
            warning = await browser.EvaluateAsync("(() => { const w = document.getElementById('detail-warning'); return { hidden: w.hidden, text: w.textContent }; })()");
            if (!(bool)warning!["hidden"]!) break;
        }
        Assert.False((bool)warning!["hidden"]!);
        Assert.Equal("Unlike the fitted images: " + (string)small["inputWarning"]!, (string)warning["text"]!);
    }

    [ChromiumFact]
    public async Task A_script_in_the_report_beside_a_model_does_not_run_with_the_service_origin()
    {
        await using var service = await RunningService.StartAsync(models);
        // Before the report was sandboxed this script ran as the service's own page: the title became
        // "ran canWrite=true" (a loopback browser may inspect and explain), and framed in the page it renamed the page.
        File.WriteAllText(Path.Combine(service.ModelsFolder, "hazelnut.report.html"), """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>report of hazelnut</title></head><body><p>report of hazelnut</p>
            <script>document.title = 'ran'; try { parent.document.title = 'ran'; } catch (e) {}
            fetch('/v1/access').then(r => r.json()).then(a => { document.title = 'ran canWrite=' + a.canWrite; });</script>
            </body></html>
            """);
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync(new Uri(service.Server.BaseAddress, "v1/models/hazelnut/report").AbsoluteUri);
        await Task.Delay(1000);
        Assert.Equal("report of hazelnut", (string)(await browser.EvaluateAsync("document.title"))!);

        await browser.NavigateAsync(new Uri(service.Server.BaseAddress, "#/models/hazelnut").AbsoluteUri);
        const string Framed = "(() => { const f = document.getElementById('model-report'); return { src: f.getAttribute('src') || '', hidden: f.hidden, title: document.title }; })()";
        JsonNode? page = null;
        for (var until = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < until; await Task.Delay(200))
            if ((string)(page = await browser.EvaluateAsync(Framed))!["src"]! != "") break;
        Assert.Equal("/v1/models/hazelnut/report", (string)page!["src"]!);
        Assert.False((bool)page["hidden"]!);
        await Task.Delay(1000);
        Assert.Equal("PipelineFramework inspection", (string)(await browser.EvaluateAsync("document.title"))!);
    }

    const string PageFacts = """
        (() => {
          const rows = [...document.querySelectorAll('#parts tbody tr')];
          const first = rows[0];
          const img = document.getElementById('detail-overlay');
          const explanation = document.querySelector('#explanations .explanation .summary');
          const reasons = [...document.querySelectorAll('#explanations .explanation li')].map(li => li.textContent).join(' | ');
          const regionRows = [...document.querySelectorAll('#detail-regions tbody tr')].filter(r => !r.textContent.includes('no region')).length;
          return {
            rows: rows.length,
            firstRow: first ? { id: first.dataset.id, category: first.children[1].textContent, verdict: first.children[2].textContent } : null,
            overlay: { src: img.src, complete: img.complete, naturalWidth: img.naturalWidth, hidden: img.hidden },
            regionRows,
            explanation: explanation ? explanation.textContent : null,
            reasons,
            done: !!(first && !img.hidden && img.complete && img.naturalWidth > 0 && explanation),
          };
        })()
        """;
}
