namespace PipelineFramework.Compute;

/// <summary>One 8-connected region of a map above a level: bounding box, pixel count, peak and sum of values.</summary>
public readonly record struct MapRegion(int X, int Y, int Width, int Height, int Area, float Peak, int PeakX, int PeakY, double Sum)
{
    public double Mean => Area == 0 ? 0 : Sum / Area;
}

/// <summary>Connected-component labelling of heat maps: the defect regions of a part.</summary>
public static class ConnectedRegions
{
    /// <summary>
    /// Regions of pixels strictly above <paramref name="level"/>, 8-connected, ordered by peak (strongest first; ties by
    /// position, so the order is deterministic). One scan with a union-find over provisional labels.
    /// </summary>
    public static MapRegion[] Find(ReadOnlySpan<float> map, int height, int width, float level)
    {
        if (map.Length != height * width) throw new ArgumentException($"Map holds {map.Length} values; {height}x{width} needs {height * width}.");
        var labels = new int[map.Length];
        var parent = new List<int> { 0 };
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int i = y * width + x;
                if (!(map[i] > level)) continue;
                int label = 0;
                // Already-visited neighbours: W, NW, N, NE.
                if (x > 0) label = Join(parent, label, labels[i - 1]);
                if (y > 0)
                {
                    int up = i - width;
                    if (x > 0) label = Join(parent, label, labels[up - 1]);
                    label = Join(parent, label, labels[up]);
                    if (x + 1 < width) label = Join(parent, label, labels[up + 1]);
                }
                if (label == 0)
                {
                    label = parent.Count;
                    parent.Add(label);
                }
                labels[i] = label;
            }
        }
        if (parent.Count == 1) return [];

        var compact = new int[parent.Count];
        var stats = new List<(int MinX, int MinY, int MaxX, int MaxY, int Area, float Peak, int PeakX, int PeakY, double Sum)>();
        for (int i = 0; i < map.Length; i++)
        {
            if (labels[i] == 0) continue;
            int root = Root(parent, labels[i]);
            if (compact[root] == 0)
            {
                stats.Add((int.MaxValue, int.MaxValue, -1, -1, 0, float.MinValue, 0, 0, 0));
                compact[root] = stats.Count;
            }
            int r = compact[root] - 1, x = i % width, y = i / width;
            var s = stats[r];
            float v = map[i];
            stats[r] = (Math.Min(s.MinX, x), Math.Min(s.MinY, y), Math.Max(s.MaxX, x), Math.Max(s.MaxY, y), s.Area + 1,
                v > s.Peak ? v : s.Peak, v > s.Peak ? x : s.PeakX, v > s.Peak ? y : s.PeakY, s.Sum + v);
        }
        return stats
            .Select(s => new MapRegion(s.MinX, s.MinY, s.MaxX - s.MinX + 1, s.MaxY - s.MinY + 1, s.Area, s.Peak, s.PeakX, s.PeakY, s.Sum))
            .OrderByDescending(r => r.Peak).ThenBy(r => r.PeakY).ThenBy(r => r.PeakX)
            .ToArray();
    }

    static int Join(List<int> parent, int label, int neighbour)
    {
        if (neighbour == 0) return label;
        int root = Root(parent, neighbour);
        if (label == 0) return root;
        int mine = Root(parent, label);
        if (mine == root) return mine;
        int low = Math.Min(mine, root), high = Math.Max(mine, root);
        parent[high] = low;
        return low;
    }

    static int Root(List<int> parent, int label)
    {
        while (parent[label] != label)
        {
            parent[label] = parent[parent[label]];
            label = parent[label];
        }
        return label;
    }
}
