namespace PipelineFramework.Synthesis.Blend;

/// <summary>
/// Poisson image editing (Pérez, Gangnet, Blake 2003) on a rectangle Ω of one channel: find f on Ω with
/// Δf = div v inside and f = target on the 1-pixel ring around Ω (Dirichlet), i.e. for every p in Ω
/// 4·f_p − Σ_{q∈N(p)∩Ω} f_q = Σ_{q∈N(p)} v_pq + Σ_{q∈N(p)∖Ω} t_q, with guidance v_pq = s_p − s_q (source) or the
/// stronger of that and t_p − t_q (mixed). The matrix is symmetric positive definite; solved by conjugate gradients
/// in double precision with a sequential, fixed order of operations (deterministic).
/// </summary>
internal static class PoissonSolver
{
    public const double RelativeTolerance = 1e-6;

    /// <param name="target">One target channel, row-major, row length <paramref name="targetWidth"/>.</param>
    /// <param name="source">One source channel, row-major, row length <paramref name="sourceWidth"/>.</param>
    /// <param name="tx">Ω's left column in the target (≥ 1, and Ω leaves a 1-pixel ring inside the image).</param>
    /// <param name="sx">The patch's left column in the source (same margin rule).</param>
    /// <returns>f on Ω, row-major pw × ph.</returns>
    public static double[] Solve(ReadOnlySpan<float> target, int targetWidth, ReadOnlySpan<float> source, int sourceWidth,
        int tx, int ty, int sx, int sy, int pw, int ph, bool mixed, int maxIterations)
    {
        int n = pw * ph;
        var b = new double[n];
        var x = new double[n];
        double ringT = 0, ringS = 0; int ringCount = 0;
        for (int y = 0; y < ph; y++)
        {
            for (int xx = 0; xx < pw; xx++)
            {
                int p = y * pw + xx;
                int ti = (ty + y) * targetWidth + tx + xx, si = (sy + y) * sourceWidth + sx + xx;
                double sum = 0;
                for (int k = 0; k < 4; k++)
                {
                    int dx = k == 0 ? -1 : k == 1 ? 1 : 0, dy = k == 2 ? -1 : k == 3 ? 1 : 0;
                    int tq = ti + dy * targetWidth + dx, sq = si + dy * sourceWidth + dx;
                    double vs = source[si] - (double)source[sq];
                    double v = vs;
                    if (mixed)
                    {
                        double vt = target[ti] - (double)target[tq];
                        if (Math.Abs(vt) > Math.Abs(vs)) v = vt;
                    }
                    sum += v;
                    int nx = xx + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= pw || ny >= ph)
                    {
                        sum += target[tq]; // Dirichlet boundary
                        ringT += target[tq]; ringS += source[sq]; ringCount++;
                    }
                }
                b[p] = sum;
                x[p] = source[si];
            }
        }
        // Start from the source shifted to the boundary's mean level: the remaining error is smooth and small.
        double offset = (ringT - ringS) / ringCount;
        for (int p = 0; p < n; p++) x[p] += offset;

        var r = new double[n];
        var d = new double[n];
        var ad = new double[n];
        Apply(x, ad, pw, ph);
        double rr = 0, bb = 0;
        for (int p = 0; p < n; p++) { r[p] = b[p] - ad[p]; d[p] = r[p]; rr += r[p] * r[p]; bb += b[p] * b[p]; }
        double stop = RelativeTolerance * RelativeTolerance * Math.Max(bb, 1e-30);
        for (int it = 0; it < maxIterations && rr > stop; it++)
        {
            Apply(d, ad, pw, ph);
            double dAd = 0;
            for (int p = 0; p < n; p++) dAd += d[p] * ad[p];
            if (dAd <= 0) break;
            double alpha = rr / dAd, rrNew = 0;
            for (int p = 0; p < n; p++) { x[p] += alpha * d[p]; r[p] -= alpha * ad[p]; rrNew += r[p] * r[p]; }
            double beta = rrNew / rr;
            for (int p = 0; p < n; p++) d[p] = r[p] + beta * d[p];
            rr = rrNew;
        }
        return x;
    }

    /// <summary>y = A·x with A = 4I − (adjacency inside Ω).</summary>
    private static void Apply(double[] x, double[] y, int pw, int ph)
    {
        for (int row = 0; row < ph; row++)
        {
            for (int col = 0; col < pw; col++)
            {
                int p = row * pw + col;
                double v = 4 * x[p];
                if (col > 0) v -= x[p - 1];
                if (col < pw - 1) v -= x[p + 1];
                if (row > 0) v -= x[p - pw];
                if (row < ph - 1) v -= x[p + pw];
                y[p] = v;
            }
        }
    }
}
