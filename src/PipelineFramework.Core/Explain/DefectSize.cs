using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Explain;

/// <summary>
/// How big a defect is, read from the shape of its bump in the anomaly map and corrected for the map's own blur.
/// The map is the defect seen through a point-spread function (the features' footprint, the upsampling and the
/// Gaussian smoothing): every edge of a defect is smeared outwards by the same distance. So the defect's extent is
/// taken at <see cref="Level"/> of the way from the background (what good parts score: the level a bump rises from) to
/// the bump's peak, which does not depend on how strong the defect is, and then each of its axes is shrunk by
/// <see cref="EdgeSpread"/>: how far beyond a straight edge the point-spread function keeps a large defect's map above
/// that level. Thin defects keep their length and lose only the blur across it. docs/explanation.md has the
/// measurements.
/// </summary>
public sealed class DefectSize
{
    /// <summary>
    /// Share of the way from the background to a bump's peak where its extent is read: low enough that a faint defect's
    /// whole bump is in, high enough to stay off the good part's own texture (0.1 to 0.5 measured in docs/explanation.md;
    /// a level chosen per model on synthetic defects measured worse, also there).
    /// </summary>
    public const double DefaultLevel = 0.2;

    /// <summary>From the map of a single-point defect (any size, peak anywhere; the map's geometry, not a data set).</summary>
    /// <param name="level">Where the extent is read (<see cref="DefaultLevel"/>; other levels for measurements).</param>
    public DefectSize(Grid2D pointSpread, double level = DefaultLevel)
    {
        if (!(level > 0 && level < 1)) throw new ArgumentOutOfRangeException(nameof(level), level, "a share of the way from the background to the peak, between 0 and 1");
        Level = level;
        EdgeSpread = EdgeSpreadOf(pointSpread, level);
        Reach = ReachOf(pointSpread, level);
    }

    DefectSize(double edgeSpread, int reach) { Level = DefaultLevel; EdgeSpread = edgeSpread; Reach = reach; }

    /// <summary>For a map with no blur (a test's map, a scorer that makes its map at pixel level).</summary>
    public static DefectSize Sharp { get; } = new(0, 0);

    /// <summary>Share of the way from the background to a bump's peak where its extent is read.</summary>
    public double Level { get; }

    /// <summary>Map pixels beyond a straight edge of a large defect where its map falls to <see cref="Level"/>.</summary>
    public double EdgeSpread { get; }

    /// <summary>Map pixels from its peak where the point-spread function falls to <see cref="Level"/>: how far a bump may reach beyond the region above the threshold.</summary>
    public int Reach { get; }

    /// <summary>
    /// Estimated area in map pixels of the defect whose bump peaks at (<paramref name="peakX"/>, <paramref name="peakY"/>):
    /// the pixels connected to the peak above the level, inside <paramref name="box"/> widened by <see cref="Reach"/> and
    /// not <paramref name="taken"/> by a stronger region (they are marked taken), as an ellipse of the same area and
    /// second moments whose semi-axes each lose <see cref="EdgeSpread"/>. At least 1. The followed pixels (map indices)
    /// are added to <paramref name="followed"/> when one is given: where the pixels of the part are looked at (<see cref="GoodPixels"/>).
    /// </summary>
    public double Area(Grid2D map, double background, int peakX, int peakY, PixelBox box, bool[] taken, List<int>? followed = null)
    {
        int w = map.Width, h = map.Height;
        float peak = map.Values[peakY * w + peakX];
        if (!(peak > background) || taken[peakY * w + peakX]) return 1;
        float level = (float)(background + Level * (peak - background));
        int x0 = Math.Max(0, box.X - Reach), x1 = Math.Min(w, box.X + box.Width + Reach);
        int y0 = Math.Max(0, box.Y - Reach), y1 = Math.Min(h, box.Y + box.Height + Reach);

        var stack = new Stack<int>();
        stack.Push(peakY * w + peakX);
        taken[peakY * w + peakX] = true;
        double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        while (stack.Count > 0)
        {
            int i = stack.Pop(), y = i / w, x = i % w;
            followed?.Add(i);
            n++; sx += x; sy += y; sxx += (double)x * x; syy += (double)y * y; sxy += (double)x * y;
            for (int yy = Math.Max(y0, y - 1); yy <= Math.Min(y1 - 1, y + 1); yy++)
            for (int xx = Math.Max(x0, x - 1); xx <= Math.Min(x1 - 1, x + 1); xx++)
            {
                int j = yy * w + xx;
                if (!taken[j] && map.Values[j] > level) { taken[j] = true; stack.Push(j); }
            }
        }
        return ShrunkEllipse(n, sx, sy, sxx, syy, sxy, EdgeSpread);
    }

    /// <summary>
    /// The area of the ellipse with the pixels' count and second moments (the axes' ratio from the moments, the area
    /// from the count) after each semi-axis loses <paramref name="shrink"/>, none below half a pixel.
    /// </summary>
    static double ShrunkEllipse(double n, double sx, double sy, double sxx, double syy, double sxy, double shrink)
    {
        double cx = sx / n, cy = sy / n;
        double vxx = sxx / n - cx * cx, vyy = syy / n - cy * cy, vxy = sxy / n - cx * cy;
        double mean = (vxx + vyy) / 2, spread = Math.Sqrt((vxx - vyy) * (vxx - vyy) / 4 + vxy * vxy);
        // Pixels are squares: a single pixel has variance 1/12 along each axis, so the axes never vanish.
        double major = Math.Sqrt(mean + spread + 1.0 / 12), minor = Math.Sqrt(Math.Max(0, mean - spread) + 1.0 / 12);
        double scale = Math.Sqrt(n / (Math.PI * major * minor));
        double a = Math.Max(0.5, major * scale - shrink), b = Math.Max(0.5, minor * scale - shrink);
        return Math.Max(1, Math.PI * a * b);
    }

    /// <summary>
    /// How far beyond the edge of a half-plane defect its blurred map stays above <paramref name="level"/> (of the
    /// defect's full height): the distance from the point-spread function's centre column at which the mass of the
    /// columns further out falls to <paramref name="level"/>.
    /// </summary>
    static double EdgeSpreadOf(Grid2D psf, double level)
    {
        var columns = new double[psf.Width];
        double total = 0;
        for (int y = 0; y < psf.Height; y++)
        for (int x = 0; x < psf.Width; x++)
        {
            double v = psf.Values[y * psf.Width + x];
            if (v > 0 && double.IsFinite(v)) { columns[x] += v; total += v; }   // an embedding that answers NaN blurs nothing
        }
        if (total <= 0) return 0;
        double centroid = 0;
        for (int x = 0; x < psf.Width; x++) centroid += x * columns[x] / total;
        int centre = (int)Math.Round(centroid);   // a whole column: the distances below are whole pixels
        // Outside a defect whose last column is 0, pixel column t holds the mass of the columns t and further from the
        // centre (both sides, to stay symmetric for a lopsided function), and its centre is t - 0.5 from the edge; walk
        // out until that mass falls to the level.
        double Tail(double t)
        {
            double mass = 0;
            for (int x = 0; x < psf.Width; x++)
                mass += (x - centre >= t ? columns[x] : 0) + (centre - x >= t ? columns[x] : 0);
            return mass / (2 * total);
        }
        double previous = Tail(0);
        for (int t = 1; t < psf.Width; t++)
        {
            double tail = Tail(t);
            if (tail <= level) return Math.Max(0, t - 1.5 + (previous - level) / Math.Max(1e-12, previous - tail));
            previous = tail;
        }
        return psf.Width;
    }

    static int ReachOf(Grid2D psf, double level)
    {
        float peak = psf.Values.Where(float.IsFinite).DefaultIfEmpty(0).Max();
        if (!(peak > 0)) return 0;
        int peakIndex = Array.IndexOf(psf.Values, peak), px = peakIndex % psf.Width, py = peakIndex / psf.Width;
        double reach = 0;
        for (int y = 0; y < psf.Height; y++)
        for (int x = 0; x < psf.Width; x++)
            if (psf.Values[y * psf.Width + x] > level * peak) reach = Math.Max(reach, Math.Sqrt((x - px) * (x - px) + (y - py) * (y - py)));
        return (int)Math.Ceiling(reach);
    }
}
