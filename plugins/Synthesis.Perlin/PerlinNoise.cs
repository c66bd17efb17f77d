using PipelineFramework.Compute;

namespace PipelineFramework.Synthesis.Perlin;

/// <summary>
/// 2-D Perlin gradient noise on an unbounded lattice: each lattice point gets a unit gradient from a hash of
/// (key, x, y), so any region (including a rotated one) can be evaluated without storing a gradient grid.
/// Follows DRAEM's <c>rand_perlin_2d</c>: quintic fade, bilinear blend of the four corner dot products, times √2,
/// which puts the values roughly in [-1, 1].
/// </summary>
internal static class PerlinNoise
{
    public static double Sample(ulong key, double x, double y)
    {
        double fx0 = Math.Floor(x), fy0 = Math.Floor(y);
        long x0 = (long)fx0, y0 = (long)fy0;
        double fx = x - fx0, fy = y - fy0;

        double n00 = Corner(key, x0, y0, fx, fy);
        double n10 = Corner(key, x0 + 1, y0, fx - 1, fy);
        double n01 = Corner(key, x0, y0 + 1, fx, fy - 1);
        double n11 = Corner(key, x0 + 1, y0 + 1, fx - 1, fy - 1);
        double u = Fade(fx), v = Fade(fy);
        double top = n00 + u * (n10 - n00), bottom = n01 + u * (n11 - n01);
        return Math.Sqrt(2.0) * (top + v * (bottom - top));
    }

    private static double Fade(double t) => t * t * t * (t * (t * 6 - 15) + 10);

    private static double Corner(ulong key, long ix, long iy, double dx, double dy)
    {
        ulong h;
        unchecked
        {
            ulong state = key ^ ((ulong)ix * 0x9E3779B97F4A7C15UL) ^ ((ulong)iy * 0xC2B2AE3D27D4EB4FUL);
            h = SeededRandom.SplitMix64(ref state);
        }
        double angle = 2 * Math.PI * ((h >> 11) * (1.0 / (1UL << 53)));
        return Math.Cos(angle) * dx + Math.Sin(angle) * dy;
    }
}
