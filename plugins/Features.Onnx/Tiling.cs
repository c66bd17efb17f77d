using PipelineFramework.Abstractions;

namespace PipelineFramework.Features.Onnx;

/// <summary>
/// Runs a backbone whose graph has a fixed input size (the built-in MobileNetV2 takes 224 x 224) over a larger input:
/// overlapping tiles of the graph's size, each run once, and every cell of each layer map taken from the tile whose
/// centre is nearest to it, so no cell sits at a tile's padded border when another tile sees it from the inside. Tile
/// offsets are multiples of the coarsest layer's stride, so the tiles' cells fall on one grid. The layout depends only
/// on the input size, so fitting and scoring cut every image the same way.
/// </summary>
sealed class Tiling
{
    readonly int _tileHeight, _tileWidth;
    readonly int[] _offsetsY, _offsetsX;
    readonly IReadOnlyList<LayerInfo> _tileLayers;

    Tiling(int tileHeight, int tileWidth, int[] offsetsY, int[] offsetsX, IReadOnlyList<LayerInfo> tileLayers, IReadOnlyList<LayerInfo> layers)
    {
        _tileHeight = tileHeight; _tileWidth = tileWidth;
        _offsetsY = offsetsY; _offsetsX = offsetsX;
        _tileLayers = tileLayers;
        Layers = layers;
    }

    /// <summary>The layers at the full input size.</summary>
    public IReadOnlyList<LayerInfo> Layers { get; }

    public int TilesPerImage => _offsetsY.Length * _offsetsX.Length;

    /// <summary>
    /// The tiling of an input of <paramref name="input"/>'s size given the layers one tile yields; a problem (an input
    /// smaller than a tile, a size off the stride grid) is a <see cref="PipelineException"/> that says what to set.
    /// </summary>
    public static Tiling Plan(InputGeometry input, int tileHeight, int tileWidth, IReadOnlyList<LayerInfo> tileLayers)
    {
        if (input.Height < tileHeight || input.Width < tileWidth)
            throw new PipelineException($"backbone.onnx: the backbone takes images {tileWidth} wide and {tileHeight} high and the pipeline's input is " +
                $"{input.Width} wide and {input.Height} high; an input at least that large is cut into tiles, a smaller one is not enlarged: set \"input\" to at least " +
                $"{tileHeight} high and {tileWidth} wide (e.g. \"crop\": {tileHeight}, or \"resize\": \"fit\" with \"width\" and \"height\").");
        int strideY = 1, strideX = 1;
        foreach (var layer in tileLayers)
        {
            if (tileHeight % layer.Height != 0 || tileWidth % layer.Width != 0)
                throw new PipelineException($"backbone.onnx: layer '{layer.Name}' is {layer.Height}x{layer.Width} for a {tileHeight}x{tileWidth} input, not a whole stride; it cannot be tiled.");
            strideY = Math.Max(strideY, tileHeight / layer.Height);
            strideX = Math.Max(strideX, tileWidth / layer.Width);
        }
        if (input.Height % strideY != 0 || input.Width % strideX != 0)
            throw new PipelineException($"backbone.onnx: a tiled input must be a multiple of the coarsest layer's stride ({strideY} x {strideX}); " +
                $"{input.Width} wide and {input.Height} high is not: use {RoundTo(input.Height, strideY)} high and {RoundTo(input.Width, strideX)} wide.");
        var layers = tileLayers.Select(l => l with { Height = input.Height / (tileHeight / l.Height), Width = input.Width / (tileWidth / l.Width) }).ToList();
        return new Tiling(tileHeight, tileWidth, Offsets(input.Height, tileHeight, strideY), Offsets(input.Width, tileWidth, strideX), tileLayers, layers);
    }

    static int RoundTo(int value, int step) => Math.Max(step, (int)Math.Round((double)value / step) * step);

    /// <summary>As few tiles as cover the side, spread evenly, each start on the stride grid; the last ends at the edge.</summary>
    static int[] Offsets(int size, int tile, int stride)
    {
        int count = (size + tile - 1) / tile;
        if (count == 1) return [0];
        var offsets = new int[count];
        for (int k = 0; k < count; k++) offsets[k] = (int)((long)k * (size - tile) / (count - 1) / stride * stride);
        offsets[^1] = size - tile;
        return offsets;
    }

    /// <summary>The tiles of each image, image by image, row by row: copies of the graph's input size.</summary>
    public List<ImageTensor> Cut(IReadOnlyList<ImageTensor> images)
    {
        var tiles = new List<ImageTensor>(images.Count * TilesPerImage);
        foreach (var image in images)
            foreach (int top in _offsetsY)
                foreach (int left in _offsetsX)
                {
                    var pixels = new float[image.Channels * _tileHeight * _tileWidth];
                    for (int c = 0; c < image.Channels; c++)
                        for (int y = 0; y < _tileHeight; y++)
                            image.Pixels.AsSpan((c * image.Height + top + y) * image.Width + left, _tileWidth)
                                .CopyTo(pixels.AsSpan((c * _tileHeight + y) * _tileWidth, _tileWidth));
                    tiles.Add(new ImageTensor(image.Channels, _tileHeight, _tileWidth, pixels));
                }
        return tiles;
    }

    /// <summary>Layer maps of the images from the maps of their tiles (in <see cref="Cut"/>'s order).</summary>
    public LayerMaps Stitch(LayerMaps tiles)
    {
        int images = tiles.Count / TilesPerImage;
        var data = new float[Layers.Count][];
        for (int l = 0; l < Layers.Count; l++)
        {
            var full = Layers[l];
            var tile = _tileLayers[l];
            int strideY = _tileHeight / tile.Height, strideX = _tileWidth / tile.Width;
            var rows = Nearest(full.Height, strideY, _offsetsY, _tileHeight);
            var columns = Nearest(full.Width, strideX, _offsetsX, _tileWidth);
            data[l] = new float[(long)images * full.ValuesPerImage];
            for (int i = 0; i < images; i++)
                for (int c = 0; c < full.Channels; c++)
                    for (int y = 0; y < full.Height; y++)
                    {
                        var (ty, tileRow) = rows[y];
                        var target = data[l].AsSpan(((i * full.Channels + c) * full.Height + y) * full.Width, full.Width);
                        for (int x = 0; x < full.Width; x++)
                        {
                            var (tx, tileColumn) = columns[x];
                            var source = tiles.Image(l, i * TilesPerImage + ty * _offsetsX.Length + tx);
                            target[x] = source[(c * tile.Height + tileRow) * tile.Width + tileColumn];
                        }
                    }
        }
        return new LayerMaps(images, Layers, data);
    }

    /// <summary>For each cell along one side: the tile whose centre is nearest to the cell's centre, and the cell's index in it.</summary>
    static (int Tile, int Cell)[] Nearest(int cells, int stride, int[] offsets, int tile)
    {
        var result = new (int, int)[cells];
        for (int cell = 0; cell < cells; cell++)
        {
            double centre = (cell + 0.5) * stride;
            int best = 0;
            for (int t = 1; t < offsets.Length; t++)
                if (Math.Abs(centre - (offsets[t] + tile / 2.0)) < Math.Abs(centre - (offsets[best] + tile / 2.0))) best = t;
            result[cell] = (best, cell - offsets[best] / stride);
        }
        return result;
    }
}
