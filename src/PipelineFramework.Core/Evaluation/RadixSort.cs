using System.Runtime.InteropServices;

namespace PipelineFramework.Core.Evaluation;

/// <summary>
/// Ascending LSD radix sort of float keys with a payload (3 passes of 11 bits, O(n)): an order of magnitude faster
/// than <see cref="Array.Sort{TKey, TValue}(TKey[], TValue[])"/> on millions of pixel scores. Small arrays use
/// Array.Sort. Keys must not be NaN. The result orders keys as float comparison does (-0 sorts just before +0, which
/// compare equal and stay adjacent); items follow their keys (stable).
/// </summary>
internal static class RadixSort
{
    const int Bits = 11, Buckets = 1 << Bits, DigitMask = Buckets - 1;
    internal const int MinLength = 1 << 15;

    public static void Sort<TItem>(float[] keys, TItem[] items) where TItem : unmanaged
    {
        if (keys.Length != items.Length) throw new ArgumentException("Keys and items differ in length.");
        if (keys.Length < MinLength) { Array.Sort(keys, items); return; }
        SortRadix(keys, items);
    }

    internal static void SortRadix<TItem>(float[] keys, TItem[] items) where TItem : unmanaged
    {
        int n = keys.Length;
        var k = MemoryMarshal.Cast<float, uint>(keys.AsSpan());
        var histogram = new int[3 * Buckets];
        for (int i = 0; i < n; i++)
        {
            // Order-preserving map of IEEE floats to unsigned integers: flip all bits of negatives, the sign of positives.
            uint b = k[i];
            uint u = (b & 0x8000_0000u) != 0 ? ~b : b | 0x8000_0000u;
            k[i] = u;
            histogram[u & DigitMask]++;
            histogram[Buckets + ((u >> Bits) & DigitMask)]++;
            histogram[2 * Buckets + (u >> (2 * Bits))]++;
        }

        var tempKeys = GC.AllocateUninitializedArray<uint>(n);
        var tempItems = GC.AllocateUninitializedArray<TItem>(n);
        Span<uint> srcK = k, dstK = tempKeys;
        Span<TItem> srcI = items, dstI = tempItems;
        bool inTemp = false;
        var offsets = new int[Buckets];
        for (int pass = 0; pass < 3; pass++)
        {
            var counts = histogram.AsSpan(pass * Buckets, Buckets);
            if (counts.Contains(n)) continue; // every key has the same digit: nothing to move
            int sum = 0;
            for (int d = 0; d < Buckets; d++) { offsets[d] = sum; sum += counts[d]; }
            int shift = pass * Bits;
            for (int i = 0; i < n; i++)
            {
                uint u = srcK[i];
                int pos = offsets[(int)((u >> shift) & DigitMask)]++;
                dstK[pos] = u;
                dstI[pos] = srcI[i];
            }
            var tk = srcK; srcK = dstK; dstK = tk;
            var ti = srcI; srcI = dstI; dstI = ti;
            inTemp = !inTemp;
        }
        if (inTemp)
        {
            srcK.CopyTo(k);
            srcI.CopyTo(items);
        }
        for (int i = 0; i < n; i++)
        {
            uint u = k[i];
            k[i] = (u & 0x8000_0000u) != 0 ? u & 0x7FFF_FFFFu : ~u;
        }
    }
}
