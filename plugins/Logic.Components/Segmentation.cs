using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Rules;

namespace PipelineFramework.Logic.Components;

/// <summary>
/// Colour classes learned from good parts: k-means (k-means++ start, seeded) on sampled RGB pixels for k = 1..max; the
/// class count is the smallest k after which one more class cuts the error by less than <c>minGain</c>.
/// Each class is named after its mean colour ("red", "dark-grey"), numbered where two share a name.
/// </summary>
sealed class Palette
{
    public Palette(float[] centres, string[] names) { Centres = centres; Names = names; }

    /// <summary>[K, 3] RGB centres.</summary>
    public float[] Centres { get; }
    public string[] Names { get; }
    public int Count => Names.Length;

    const int MaxSamples = 60000;
    const int Restarts = 3;

    public static Palette Learn(IReadOnlyList<ImageTensor> images, ComponentsOptions options, int seed)
    {
        var random = SeededRandom.Create(seed, 0x50414C45545445UL); // "PALETTE"
        var samples = new List<float>();
        // At most MaxSamples pixels in all: the clustering's cost stays flat however many good images there are.
        int perImage = Math.Max(100, Math.Min(options.PixelsPerImage, MaxSamples / Math.Max(1, images.Count)));
        foreach (var image in images)
        {
            int n = image.Height * image.Width;
            for (int s = 0; s < Math.Min(perImage, n); s++)
            {
                int p = random.NextInt(n);
                for (int c = 0; c < 3; c++) samples.Add(image.Pixels[Math.Min(c, image.Channels - 1) * n + p]);
            }
        }
        var data = samples.ToArray();
        float[]? chosen = null;
        double previous = double.PositiveInfinity;
        for (int k = 1; k <= options.MaxClasses; k++)
        {
            // Best of a few seeded starts: one poor start would otherwise stop the class count too early.
            var (centres, error) = Enumerable.Range(0, Restarts).Select(_ => KMeans(data, k, random)).MinBy(r => r.Error);
            if (chosen is not null && error > (1 - options.MinGain) * previous) break;
            chosen = centres; previous = error;
        }
        return new Palette(chosen!, Name(chosen!));
    }

    static (float[] Centres, double Error) KMeans(float[] data, int k, SeededRandom random)
    {
        int n = data.Length / 3;
        var centres = new float[k * 3];
        var nearest = new double[n];
        int first = random.NextInt(n);
        Array.Copy(data, first * 3, centres, 0, 3);
        for (int i = 0; i < n; i++) nearest[i] = Dist(data, i, centres, 0);
        for (int c = 1; c < k; c++)
        {
            double total = nearest.Sum(), pick = random.NextDouble() * total;
            int chosen = n - 1;
            for (int i = 0; i < n; i++) { pick -= nearest[i]; if (pick <= 0) { chosen = i; break; } }
            Array.Copy(data, chosen * 3, centres, c * 3, 3);
            for (int i = 0; i < n; i++) nearest[i] = Math.Min(nearest[i], Dist(data, i, centres, c));
        }
        var assign = new int[n];
        double error = 0;
        for (int iteration = 0; iteration < 20; iteration++)
        {
            error = 0;
            for (int i = 0; i < n; i++)
            {
                int best = 0; double bestD = double.MaxValue;
                for (int c = 0; c < k; c++) { double d = Dist(data, i, centres, c); if (d < bestD) { bestD = d; best = c; } }
                assign[i] = best; error += bestD;
            }
            var sums = new double[k * 3];
            var counts = new int[k];
            for (int i = 0; i < n; i++) { counts[assign[i]]++; for (int ch = 0; ch < 3; ch++) sums[assign[i] * 3 + ch] += data[i * 3 + ch]; }
            for (int c = 0; c < k; c++)
                if (counts[c] > 0) for (int ch = 0; ch < 3; ch++) centres[c * 3 + ch] = (float)(sums[c * 3 + ch] / counts[c]);
        }
        return (centres, error);
    }

    static double Dist(float[] data, int i, float[] centres, int c)
    {
        double d = 0;
        for (int ch = 0; ch < 3; ch++) { double x = data[i * 3 + ch] - centres[c * 3 + ch]; d += x * x; }
        return d;
    }

    /// <summary>The class of every pixel: the nearest centre.</summary>
    public int[] Classify(ImageTensor image)
    {
        int n = image.Height * image.Width;
        var labels = new int[n];
        for (int p = 0; p < n; p++)
        {
            int best = 0; double bestD = double.MaxValue;
            for (int c = 0; c < Count; c++)
            {
                double d = 0;
                for (int ch = 0; ch < 3; ch++) { double x = image.Pixels[Math.Min(ch, image.Channels - 1) * n + p] - Centres[c * 3 + ch]; d += x * x; }
                if (d < bestD) { bestD = d; best = c; }
            }
            labels[p] = best;
        }
        return labels;
    }

    static string[] Name(float[] centres)
    {
        int k = centres.Length / 3;
        var names = new string[k];
        for (int c = 0; c < k; c++) names[c] = ColourName(centres[c * 3], centres[c * 3 + 1], centres[c * 3 + 2]);
        foreach (var group in names.Select((n, i) => (n, i)).GroupBy(t => t.n).Where(g => g.Count() > 1))
        {
            int index = 1;
            foreach (var (_, i) in group) names[i] = $"{group.Key}-{index++}";
        }
        return names;
    }

    /// <summary>A readable name from hue, saturation and value, so rules and LLM prompts can say "red".</summary>
    internal static string ColourName(float r, float g, float b)
    {
        float max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b));
        float saturation = max <= 0 ? 0 : (max - min) / max;
        if (saturation < 0.25f || max - min < 0.1f)
            return max < 0.25f ? "black" : max < 0.5f ? "dark-grey" : max < 0.8f ? "grey" : "white";
        double hue = max == r ? 60 * (((g - b) / (max - min) + 6) % 6) : max == g ? 60 * ((b - r) / (max - min) + 2) : 60 * ((r - g) / (max - min) + 4);
        string name = hue < 15 || hue >= 330 ? "red" : hue < 40 ? "orange" : hue < 70 ? "yellow" : hue < 160 ? "green" : hue < 200 ? "cyan" : hue < 260 ? "blue" : hue < 300 ? "purple" : "magenta";
        return max < 0.45f ? "dark-" + name : name;
    }
}

/// <summary>Connected components (8-neighbourhood) of every class and their facts.</summary>
static class ComponentAnalysis
{
    public static PartFacts Measure(string id, ImageTensor image, Palette palette, double minArea)
    {
        int h = image.Height, w = image.Width, n = h * w;
        var labels = palette.Classify(image);
        var seen = new bool[n];
        var stack = new Stack<int>();
        var members = new List<int>();
        var classes = new List<ComponentFacts>[palette.Count];
        for (int c = 0; c < palette.Count; c++) classes[c] = [];
        int minPixels = Math.Max(1, (int)Math.Ceiling(minArea * n));
        for (int start = 0; start < n; start++)
        {
            if (seen[start]) continue;
            int cls = labels[start];
            members.Clear();
            stack.Push(start); seen[start] = true;
            while (stack.Count > 0)
            {
                int p = stack.Pop();
                members.Add(p);
                int y = p / w, x = p % w;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        int q = yy * w + xx;
                        if (!seen[q] && labels[q] == cls) { seen[q] = true; stack.Push(q); }
                    }
            }
            if (members.Count < minPixels) continue;
            double sx = 0, sy = 0; int x0 = w, y0 = h, x1 = 0, y1 = 0;
            var colour = new double[3];
            foreach (int p in members)
            {
                int y = p / w, x = p % w;
                sx += x + 0.5; sy += y + 0.5;
                x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                for (int ch = 0; ch < 3; ch++) colour[ch] += image.Pixels[Math.Min(ch, image.Channels - 1) * n + p];
            }
            int m = members.Count;
            classes[cls].Add(new ComponentFacts
            {
                Area = Math.Round((double)m / n, 6), X = Math.Round(sx / m / w, 4), Y = Math.Round(sy / m / h, 4),
                Box = [Math.Round((double)x0 / w, 4), Math.Round((double)y0 / h, 4), Math.Round((double)(x1 - x0 + 1) / w, 4), Math.Round((double)(y1 - y0 + 1) / h, 4)],
                Colour = colour.Select(v => Math.Round(v / m, 3)).ToArray(),
            });
        }
        return new PartFacts
        {
            Id = id,
            Classes = palette.Names.Select((name, c) => new ClassFacts
            {
                Name = name,
                Components = classes[c].OrderByDescending(x => x.Area).ThenBy(x => x.Y).ThenBy(x => x.X).ToList(),
            }).ToList(),
        };
    }
}
