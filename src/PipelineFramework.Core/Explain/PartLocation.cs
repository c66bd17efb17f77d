using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Explain;

/// <summary>
/// Where a region sits on the part, in words, on a 3 x 3 grid of the map: rows upper / middle / lower, columns
/// left / centre / right. A region takes every row and column its box covers by at least a quarter of the box's
/// extent (and always the one holding the box's centre), so a defect across a grid line is named by both cells
/// ("upper to middle left") instead of by whichever side its centre fell on.
/// </summary>
public sealed record PartLocation(int RowFrom, int RowTo, int ColumnFrom, int ColumnTo)
{
    public static readonly string[] Rows = ["upper", "middle", "lower"];
    public static readonly string[] Columns = ["left", "centre", "right"];
    const double MinShare = 0.25;

    public static PartLocation Of(PixelBox box, int width, int height)
    {
        var (rowFrom, rowTo) = Span(box.Y, box.Height, height);
        var (colFrom, colTo) = Span(box.X, box.Width, width);
        return new PartLocation(rowFrom, rowTo, colFrom, colTo);
    }

    static (int From, int To) Span(int start, int length, int size)
    {
        length = Math.Max(1, length);
        int centreCell = Cell(start + length / 2.0, size);
        int from = centreCell, to = centreCell;
        for (int cell = 0; cell < 3; cell++)
        {
            double lo = size * cell / 3.0, hi = size * (cell + 1) / 3.0;
            double overlap = Math.Min(hi, start + length) - Math.Max(lo, start);
            if (overlap >= MinShare * length) { from = Math.Min(from, cell); to = Math.Max(to, cell); }
        }
        return (from, to);
    }

    static int Cell(double position, int size) => Math.Clamp((int)(3 * position / size), 0, 2);

    /// <summary>The cells' box in map pixels (for checks: does a point fall in the named place?).</summary>
    public PixelBox Box(int width, int height)
    {
        int x0 = (int)Math.Floor(width * ColumnFrom / 3.0), x1 = (int)Math.Ceiling(width * (ColumnTo + 1) / 3.0);
        int y0 = (int)Math.Floor(height * RowFrom / 3.0), y1 = (int)Math.Ceiling(height * (RowTo + 1) / 3.0);
        return new PixelBox(x0, y0, x1 - x0, y1 - y0);
    }

    public string Words
    {
        get
        {
            if (RowFrom == 0 && RowTo == 2 && ColumnFrom == 0 && ColumnTo == 2) return WholePart;
            string rows = RowFrom == RowTo ? Rows[RowFrom] : RowFrom == 0 && RowTo == 2 ? "top to bottom" : $"{Rows[RowFrom]} to {Rows[RowTo]}";
            string columns = ColumnFrom == ColumnTo ? Columns[ColumnFrom] : ColumnFrom == 0 && ColumnTo == 2 ? "full width" : $"{Columns[ColumnFrom]} to {Columns[ColumnTo]}";
            return rows == "middle" && columns == "centre" ? "centre" : $"{rows}, {columns}";
        }
    }

    const string WholePart = "across the whole part";

    public override string ToString() => Words;

    /// <summary>
    /// <see cref="Words"/> as the end of "The strongest is ...": "at the top, left of the part", but "across the whole
    /// part" as it stands (not "at the across the whole part of the part").
    /// </summary>
    public static string Whereabouts(string words) => words == WholePart ? WholePart : $"at the {words} of the part";

    /// <summary>Reads <see cref="Words"/> back; null when the text is not such a description.</summary>
    public static PartLocation? Parse(string words)
    {
        if (words == WholePart) return new(0, 2, 0, 2);
        if (words == "centre") return new(1, 1, 1, 1);
        var parts = words.Split(", ");
        if (parts.Length != 2) return null;
        var rows = Range(parts[0], Rows, "top to bottom");
        var columns = Range(parts[1], Columns, "full width");
        return rows is { } r && columns is { } c ? new(r.From, r.To, c.From, c.To) : null;
    }

    static (int From, int To)? Range(string text, string[] names, string all)
    {
        if (text == all) return (0, 2);
        var ends = text.Split(" to ");
        int from = Array.IndexOf(names, ends[0]), to = Array.IndexOf(names, ends[^1]);
        return ends.Length <= 2 && from >= 0 && to >= from ? (from, to) : null;
    }
}
