namespace PipelineFramework.Compute;

/// <summary>
/// xoshiro256** seeded through SplitMix64: the one seeded generator shared by the plugins.
/// </summary>
/// <remarks>
/// Our own small PRNG rather than <see cref="System.Random"/>, whose algorithm is not part of its contract and may
/// change between .NET versions and platforms. With this one a seed gives the same draws everywhere, so the same seed
/// gives the same synthetic defects and the same trained models. Do not change the arithmetic: saved models and
/// pinned test values depend on the exact stream.
/// </remarks>
public sealed class SeededRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public SeededRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x); _s1 = SplitMix64(ref x); _s2 = SplitMix64(ref x); _s3 = SplitMix64(ref x);
    }

    /// <summary>A stream for one (seed, purpose) pair; the salt keeps plugins' streams unrelated for equal seeds.</summary>
    public static SeededRandom Create(int seed, ulong salt) => new(((ulong)(uint)seed << 32 | (uint)seed) ^ salt);

    /// <summary>Independent stream number <paramref name="stream"/> of a seed (e.g. one per image, for parallel work).</summary>
    public static SeededRandom Create(int seed, ulong salt, long stream)
    {
        ulong x = ((ulong)(uint)seed << 32 | (uint)seed) ^ salt;
        unchecked { x ^= SplitMix64(ref x) + (ulong)stream * 0xD1B54A32D192ED03UL; }
        return new SeededRandom(x);
    }

    /// <summary>One SplitMix64 step: advances <paramref name="x"/> and returns a well-mixed 64-bit value (also usable as a hash).</summary>
    public static ulong SplitMix64(ref ulong x)
    {
        unchecked
        {
            x += 0x9E3779B97F4A7C15UL;
            ulong z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    public ulong NextULong()
    {
        unchecked
        {
            ulong result = RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
            _s2 ^= t;
            _s3 = RotateLeft(_s3, 45);
            return result;
        }
    }

    private static ulong RotateLeft(ulong v, int k) => (v << k) | (v >> (64 - k));

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [a, b).</summary>
    public double Uniform(double a, double b) => a + (b - a) * NextDouble();

    /// <summary>Log-uniform in [a, b] (a, b &gt; 0).</summary>
    public double LogUniform(double a, double b) => Math.Exp(Uniform(Math.Log(a), Math.Log(b)));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 1) return 0;
        return (int)(((NextULong() >> 32) * (ulong)n) >> 32);
    }

    /// <summary>Uniform integer in [lo, hi] (inclusive).</summary>
    public int NextInt(int lo, int hi) => hi <= lo ? lo : lo + NextInt(hi - lo + 1);

    /// <summary>Fills with i.i.d. N(0, sigma²) draws (Box–Muller, both values of each pair used).</summary>
    public void FillGaussian(Span<float> destination, float sigma)
    {
        int i = 0;
        while (i < destination.Length)
        {
            double u1 = 1.0 - NextDouble(); // (0, 1]
            double u2 = NextDouble();
            double radius = Math.Sqrt(-2.0 * Math.Log(u1)) * sigma, angle = 2.0 * Math.PI * u2;
            destination[i++] = (float)(radius * Math.Cos(angle));
            if (i < destination.Length) destination[i++] = (float)(radius * Math.Sin(angle));
        }
    }
}

public static class SeededRandomExtensions
{
    /// <summary>Fisher-Yates in place: the same permutation for the same generator state on every machine.</summary>
    public static void Shuffle<T>(this SeededRandom random, Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
