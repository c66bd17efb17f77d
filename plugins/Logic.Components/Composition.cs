using PipelineFramework.Rules;

namespace PipelineFramework.Logic.Components;

/// <summary>
/// PSAD-style composition memory: each good part as a vector (per class: count and total area; per class and grid
/// cell: the area there), standardised by the good parts' spread; a part's composition score is the distance to its
/// nearest good vector. Calibrated by leave-one-out on the good parts (each scored against the others).
/// </summary>
sealed class Composition
{
    public Composition(int classes, int grid, float[] bank, float[] scale, double threshold, double spread)
    {
        Classes = classes; Grid = grid; Bank = bank; Scale = scale; Threshold = threshold; Spread = spread;
    }

    public int Classes { get; }
    public int Grid { get; }
    public float[] Bank { get; }
    public float[] Scale { get; }
    public double Threshold { get; }
    /// <summary>Units of the normalised margin: (score - threshold) / spread, with the median good part at -ln 19.</summary>
    public double Spread { get; }
    public int Dim => Classes * (2 + Grid * Grid);

    public static float[] Vector(PartFacts part, IReadOnlyList<string> names, int grid)
    {
        int dim = 2 + grid * grid;
        var v = new float[names.Count * dim];
        for (int c = 0; c < names.Count; c++)
        {
            var comps = part.Class(names[c])?.Components ?? [];
            v[c * dim] = comps.Count;
            v[c * dim + 1] = (float)comps.Sum(x => x.Area);
            // Each component's area is spread over the cells its bounding box overlaps, in proportion to the overlap:
            // a part moving across a cell border changes the vector a little, not by a whole part's area at once.
            foreach (var comp in comps)
            {
                double x0 = comp.Box[0], y0 = comp.Box[1], w = Math.Max(comp.Box[2], 1e-6), h = Math.Max(comp.Box[3], 1e-6);
                for (int gy = 0; gy < grid; gy++)
                    for (int gx = 0; gx < grid; gx++)
                    {
                        double ox = Math.Max(0, Math.Min(x0 + w, (gx + 1.0) / grid) - Math.Max(x0, (double)gx / grid));
                        double oy = Math.Max(0, Math.Min(y0 + h, (gy + 1.0) / grid) - Math.Max(y0, (double)gy / grid));
                        v[c * dim + 2 + gy * grid + gx] += (float)(comp.Area * ox * oy / (w * h));
                    }
            }
        }
        return v;
    }

    public static Composition Fit(IReadOnlyList<PartFacts> good, IReadOnlyList<string> names, int grid, double margin)
    {
        var vectors = good.Select(p => Vector(p, names, grid)).ToList();
        int dim = vectors[0].Length, n = vectors.Count;
        int perClass = 2 + grid * grid;
        var scale = new float[dim];
        for (int d = 0; d < dim; d++)
        {
            double mean = vectors.Average(v => v[d]);
            double sd = Math.Sqrt(vectors.Average(v => (v[d] - mean) * (v[d] - mean)));
            // Floors: a count that never varies still moves by whole parts; an area by a small part's worth.
            double floor = d % perClass == 0 ? 0.5 : 0.005;
            scale[d] = (float)Math.Max(sd, floor);
        }
        var bank = vectors.SelectMany(v => v.Select((x, d) => x / scale[d])).ToArray();
        var loo = new double[n];
        for (int i = 0; i < n; i++) loo[i] = Nearest(bank, dim, bank.AsSpan(i * dim, dim), skip: i);
        var sorted = loo.Order().ToArray();
        // Rounded to float as the model file stores them, so a loaded check decides exactly as the fitted one.
        double threshold = (float)(sorted[^1] * (1 + margin) + 1e-6);
        double median = sorted[n / 2];
        double spread = (float)Math.Max((threshold - median) / Math.Log(19), 1e-6);
        return new Composition(names.Count, grid, bank, scale, threshold, spread);
    }

    public double Score(PartFacts part, IReadOnlyList<string> names)
    {
        var v = Vector(part, names, Grid);
        for (int d = 0; d < v.Length; d++) v[d] /= Scale[d];
        return Nearest(Bank, Dim, v, skip: -1);
    }

    static double Nearest(float[] bank, int dim, ReadOnlySpan<float> query, int skip)
    {
        double best = double.PositiveInfinity;
        int n = bank.Length / dim;
        for (int j = 0; j < n; j++)
        {
            if (j == skip) continue;
            double d = 0;
            for (int k = 0; k < dim; k++) { double x = bank[j * dim + k] - query[k]; d += x * x; }
            best = Math.Min(best, d);
        }
        return Math.Sqrt(best);
    }
}
