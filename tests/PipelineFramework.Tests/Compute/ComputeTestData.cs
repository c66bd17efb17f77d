namespace PipelineFramework.Tests.Compute;

internal static class ComputeTestData
{
    public static float[] Random(int length, int seed, float min = -1f, float max = 1f)
    {
        var rng = new Random(seed);
        var data = new float[length];
        for (int i = 0; i < data.Length; i++) data[i] = min + (max - min) * (float)rng.NextDouble();
        return data;
    }
}
