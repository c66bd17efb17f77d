namespace PipelineFramework.Core.Images;

/// <summary>
/// Finds damage in a JPEG stream that the decoder passes over in silence. libjpeg only warns ("Corrupt JPEG data")
/// when entropy-coded data is overwritten but the end-of-image marker survives, and SkiaSharp drops those warnings and
/// reports Success, so a part whose file lost half its bytes decodes grey or blurred and is scored as if whole. This
/// reads the marker structure only (no Huffman decoding) and reports three things a real encoder never writes:
/// <list type="bullet">
/// <item>a run of <see cref="ZeroRun"/> or more zero bytes in entropy-coded data where the scan's Huffman tables cannot
/// code a flat area as zero bits (the first code of a table is all zeros; only when that code means "no change" or
/// "end of block" can a uniform area encode as zeros);</item>
/// <item>restart markers out of order;</item>
/// <item>a component whose coefficients are never sent to full precision (a progressive file whose later scans were
/// overwritten decodes blurred).</item>
/// </list>
/// Anything it cannot parse is left to the decoder, which refuses truncated and malformed files itself.
/// </summary>
public static class JpegDamage
{
    /// <summary>
    /// Zero bytes in a row taken as overwritten data where a flat area cannot explain them. The longest run in the 295
    /// JPEGs of the shipped hazelnut set and kolektorsdd, and in their progressive, optimised and restart-marked
    /// re-encodings (jpegtran), is 3 bytes.
    /// </summary>
    public const int ZeroRun = 32;

    /// <summary>What is wrong, in words for an error message, or null when nothing is found.</summary>
    public static string? Find(ReadOnlySpan<byte> jpeg)
    {
        // Huffman table (class << 4 | id) -> symbol of its all-zero code. Motion-JPEG frames leave out their tables and
        // libjpeg then uses the standard ones: DC difference 0 for both DC tables, AC 0x01 (luma) and end of block (chroma).
        var firstSymbol = new Dictionary<int, byte> { [0x00] = 0, [0x01] = 0, [0x10] = 0x01, [0x11] = 0x00 };
        var components = new List<byte>();
        var complete = new HashSet<(byte Component, int Coefficient)>();
        bool arithmetic = false, lossless = false;
        int i = 2;
        while (i + 1 < jpeg.Length)
        {
            if (jpeg[i] != 0xFF) return null; // not where a marker should be: the decoder judges it
            byte marker = jpeg[i + 1];
            if (marker == 0xFF) { i++; continue; } // fill byte
            if (marker == 0xD9) break; // end of image
            if (marker == 0x01 || marker is >= 0xD0 and <= 0xD7) { i += 2; continue; } // markers without a length
            if (i + 3 >= jpeg.Length) return null;
            int length = jpeg[i + 2] << 8 | jpeg[i + 3];
            if (length < 2 || i + 2 + length > jpeg.Length) return null;
            var segment = jpeg.Slice(i + 4, length - 2);
            i += 2 + length;
            switch (marker)
            {
                case 0xC4:
                    ReadHuffmanTables(segment, firstSymbol);
                    break;
                case >= 0xC0 and <= 0xCF when marker is not (0xC4 or 0xC8 or 0xCC):
                    if (segment.Length < 6) return null;
                    arithmetic = marker >= 0xC9;
                    // A lossless frame's scans carry a predictor, not coefficients: nothing to be complete.
                    lossless = marker is 0xC3 or 0xC7 or 0xCB or 0xCF;
                    components.Clear();
                    for (int c = 0; c < segment[5] && 8 + 3 * c < segment.Length; c++) components.Add(segment[6 + 3 * c]);
                    break;
                case 0xDA:
                    if (segment.Length < 1 || segment.Length < 4 + 2 * segment[0]) return null;
                    int count = segment[0];
                    int start = segment[1 + 2 * count], end = Math.Min((int)segment[2 + 2 * count], 63);
                    int high = segment[3 + 2 * count] >> 4, low = segment[3 + 2 * count] & 15;
                    bool zerosCanBeFlat = arithmetic;
                    if (!arithmetic)
                    {
                        zerosCanBeFlat = true;
                        for (int c = 0; c < count; c++)
                            zerosCanBeFlat &= ZerosCanBeFlat(segment[2 + 2 * c], start, end, high, firstSymbol);
                    }
                    if (low == 0)
                        for (int c = 0; c < count; c++)
                            for (int k = start; k <= end; k++) complete.Add((segment[1 + 2 * c], k));
                    var problem = ReadEntropyCodedData(jpeg, ref i, zerosCanBeFlat);
                    if (problem is not null) return problem;
                    break;
            }
        }
        if (lossless) return null;
        int missing = components.Sum(c => Enumerable.Range(0, 64).Count(k => !complete.Contains((c, k))));
        return missing == 0 ? null
            : $"its scans stop before {missing} of the {64 * components.Count} coefficients of its {components.Count} colour component(s) are complete " +
              "(later scans lost or overwritten), so it would decode blurred or blank";
    }

    /// <summary>Each table's symbols come in code order; the first one has the all-zero code.</summary>
    static void ReadHuffmanTables(ReadOnlySpan<byte> segment, Dictionary<int, byte> firstSymbol)
    {
        for (int j = 0; j + 17 <= segment.Length;)
        {
            int symbols = 0;
            for (int n = 1; n <= 16; n++) symbols += segment[j + n];
            if (symbols > 0 && j + 17 < segment.Length) firstSymbol[segment[j]] = segment[j + 17];
            j += 17 + symbols;
        }
    }

    /// <summary>
    /// Whether a uniform area coded with this component's tables (selector: DC table high nibble, AC low) is zero bits:
    /// a DC difference of 0, an end of block, or an end-of-band run. A refinement of DC sends raw bits, zeros included.
    /// </summary>
    static bool ZerosCanBeFlat(byte tables, int start, int end, int high, Dictionary<int, byte> firstSymbol)
    {
        bool dcFlat = firstSymbol.TryGetValue(tables >> 4, out var dc) && dc == 0;
        bool acEndOfBlock = firstSymbol.TryGetValue(0x10 | tables & 15, out var ac) && (ac & 15) == 0 && ac >> 4 < 15;
        if (start == 0 && end == 0) return high > 0 || dcFlat;
        return start == 0 ? dcFlat && acEndOfBlock : acEndOfBlock;
    }

    /// <summary>Walks a scan's data up to the next marker that is not a restart, leaving <paramref name="i"/> on it.</summary>
    static string? ReadEntropyCodedData(ReadOnlySpan<byte> jpeg, ref int i, bool zerosCanBeFlat)
    {
        int zeros = 0, nextRestart = 0;
        while (i < jpeg.Length)
        {
            byte b = jpeg[i];
            if (b != 0xFF)
            {
                zeros = b == 0 ? zeros + 1 : 0;
                if (zeros >= ZeroRun && !zerosCanBeFlat)
                    return $"its compressed data holds {ZeroRun} or more zero bytes in a row from byte {i - zeros + 1} (overwritten or lost data), " +
                           "so part of it would decode grey or in wrong colours";
                i++;
                continue;
            }
            if (i + 1 >= jpeg.Length) return null;
            byte next = jpeg[i + 1];
            if (next == 0x00) { zeros = 0; i += 2; continue; } // a 0xFF data byte
            if (next == 0xFF) { i++; continue; }
            if (next is >= 0xD0 and <= 0xD7)
            {
                if (next - 0xD0 != nextRestart)
                    return $"restart marker {next - 0xD0} at byte {i} comes where {nextRestart} was expected (data lost or overwritten), " +
                           "so the rows after it would decode shifted";
                nextRestart = (nextRestart + 1) & 7;
                zeros = 0;
                i += 2;
                continue;
            }
            return null;
        }
        return null;
    }
}
