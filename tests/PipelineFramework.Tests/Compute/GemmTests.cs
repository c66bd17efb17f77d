using PipelineFramework.Compute;
using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Tests.Compute;

[Collection("ComputeKernelPath")]
public class GemmTests
{
    private static double[] Naive(float[] a, float[] b, int m, int k, int n, bool transposedB)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * (transposedB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = s;
            }
        return c;
    }

    private static void AssertClose(double[] expected, float[] actual, int k)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = 1e-5 * k + 1e-5 * Math.Abs(expected[i]);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    public static IEnumerable<object[]> Sizes() => new[]
    {
        new object[] { 37, 129, 61 },
        new object[] { 1, 1, 1 },
        new object[] { 12, 7, 32 },
        new object[] { 13, 300, 33 },
        new object[] { 200, 64, 70 },
        new object[] { 5, 513, 3 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Multiply_MatchesNaive(int m, int k, int n)
    {
        var a = ComputeTestData.Random(m * k, 1);
        var b = ComputeTestData.Random(k * n, 2);
        var c = Enumerable.Repeat(float.NaN, m * n).ToArray(); // must be overwritten
        Gemm.Multiply(a, b, c, m, k, n);
        AssertClose(Naive(a, b, m, k, n, false), c, k);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MultiplyTransposedB_MatchesNaive(int m, int k, int n)
    {
        var a = ComputeTestData.Random(m * k, 3);
        var b = ComputeTestData.Random(n * k, 4);
        var c = Enumerable.Repeat(float.NaN, m * n).ToArray();
        Gemm.MultiplyTransposedB(a, b, c, m, k, n, maxThreads: 2);
        AssertClose(Naive(a, b, m, k, n, true), c, k);
    }

    [Theory]
    [InlineData(1)] // AVX-512 (falls back when unsupported)
    [InlineData(2)] // AVX2 + FMA
    [InlineData(3)] // portable Vector<T>
    public void EveryKernelPath_MatchesNaive(int pathId)
    {
        const int m = 37, k = 129, n = 61;
        var a = ComputeTestData.Random(m * k, 5);
        var b = ComputeTestData.Random(k * n, 6);
        var c = new float[m * n];
        var previous = MicroKernel.Override;
        MicroKernel.Override = (KernelPath)pathId;
        try { Gemm.Multiply(a, b, c, m, k, n); }
        finally { MicroKernel.Override = previous; }
        AssertClose(Naive(a, b, m, k, n, false), c, k);
    }

    [Fact]
    public void ParallelLargerProblem_MatchesNaive()
    {
        const int m = 250, k = 270, n = 90;
        var a = ComputeTestData.Random(m * k, 7);
        var b = ComputeTestData.Random(k * n, 8);
        var c = new float[m * n];
        Gemm.Multiply(a, b, c, m, k, n, maxThreads: 3);
        AssertClose(Naive(a, b, m, k, n, false), c, k);
    }

    [Fact]
    public void ZeroInnerDimension_ClearsOutput()
    {
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        Gemm.Multiply(Array.Empty<float>(), Array.Empty<float>(), c, 2, 0, 3);
        Assert.All(c, v => Assert.Equal(0f, v));
    }
}

[CollectionDefinition("ComputeKernelPath", DisableParallelization = true)]
public class ComputeKernelPathCollection { }

public class ScratchTests
{
    [Fact]
    public unsafe void NestedRentOfOneSlot_GetsSeparateBuffers()
    {
        using var outer = Scratch.Rent(Scratch.RowTail, 100);
        using var inner = Scratch.Rent(Scratch.RowTail, 100);
        Assert.True(outer.Pointer != inner.Pointer);
        Assert.Equal(0, (long)outer.Pointer % 64);
        Assert.Equal(0, (long)inner.Pointer % 64);
    }

    [Fact]
    public unsafe void ReleasedSlot_IsReused()
    {
        nint first;
        using (var a = Scratch.Rent(Scratch.RowTail, 64)) first = (nint)a.Pointer;
        using var b = Scratch.Rent(Scratch.RowTail, 32);
        Assert.Equal(first, (nint)b.Pointer);
    }
}
