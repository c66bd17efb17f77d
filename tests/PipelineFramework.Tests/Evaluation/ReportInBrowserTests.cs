using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Evaluation;

/// <summary>
/// report.html opened in a real headless Chromium from file://, as a user double-clicking it would: nothing is fetched
/// from anywhere, every picture decodes, the pixels on screen are the curves we drew, and the gallery shows the heat map
/// with the true defect outlined. A full-page screenshot is left next to the report (report.png) for a person to look at.
/// </summary>
public class ReportInBrowserTests
{
    [ChromiumFact]
    public Task Shipped_hazelnut_report_shows_curves_and_overlays_in_Chromium() => CheckReport(TestData.Hazelnut);

    [ChromiumFact(needsSharedData: true)]
    public Task Bottle_report_shows_curves_and_overlays_in_Chromium() => CheckReport(TestData.Bottle);

    static async Task CheckReport(string category)
    {
        var result = TestData.PatchcoreEvaluation(category);
        var reportPath = Path.Combine(result.OutputFolder, "report.html");
        string html = File.ReadAllText(reportPath);

        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync(new Uri(reportPath).AbsoluteUri);

        // Self-contained: the only request is the file itself (pictures are data: URIs), and nothing failed.
        var requests = browser.Events.Where(e => (string?)e["method"] == "Network.requestWillBeSent")
            .Select(e => (string)e["params"]!["request"]!["url"]!).ToList();
        Assert.Equal([new Uri(reportPath).AbsoluteUri], requests.Where(u => !u.StartsWith("data:", StringComparison.Ordinal)));
        Assert.DoesNotContain(browser.Events, e => (string?)e["method"] is "Runtime.exceptionThrown" or "Network.loadingFailed");
        Assert.DoesNotContain(browser.Events, e => (string?)e["method"] == "Log.entryAdded" && (string?)e["params"]!["entry"]!["level"] == "error");

        var page = (await browser.EvaluateAsync(PageFacts))!;
        Assert.Equal(Path.GetFileName(category), (string)page["sections"]![0]!);
        Assert.Contains(result.Metrics.ImageAuroc.ToString("F4", CultureInfo.InvariantCulture), page["text"]!.GetValue<string>());
        Assert.Contains(result.Metrics.PixelAuroc!.Value.ToString("F4", CultureInfo.InvariantCulture), page["text"]!.GetValue<string>());

        // The three plots: decoded by the browser at their own size, and on screen pixel for pixel as we rendered them.
        var plots = page["plots"]!.AsArray();
        Assert.Equal(["ROC curve", "Precision-recall curve", "Histogram of image scores"], plots.Select(p => (string)p!["alt"]!));
        foreach (var plot in plots)
        {
            Assert.True((bool)plot!["complete"]! && (int)plot["naturalWidth"]! == 420 && (int)plot["naturalHeight"]! == 320, plot.ToJsonString());
            using var drawn = SKBitmap.Decode(EmbeddedPng(html, (string)plot["alt"]!));
            using var onScreen = SKBitmap.Decode(await browser.ScreenshotAsync(Box(plot["box"]!)));
            Assert.Equal((drawn.Width, drawn.Height), (onScreen.Width, onScreen.Height));
            Assert.True(MeanAbsoluteDifference(drawn, onScreen) < 1.0, $"{plot["alt"]} on screen differs from the rendered PNG");
            Assert.True(DistinctColours(onScreen) > 20, $"{plot["alt"]} is blank on screen");
        }

        // The gallery: every overlay decoded and shown 256 px wide; defects carry the green mask outline on screen,
        // good parts (no mask) none; and the heat map is drawn (more colours than the grey/colour photo alone).
        var gallery = page["gallery"]!.AsArray();
        Assert.Equal(Math.Min(TestData.GallerySize, result.TestImages), gallery.Count);
        foreach (var item in gallery)
        {
            Assert.True((bool)item!["complete"]! && (int)item["naturalWidth"]! > 0, item.ToJsonString());
            Assert.Equal(256, (double)item["box"]!["width"]!, 0.5);
        }
        var firstDefect = gallery.First(i => (string)i!["type"]! != "good")!;
        using (var shot = SKBitmap.Decode(await browser.ScreenshotAsync(Box(firstDefect["box"]!))))
            Assert.True(OutlinePixels(shot) > 20, $"no mask outline on screen for {firstDefect["name"]}");
        if (gallery.FirstOrDefault(i => (string)i!["type"]! == "good") is { } goodPart)
        {
            using var shot = SKBitmap.Decode(await browser.ScreenshotAsync(Box(goodPart["box"]!)));
            Assert.Equal(0, OutlinePixels(shot));
        }

        var screenshot = await browser.ScreenshotAsync();
        var screenshotPath = Path.Combine(result.OutputFolder, "report.png");
        File.WriteAllBytes(screenshotPath, screenshot);
        using var full = SKBitmap.Decode(screenshot);
        Assert.True(full.Height > 1000, $"full page {full.Width}x{full.Height}");
        Console.WriteLine($"report screenshot: {screenshotPath}");
    }

    const string PageFacts = """
        (() => {
          // the picture itself, inside any border
          const box = e => { const r = e.getBoundingClientRect(); return { x: r.x + scrollX + e.clientLeft, y: r.y + scrollY + e.clientTop, width: e.clientWidth, height: e.clientHeight }; };
          const img = i => ({ alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, box: box(i) });
          return {
            sections: [...document.querySelectorAll('section h2')].map(h => h.textContent),
            text: document.body.innerText,
            plots: [...document.querySelectorAll('img.plot')].map(img),
            gallery: [...document.querySelectorAll('figure.item')].map(f => ({
              ...img(f.querySelector('img')),
              name: f.querySelector('.name').textContent,
              type: f.querySelector('figcaption div:nth-child(2)').textContent.split(' · ')[0],
              verdict: f.querySelector('.verdict').textContent,
            })),
          };
        })()
        """;

    static (double, double, double, double) Box(JsonNode box) =>
        ((double)box["x"]!, (double)box["y"]!, (double)box["width"]!, (double)box["height"]!);

    static byte[] EmbeddedPng(string html, string alt)
    {
        var match = Regex.Match(html, "alt=\"" + Regex.Escape(alt) + "\" src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
        Assert.True(match.Success, $"no embedded PNG with alt '{alt}'");
        return Convert.FromBase64String(match.Groups[1].Value);
    }

    static double MeanAbsoluteDifference(SKBitmap a, SKBitmap b)
    {
        double sum = 0;
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
            {
                SKColor p = a.GetPixel(x, y), q = b.GetPixel(x, y);
                sum += Math.Abs(p.Red - q.Red) + Math.Abs(p.Green - q.Green) + Math.Abs(p.Blue - q.Blue);
            }
        return sum / (3.0 * a.Width * a.Height);
    }

    static int DistinctColours(SKBitmap bitmap) => bitmap.Pixels.Select(p => (uint)p).Distinct().Count();

    /// <summary>Pixels of the report's mask outline colour (pure green), allowing for the browser's resampling.</summary>
    static int OutlinePixels(SKBitmap bitmap) => bitmap.Pixels.Count(p => p.Green > 200 && p.Red < 60 && p.Blue < 60);
}
