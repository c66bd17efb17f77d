using PipelineFramework.Core.Evaluation;

namespace PipelineFramework.Tests.Evaluation;

public class RadixSortTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1000)]
    [InlineData(3, 70_000)]
    public void MatchesArraySort_WithSpecialValuesAndTies(int seed, int n)
    {
        var random = new Random(seed);
        float[] special = [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 1f, -1f];
        var keys = new float[n];
        var items = new int[n];
        for (int i = 0; i < n; i++)
        {
            keys[i] = (i % 7) switch
            {
                0 => special[random.Next(special.Length)],
                1 => MathF.Round(random.NextSingle() * 10) / 10, // many ties
                _ => (random.NextSingle() - 0.5f) * MathF.Pow(10, random.Next(-30, 30)),
            };
            items[i] = i;
        }
        var expectedKeys = (float[])keys.Clone();
        Array.Sort(expectedKeys);
        var original = (float[])keys.Clone();

        RadixSort.SortRadix(keys, items);

        for (int i = 0; i < n; i++)
        {
            Assert.True(keys[i] == expectedKeys[i], $"position {i}: {keys[i]} vs {expectedKeys[i]}");
            Assert.Equal(BitConverter.SingleToInt32Bits(original[items[i]]), BitConverter.SingleToInt32Bits(keys[i])); // payload follows its key
        }
        Assert.Equal(Enumerable.Range(0, n), items.Order()); // a permutation
    }

    [Fact]
    public void Sort_LargeInputUsesRadixAndSmallArraySort()
    {
        var random = new Random(4);
        foreach (int n in new[] { 10, RadixSort.MinLength + 5 })
        {
            var keys = Enumerable.Range(0, n).Select(_ => random.NextSingle() * 2 - 1).ToArray();
            var labels = keys.Select(k => k > 0.3f ? (byte)1 : (byte)0).ToArray();
            RadixSort.Sort(keys, labels);
            for (int i = 1; i < n; i++) Assert.True(keys[i - 1] <= keys[i]);
            for (int i = 0; i < n; i++) Assert.Equal(keys[i] > 0.3f ? 1 : 0, labels[i]);
        }
    }

    [Fact]
    public void AllEqualKeys()
    {
        var keys = Enumerable.Repeat(0.25f, 40_000).ToArray();
        var items = Enumerable.Range(0, 40_000).ToArray();
        RadixSort.SortRadix(keys, items);
        Assert.All(keys, k => Assert.Equal(0.25f, k));
        Assert.Equal(Enumerable.Range(0, 40_000), items); // stable
    }
}
