using PipelineFramework.Abstractions;
using PipelineFramework.Compute;
using PipelineFramework.Core.Images;

namespace PipelineFramework.LocoGen;

/// <summary>How many images of each kind; the defaults make a set that fits and evaluates in well under a minute.</summary>
public sealed record LocoCounts
{
    public int TrainGood { get; init; } = 80;
    public int TestGood { get; init; } = 30;
    /// <summary>Per logical anomaly type (missing, extra, wrong size, wrong position, mismatched pair).</summary>
    public int PerLogicalType { get; init; } = 8;
    /// <summary>Per structural anomaly type (scratch, stain).</summary>
    public int PerStructuralType { get; init; } = 10;
}

/// <summary>
/// Drawn scenes in MVTec LOCO's layout: a light tray with two red pins (left half), a blue bar and a green label (right half) and a
/// pair of connectors (bottom strip) that are both yellow or both magenta; places are random within each zone, sizes
/// jitter by 5 %. Logical anomalies break a
/// rule while every patch stays normal (a pin missing, a third pin, a bar of the wrong length, the label elsewhere,
/// connectors of two colours); structural ones are local (a dark scratch, a brown stain). Deterministic from the seed.
/// Writes <c>train/good</c>, <c>test/{good,logical_anomalies,structural_anomalies}</c> and
/// <c>ground_truth/&lt;type&gt;/&lt;name&gt;_mask.png</c>.
/// </summary>
public static class LocoGenerator
{
    public const int Size = 256;
    public static readonly string[] LogicalTypes = ["missing", "extra", "wrong_size", "wrong_position", "mismatched_pair"];
    public static readonly string[] StructuralTypes = ["scratch", "stain"];

    static readonly float[] Background = [0.78f, 0.78f, 0.76f];
    static readonly float[] Red = [0.85f, 0.12f, 0.10f];
    static readonly float[] Blue = [0.12f, 0.25f, 0.80f];
    static readonly float[] Green = [0.15f, 0.65f, 0.20f];
    static readonly float[] Yellow = [0.92f, 0.85f, 0.10f];
    static readonly float[] Magenta = [0.80f, 0.10f, 0.75f];

    public static void Generate(string root, int seed, LocoCounts? counts = null)
    {
        counts ??= new LocoCounts();
        var random = SeededRandom.Create(seed, 0x4C4F434F47454EUL); // "LOCOGEN"
        for (int i = 0; i < counts.TrainGood; i++) Write(root, "train/good", $"{i:000}", Draw(random, null), null);
        for (int i = 0; i < counts.TestGood; i++) Write(root, "test/good", $"{i:000}", Draw(random, null), null);
        int n = 0;
        foreach (var type in LogicalTypes)
            for (int i = 0; i < counts.PerLogicalType; i++, n++)
            {
                var (image, mask) = Draw(random, type);
                Write(root, "test/logical_anomalies", $"{n:000}", (image, mask), $"ground_truth/logical_anomalies/{n:000}_mask.png");
            }
        n = 0;
        foreach (var type in StructuralTypes)
            for (int i = 0; i < counts.PerStructuralType; i++, n++)
            {
                var (image, mask) = Draw(random, type);
                Write(root, "test/structural_anomalies", $"{n:000}", (image, mask), $"ground_truth/structural_anomalies/{n:000}_mask.png");
            }
    }

    static void Write(string root, string folder, string name, (ImageTensor Image, Grid2D Mask) scene, string? maskPath)
    {
        Directory.CreateDirectory(Path.Combine(root, folder));
        ImageLoader.SavePng(scene.Image, Path.Combine(root, folder, name + ".png"));
        if (maskPath is null) return;
        var full = Path.Combine(root, maskPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        ImageLoader.SavePng(new ImageTensor(1, Size, Size, scene.Mask.Values), full);
    }

    /// <summary>
    /// One scene; <paramref name="anomaly"/> null for a good part, else one of the logical or structural types. Parts sit
    /// at random places within their zone (pins: left half; bar and label: right half; connectors: bottom strip), so every
    /// patch of a logical anomaly also occurs on some good part: only counts, sizes, zones and pairings give it away.
    /// </summary>
    public static (ImageTensor Image, Grid2D Mask) Draw(SeededRandom random, string? anomaly)
    {
        var canvas = new Canvas(Size);
        var mask = new Grid2D(Size, Size);
        canvas.Fill(Background);
        var taken = new List<(double X0, double Y0, double X1, double Y1)>();
        // A free spot for a w x h part inside the zone, away from the parts already placed (rejection sampling).
        (double X, double Y) Place(double zx0, double zy0, double zx1, double zy1, double w, double h)
        {
            for (int attempt = 0; ; attempt++)
            {
                double x = random.Uniform(zx0 + w / 2, zx1 - w / 2), y = random.Uniform(zy0 + h / 2, zy1 - h / 2);
                var box = (x - w / 2 - 8, y - h / 2 - 8, x + w / 2 + 8, y + h / 2 + 8);
                if (attempt < 200 && taken.Any(t => box.Item1 < t.X1 && t.X0 < box.Item3 && box.Item2 < t.Y1 && t.Y0 < box.Item4)) continue;
                taken.Add(box);
                return (x, y);
            }
        }

        double pinRadius = 14 * (1 + random.Uniform(-0.05, 0.05));
        var pins = new List<(double X, double Y)>();
        int pinCount = anomaly == "extra" ? 3 : 2;
        for (int i = 0; i < pinCount; i++) pins.Add(Place(24, 24, 124, 176, 2 * pinRadius, 2 * pinRadius));
        if (anomaly == "missing")
        {
            int gone = random.NextInt(2);
            canvas.Disc(mask, pins[gone].X, pins[gone].Y, pinRadius, null);
            pins.RemoveAt(gone);
        }
        for (int i = 0; i < pins.Count; i++) canvas.Disc(anomaly == "extra" && i == 2 ? mask : null, pins[i].X, pins[i].Y, pinRadius, Red);

        double barLength = 80 * (1 + random.Uniform(-0.05, 0.05)) * (anomaly == "wrong_size" ? (random.NextInt(2) == 0 ? 1.4 : 0.6) : 1);
        var bar = Place(132, 24, 232, 176, barLength, 16);
        canvas.Rect(anomaly == "wrong_size" ? mask : null, bar.X - barLength / 2, bar.Y - 8, barLength, 16, Blue);

        double side = 32 * (1 + random.Uniform(-0.05, 0.05));
        var label = anomaly == "wrong_position" ? Place(24, 24, 124, 176, side, side) : Place(132, 24, 232, 176, side, side);
        canvas.Rect(anomaly == "wrong_position" ? mask : null, label.X - side / 2, label.Y - side / 2, side, side, Green);

        var pairColour = random.NextInt(2) == 0 ? Yellow : Magenta;
        var first = Place(24, 184, 232, 232, 22, 22);
        var second = Place(24, 184, 232, 232, 22, 22);
        canvas.Rect(null, first.X - 11, first.Y - 11, 22, 22, pairColour);
        var secondColour = anomaly == "mismatched_pair" ? (pairColour == Yellow ? Magenta : Yellow) : pairColour;
        canvas.Rect(anomaly == "mismatched_pair" ? mask : null, second.X - 11, second.Y - 11, 22, 22, secondColour);

        if (anomaly == "scratch") canvas.Scratch(mask, random);
        if (anomaly == "stain") canvas.Stain(mask, random);
        canvas.Noise(random, 0.015f);
        return (canvas.Image, mask);
    }

    sealed class Canvas(int size)
    {
        public ImageTensor Image { get; } = new(3, size, size, new float[3 * size * size]);

        void Set(int x, int y, float[] colour, float alpha = 1)
        {
            if (x < 0 || y < 0 || x >= size || y >= size) return;
            for (int c = 0; c < 3; c++)
            {
                ref float p = ref Image.Pixels[(c * size + y) * size + x];
                p = alpha * colour[c] + (1 - alpha) * p;
            }
        }

        public void Fill(float[] colour) { for (int y = 0; y < size; y++) for (int x = 0; x < size; x++) Set(x, y, colour); }

        /// <summary>A disc; with a null colour it only marks the mask (where a missing part should be).</summary>
        public void Disc(Grid2D? mask, double cx, double cy, double r, float[]? colour)
        {
            for (int y = (int)(cy - r); y <= (int)(cy + r) + 1; y++)
                for (int x = (int)(cx - r); x <= (int)(cx + r) + 1; x++)
                {
                    if ((x + 0.5 - cx) * (x + 0.5 - cx) + (y + 0.5 - cy) * (y + 0.5 - cy) > r * r || x < 0 || y < 0 || x >= size || y >= size) continue;
                    if (colour is not null) Set(x, y, colour);
                    if (mask is not null) mask[y, x] = 1;
                }
        }

        public void Rect(Grid2D? mask, double x0, double y0, double w, double h, float[] colour)
        {
            for (int y = (int)Math.Round(y0); y < (int)Math.Round(y0 + h); y++)
                for (int x = (int)Math.Round(x0); x < (int)Math.Round(x0 + w); x++)
                {
                    if (x < 0 || y < 0 || x >= size || y >= size) continue;
                    Set(x, y, colour);
                    if (mask is not null) mask[y, x] = 1;
                }
        }

        /// <summary>A thin dark line 30-60 px long anywhere in the central area (on a part or on the tray).</summary>
        public void Scratch(Grid2D mask, SeededRandom random)
        {
            double x = random.Uniform(50, 200), y = random.Uniform(50, 200), angle = random.Uniform(0, Math.PI), length = random.Uniform(30, 60);
            float[] dark = [0.25f, 0.22f, 0.20f];
            for (double t = 0; t < length; t += 0.5)
            {
                double px = x + t * Math.Cos(angle), py = y + t * Math.Sin(angle);
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int xx = (int)px + dx, yy = (int)py + dy;
                        if (xx < 0 || yy < 0 || xx >= size || yy >= size) continue;
                        Set(xx, yy, dark, 0.8f);
                        mask[yy, xx] = 1;
                    }
            }
        }

        /// <summary>A brown blob (an ellipse with a wavy edge), half transparent.</summary>
        public void Stain(Grid2D mask, SeededRandom random)
        {
            double cx = random.Uniform(50, 200), cy = random.Uniform(50, 200), rx = random.Uniform(9, 15), ry = random.Uniform(7, 12), phase = random.Uniform(0, 6.3);
            float[] brown = [0.45f, 0.30f, 0.15f];
            for (int y = (int)(cy - 2 * ry); y <= cy + 2 * ry; y++)
                for (int x = (int)(cx - 2 * rx); x <= cx + 2 * rx; x++)
                {
                    if (x < 0 || y < 0 || x >= size || y >= size) continue;
                    double dx = (x - cx) / rx, dy = (y - cy) / ry, a = Math.Atan2(dy, dx);
                    if (dx * dx + dy * dy > Math.Pow(1 + 0.25 * Math.Sin(3 * a + phase), 2)) continue;
                    Set(x, y, brown, 0.7f);
                    mask[y, x] = 1;
                }
        }

        public void Noise(SeededRandom random, float sigma)
        {
            var noise = new float[Image.Pixels.Length];
            random.FillGaussian(noise, sigma);
            for (int i = 0; i < noise.Length; i++) Image.Pixels[i] = Math.Clamp(Image.Pixels[i] + noise[i], 0f, 1f);
        }
    }
}
