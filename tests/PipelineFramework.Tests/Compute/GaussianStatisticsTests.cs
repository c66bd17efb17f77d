using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

public class GaussianStatisticsTests
{
    [Fact]
    public void Estimate_MatchesNaiveMeanAndCovariance()
    {
        const int n = 9, positions = 2, dim = 3;
        var samples = ComputeTestData.Random(n * positions * dim, 21, -2f, 3f);
        const float shrinkage = 0.25f, epsilon = 0.01f;
        var (mean, inverse) = GaussianStatistics.Estimate(samples, n, positions, dim, shrinkage, epsilon);
        Assert.Equal(positions * dim, mean.Length);
        Assert.Equal(positions * dim * dim, inverse.Length);

        for (int p = 0; p < positions; p++)
        {
            var mu = new double[dim];
            for (int i = 0; i < n; i++)
                for (int a = 0; a < dim; a++) mu[a] += samples[(i * positions + p) * dim + a] / (double)n;
            for (int a = 0; a < dim; a++) Assert.Equal(mu[a], mean[p * dim + a], tolerance: 1e-5);

            var s = new double[dim, dim];
            for (int i = 0; i < n; i++)
                for (int a = 0; a < dim; a++)
                    for (int b = 0; b < dim; b++)
                        s[a, b] += (samples[(i * positions + p) * dim + a] - mu[a]) * (samples[(i * positions + p) * dim + b] - mu[b]) / (n - 1);
            double trace = s[0, 0] + s[1, 1] + s[2, 2];
            var cov = new double[dim, dim];
            for (int a = 0; a < dim; a++)
                for (int b = 0; b < dim; b++)
                    cov[a, b] = (1 - shrinkage) * s[a, b] + (a == b ? shrinkage * trace / dim + epsilon : 0);

            // inverse * cov == I verifies both the covariance and its inversion.
            for (int a = 0; a < dim; a++)
                for (int b = 0; b < dim; b++)
                {
                    double v = 0;
                    for (int c = 0; c < dim; c++) v += inverse[p * dim * dim + a * dim + c] * cov[c, b];
                    Assert.True(Math.Abs(v - (a == b ? 1 : 0)) < 1e-4, $"position {p}: (inv*cov)[{a},{b}] = {v}");
                }
        }
    }

    [Fact]
    public void Estimate_WithoutRegularisation_ThrowsNamingThePosition()
    {
        // Position 1 has identical samples, so its covariance is zero and not positive definite without epsilon.
        const int n = 4, positions = 2, dim = 2;
        var samples = ComputeTestData.Random(n * positions * dim, 3);
        for (int i = 0; i < n; i++) { samples[(i * positions + 1) * dim] = 1f; samples[(i * positions + 1) * dim + 1] = 2f; }
        var ex = Assert.Throws<InvalidOperationException>(() => GaussianStatistics.Estimate(samples, n, positions, dim, 0f, 0f));
        Assert.Contains("position 1", ex.Message);
        // With the default epsilon it is fine.
        GaussianStatistics.Estimate(samples, n, positions, dim);
    }

    [Fact]
    public void InvertSpd_TimesMatrix_IsIdentity()
    {
        const int dim = 17;
        var m = ComputeTestData.Random(dim * dim, 8);
        var a = new double[dim * dim];
        for (int i = 0; i < dim; i++)
            for (int j = 0; j < dim; j++)
            {
                double v = 0;
                for (int k = 0; k < dim; k++) v += (double)m[i * dim + k] * m[j * dim + k];
                a[i * dim + j] = v + (i == j ? 0.5 : 0);
            }
        var inv = GaussianStatistics.InvertSpd(a, dim);
        for (int i = 0; i < dim; i++)
            for (int j = 0; j < dim; j++)
            {
                double v = 0;
                for (int k = 0; k < dim; k++) v += inv[i * dim + k] * a[k * dim + j];
                Assert.True(Math.Abs(v - (i == j ? 1 : 0)) < 1e-4, $"({i},{j}) = {v}");
            }
    }

    [Fact]
    public void InvertSpd_NotPositiveDefinite_Throws()
    {
        var a = new double[] { 1, 2, 2, 1 }; // eigenvalues 3 and -1
        Assert.Throws<InvalidOperationException>(() => GaussianStatistics.InvertSpd(a, 2));
    }

    [Fact]
    public void Mahalanobis_WithIdentity_IsSquaredEuclidean()
    {
        const int dim = 37;
        var x = ComputeTestData.Random(dim, 1);
        var mean = ComputeTestData.Random(dim, 2);
        var identity = new float[dim * dim];
        for (int i = 0; i < dim; i++) identity[i * dim + i] = 1f;
        double expected = 0;
        for (int i = 0; i < dim; i++) expected += (x[i] - mean[i]) * (double)(x[i] - mean[i]);
        var scratch = new float[dim];
        Assert.Equal(expected, GaussianStatistics.MahalanobisSquared(x, mean, identity, dim, scratch), tolerance: 1e-4);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(37)]
    [InlineData(64)]
    public void Mahalanobis_MatchesNaiveQuadraticForm(int dim)
    {
        var x = ComputeTestData.Random(dim, 4);
        var mean = ComputeTestData.Random(dim, 5);
        var m = ComputeTestData.Random(dim * dim, 6);
        double expected = 0;
        for (int a = 0; a < dim; a++)
            for (int b = 0; b < dim; b++) expected += (x[a] - mean[a]) * (double)m[a * dim + b] * (x[b] - mean[b]);
        Assert.Equal(expected, GaussianStatistics.MahalanobisSquared(x, mean, m, dim, new float[dim]), tolerance: 1e-4 * Math.Max(1, Math.Abs(expected)));
    }
}
