using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

public class KCenterGreedyTests
{
    /// <summary>Textbook O(n * k) greedy: after each pick update every min distance, then take the first argmax.</summary>
    private static int[] NaiveGreedy(float[] x, int n, int d, int select, int start)
    {
        var minD = Enumerable.Repeat(float.PositiveInfinity, n).ToArray();
        var picks = new List<int> { start };
        minD[start] = -1f;
        int last = start;
        while (picks.Count < select)
        {
            for (int i = 0; i < n; i++)
            {
                if (minD[i] < 0f) continue;
                float s = 0f;
                for (int p = 0; p < d; p++)
                {
                    float t = x[i * d + p] - x[last * d + p];
                    s = MathF.FusedMultiplyAdd(t, t, s);
                }
                if (s < minD[i]) minD[i] = s;
            }
            int best = -1;
            for (int i = 0; i < n; i++)
                if (minD[i] >= 0f && (best < 0 || minD[i] > minD[best])) best = i;
            picks.Add(best);
            minD[best] = -1f;
            last = best;
        }
        return picks.ToArray();
    }

    [Fact]
    public void PointsOnALine_PickFarthestFirst()
    {
        // 2-D points at x = 0, 1, 10, 11, 100 (y = 0).
        var data = new float[] { 0, 0, 1, 0, 10, 0, 11, 0, 100, 0 };
        var picks = KCenterGreedy.Select(data, 5, 2, 5, projectionDim: 0, seed: 0, startIndex: 0);
        // From 0: farthest is 100 (index 4); then 11 (min distance 11 to {0, 100}, beats 10's 10 and 1's 1);
        // then 1 and 10 are both at distance 1 from the set: the tie goes to the lower index (1), and 10 comes last.
        Assert.Equal(new[] { 0, 4, 3, 1, 2 }, picks);
    }

    [Fact]
    public void PointsOnALine_StartInTheMiddle()
    {
        var data = new float[] { 0, 0, 1, 0, 10, 0, 11, 0, 100, 0 };
        var picks = KCenterGreedy.Select(data, 5, 2, 3, projectionDim: 0, seed: 0, startIndex: 2);
        // From 10: 100 (90), then 0 (min(10, 100) = 10 beats 1's 9 and 11's 1).
        Assert.Equal(new[] { 2, 4, 0 }, picks);
    }

    [Theory]
    [InlineData(700, 13, 150, 2)]  // several batch flushes (64 centres per batch)
    [InlineData(301, 5, 40, 1)]
    [InlineData(1000, 24, 300, 0)]
    [InlineData(3000, 6, 700, 2)]  // more points than the candidate heap holds
    public void RandomData_MatchesNaiveGreedy(int n, int d, int select, int maxThreads)
    {
        var x = ComputeTestData.Random(n * d, n + d);
        int start = n / 3;
        var expected = NaiveGreedy(x, n, d, select, start);
        var actual = KCenterGreedy.Select(x, n, d, select, projectionDim: 0, seed: 0, startIndex: start, maxThreads: maxThreads);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void WithProjection_MatchesNaiveGreedyOnProjectedData()
    {
        const int n = 400, d = 40, pd = 16, select = 90, seed = 7;
        var x = ComputeTestData.Random(n * d, 99);
        var projected = RandomProjection.Project(x, n, d, RandomProjection.CreateMatrix(d, pd, seed), pd);
        int start = KCenterGreedy.StartIndex(n, seed);
        var expected = NaiveGreedy(projected, n, pd, select, start);
        Assert.Equal(expected, KCenterGreedy.Select(x, n, d, select, projectionDim: pd, seed: seed));
    }

    [Fact]
    public void ReturnsDistinctIndices_AndIsDeterministic()
    {
        const int n = 2000, d = 20;
        var x = ComputeTestData.Random(n * d, 5);
        var a = KCenterGreedy.Select(x, n, d, 500, projectionDim: 8, seed: 3);
        var b = KCenterGreedy.Select(x, n, d, 500, projectionDim: 8, seed: 3);
        Assert.Equal(500, a.Length);
        Assert.Equal(500, a.Distinct().Count());
        Assert.All(a, i => Assert.InRange(i, 0, n - 1));
        Assert.Equal(a, b);
        Assert.Equal(a[0], KCenterGreedy.StartIndex(n, 3));
        var c = KCenterGreedy.Select(x, n, d, 500, projectionDim: 8, seed: 4);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void DuplicatePoints_StillDistinct_AndSelectAll()
    {
        // Four copies of two points: once both are picked, every min distance is zero.
        var x = new float[] { 0, 0, 5, 5, 0, 0, 5, 5, 0, 0, 5, 5, 0, 0, 5, 5 };
        var picks = KCenterGreedy.Select(x, 8, 2, 8, projectionDim: 0, seed: 1);
        Assert.Equal(8, picks.Distinct().Count());
    }
}
