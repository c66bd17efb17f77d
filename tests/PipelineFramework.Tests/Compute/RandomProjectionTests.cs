using PipelineFramework.Compute;

namespace PipelineFramework.Tests.Compute;

public class RandomProjectionTests
{
    [Fact]
    public void Matrix_IsDeterministicAndGaussianWithVarianceOneOverOutDim()
    {
        const int inDim = 200, outDim = 50;
        var a = RandomProjection.CreateMatrix(inDim, outDim, 42);
        var b = RandomProjection.CreateMatrix(inDim, outDim, 42);
        var c = RandomProjection.CreateMatrix(inDim, outDim, 43);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        double mean = a.Average(v => (double)v);
        double variance = a.Sum(v => (v - mean) * (v - mean)) / (a.Length - 1);
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.9 / outDim, 1.1 / outDim);
        // Roughly 68 % within one standard deviation.
        double sd = Math.Sqrt(1.0 / outDim);
        double within = a.Count(v => Math.Abs(v) <= sd) / (double)a.Length;
        Assert.InRange(within, 0.64, 0.72);
    }

    [Fact]
    public void Project_EqualsMatrixProduct()
    {
        const int count = 7, inDim = 9, outDim = 4;
        var data = ComputeTestData.Random(count * inDim, 1);
        var m = RandomProjection.CreateMatrix(inDim, outDim, 5);
        var projected = RandomProjection.Project(data, count, inDim, m, outDim);
        for (int i = 0; i < count; i++)
            for (int j = 0; j < outDim; j++)
            {
                double s = 0;
                for (int p = 0; p < inDim; p++) s += data[i * inDim + p] * m[p * outDim + j];
                Assert.Equal(s, projected[i * outDim + j], tolerance: 1e-4);
            }
    }
}
