namespace PipelineFramework.Compute.Internal;

/// <summary>SplitMix64 generator (Steele, Lea, Flood 2014): tiny, fast, and stable across runtimes.</summary>
internal struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>Seeds from an int seed and a stream tag so different uses of one seed are decorrelated.</summary>
    public static SplitMix64 ForSeed(int seed, ulong stream)
    {
        var g = new SplitMix64(((ulong)(uint)seed << 32) ^ stream ^ 0x6A09E667F3BCC909UL);
        g.Next();
        return g;
    }

    public ulong Next() => SeededRandom.SplitMix64(ref _state);

    /// <summary>Uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, bound) (bound &gt; 0), rejection sampling to avoid modulo bias.</summary>
    public int NextInt(int bound)
    {
        ulong b = (ulong)bound;
        ulong limit = ulong.MaxValue - ulong.MaxValue % b;
        ulong x;
        do x = Next(); while (x >= limit);
        return (int)(x % b);
    }
}
