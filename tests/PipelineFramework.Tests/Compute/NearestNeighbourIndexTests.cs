using PipelineFramework.Compute;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Tests.Compute;

[Collection("ComputeKernelPath")]
public class NearestNeighbourIndexTests
{
    /// <summary>Brute force in double: (distance, index) sorted by distance then index.</summary>
    private static (double[] D, int[] I) BruteForce(float[] bank, int count, float[] queries, int queryCount, int dim, int k)
    {
        var d = new double[queryCount * k];
        var ix = new int[queryCount * k];
        var all = new (double, int)[count];
        for (int q = 0; q < queryCount; q++)
        {
            for (int b = 0; b < count; b++)
            {
                double s = 0;
                for (int j = 0; j < dim; j++) { double t = (double)queries[q * dim + j] - bank[b * dim + j]; s += t * t; }
                all[b] = (Math.Sqrt(s), b);
            }
            Array.Sort(all, (x, y) => x.Item1 != y.Item1 ? x.Item1.CompareTo(y.Item1) : x.Item2.CompareTo(y.Item2));
            for (int t = 0; t < k; t++) { d[q * k + t] = all[t].Item1; ix[q * k + t] = all[t].Item2; }
        }
        return (d, ix);
    }

    private static void Check(int count, int queryCount, int dim, int k, int maxThreads, int seed)
    {
        var bank = ComputeTestData.Random(count * dim, seed, 0f, 1f);
        var queries = ComputeTestData.Random(queryCount * dim, seed + 1, 0f, 1f);
        var index = new NearestNeighbourIndex(bank, count, dim);
        var dist = new float[queryCount * k];
        var idx = new int[queryCount * k];
        index.Search(queries, queryCount, k, dist, idx, maxThreads);
        var (ed, ei) = BruteForce(bank, count, queries, queryCount, dim, k);
        for (int q = 0; q < queryCount; q++)
            for (int t = 0; t < k; t++)
            {
                int o = q * k + t;
                Assert.True(Math.Abs(dist[o] - ed[o]) <= 1e-3 * ed[o] + 1e-5, $"query {q} rank {t}: distance {dist[o]} vs {ed[o]}");
                // Exact index agreement whenever the brute-force distances are distinct around this rank.
                bool distinct = (t == 0 || ed[o] - ed[o - 1] > 1e-4 * ed[o]) && (t == k - 1 || ed[o + 1] - ed[o] > 1e-4 * ed[o]);
                if (distinct) Assert.Equal(ei[o], idx[o]);
            }
        for (int o = 1; o < dist.Length; o++)
            if (o % k != 0) Assert.True(dist[o] >= dist[o - 1], "distances must ascend within a query");
    }

    [Theory]
    [InlineData(1000, 77, 75, 1, 0)]     // bank not a multiple of 12 / the chunk size, odd dim
    [InlineData(1000, 77, 75, 3, 0)]
    [InlineData(3001, 130, 75, 3, 2)]    // several chunks, query blocks split over threads
    [InlineData(2500, 70, 33, 1, 2)]     // 3 panels on 2 threads: bank split over threads and merged
    [InlineData(2500, 40, 33, 5, 3)]
    [InlineData(13, 5, 7, 3, 1)]         // tiny bank with a 1-row tail
    [InlineData(500, 64, 160, 9, 0)]
    public void MatchesBruteForce(int count, int queryCount, int dim, int k, int maxThreads)
        => Check(count, queryCount, dim, k, maxThreads, seed: count + dim + k);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void OtherKernelPaths_MatchBruteForce(int pathId)
    {
        var previous = MicroKernel.Override;
        MicroKernel.Override = (KernelPath)pathId;
        try { Check(700, 45, 75, 3, 2, seed: 11); }
        finally { MicroKernel.Override = previous; }
    }

    [Fact]
    public void BankPointsFindThemselves()
    {
        const int count = 300, dim = 19;
        var bank = ComputeTestData.Random(count * dim, 5);
        var index = new NearestNeighbourIndex(bank, count, dim);
        var dist = new float[count];
        var idx = new int[count];
        index.Search(bank, count, 1, dist, idx);
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(i, idx[i]);
            Assert.Equal(0f, dist[i]);
        }
    }

    [Fact]
    public void KLargerThanBank_PadsWithMinusOne()
    {
        var bank = new float[] { 0, 0, 3, 4 }; // two 2-D points
        var index = new NearestNeighbourIndex(bank, 2, 2);
        var dist = new float[3];
        var idx = new int[3];
        index.Search(new float[] { 0, 0 }, 1, 3, dist, idx);
        Assert.Equal(new[] { 0, 1, -1 }, idx);
        Assert.Equal(0f, dist[0]);
        Assert.Equal(5f, dist[1], tolerance: 1e-5);
        Assert.True(float.IsPositiveInfinity(dist[2]));
    }

    [Fact]
    public void ExposesBankShape()
    {
        var bank = new float[12];
        var index = new NearestNeighbourIndex(bank, 4, 3);
        Assert.Same(bank, index.Bank);
        Assert.Equal(4, index.Count);
        Assert.Equal(3, index.Dim);
    }
}
