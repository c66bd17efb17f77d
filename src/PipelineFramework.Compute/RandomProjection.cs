using PipelineFramework.Compute.Internal;

namespace PipelineFramework.Compute;

public static class RandomProjection
{
    private const ulong Stream = 0x52414E44_50524F4AUL; // "RANDPROJ"

    /// Gaussian N(0, 1/outDim) matrix [inDim, outDim] row-major, deterministic for seed (SplitMix64 + Box-Muller).
    public static float[] CreateMatrix(int inDim, int outDim, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outDim);
        var matrix = new float[checked(inDim * outDim)];
        var rng = SplitMix64.ForSeed(seed, Stream);
        double std = 1.0 / Math.Sqrt(outDim);
        for (int i = 0; i < matrix.Length; i += 2)
        {
            // Box-Muller: u1 in (0, 1] so the log is finite.
            double u1 = 1.0 - rng.NextDouble();
            double u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1)) * std;
            double a = 2.0 * Math.PI * u2;
            matrix[i] = (float)(r * Math.Cos(a));
            if (i + 1 < matrix.Length) matrix[i + 1] = (float)(r * Math.Sin(a));
        }
        return matrix;
    }

    /// data [count, inDim] x matrix [inDim, outDim] -> [count, outDim]; uses Gemm.
    public static float[] Project(float[] data, int count, int inDim, float[] matrix, int outDim)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (matrix.Length < (long)inDim * outDim) throw new ArgumentException($"Matrix needs {(long)inDim * outDim} floats.", nameof(matrix));
        var result = new float[checked(count * outDim)];
        Gemm.Multiply(data, matrix, result, count, inDim, outDim);
        return result;
    }
}
