using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Explain;

/// <summary>
/// What good parts look like pixel by pixel, the second signal for a defect's size: the median and a robust spread of
/// every pixel and channel over the fitting images (at half the model's input resolution, 2 x 2 pixels averaged), and how
/// often each pixel of a held-out good part deviates by more than <see cref="Deviating"/> spreads anyway. A part's pixels
/// that deviate more than that inside a defect's bump in the anomaly map, less the number good parts show there, are a
/// count of defect pixels the map cannot blur: <see cref="ExcessArea"/>. Where good parts vary (parts that are not
/// aligned, textures that move) the spread is wide and the held-out rate high, so the count falls to nothing and the
/// map's estimate stands. docs/explanation.md ("Size") has the measurements.
/// </summary>
public sealed class GoodPixels
{
    /// <summary>Input pixels per statistics pixel along each axis: 2, so a 224 x 224 model keeps 112 x 112 (0.35 MB of float32 in all).</summary>
    public const int DefaultFactor = 2;
    /// <summary>A pixel deviates when its distance from the good median is above this many robust spreads (the 3-sigma rule).</summary>
    public const double DefaultDeviating = 3;
    /// <summary>The smallest spread: two grey levels of an 8-bit image, so a flat area that never varied is not called deviating for its noise.</summary>
    public const float DefaultSpreadFloor = 2f / 255;
    /// <summary>Folder of the statistics in a model file.</summary>
    public const string Folder = "size/";

    const string MedianEntry = "good_median", SpreadEntry = "good_spread", RateEntry = "false_deviation_rate", SettingsEntry = "settings.json";

    readonly float[] _median, _spread, _falseRate;

    GoodPixels(int factor, double deviating, float spreadFloor, int channels, int height, int width, float[] median, float[] spread, float[] falseRate,
        int fitImages, int holdoutImages)
    {
        Factor = factor; Deviating = deviating; SpreadFloor = spreadFloor;
        Channels = channels; Height = height; Width = width;
        _median = median; _spread = spread; _falseRate = falseRate;
        FitImages = fitImages; HoldoutImages = holdoutImages;
    }

    public int Factor { get; }
    public double Deviating { get; }
    public float SpreadFloor { get; }
    public int Channels { get; }
    /// <summary>Rows of the statistics (the input's height / <see cref="Factor"/>).</summary>
    public int Height { get; }
    /// <summary>Columns of the statistics (the input's width / <see cref="Factor"/>).</summary>
    public int Width { get; }
    /// <summary>Fitting images the median and spread were taken over.</summary>
    public int FitImages { get; }
    /// <summary>Held-out good images the false deviation rate was measured on.</summary>
    public int HoldoutImages { get; }
    /// <summary>Share of held-out good pixels that deviate (over the whole grid): how far from ideal the parts' alignment is.</summary>
    public double MeanFalseRate => _falseRate.Average();

    /// <summary>The statistics grid's size for images of <paramref name="height"/> x <paramref name="width"/>.</summary>
    public static (int Height, int Width) GridFor(int height, int width, int factor = DefaultFactor) => (height / factor, width / factor);

    /// <summary>An image at the statistics' resolution: each value the mean of a factor x factor block (a last odd row or column is dropped).</summary>
    public static float[] Reduce(ImageTensor image, int factor = DefaultFactor)
    {
        var (h, w) = GridFor(image.Height, image.Width, factor);
        var reduced = new float[image.Channels * h * w];
        float scale = 1f / (factor * factor);
        for (int c = 0; c < image.Channels; c++)
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            float sum = 0;
            for (int dy = 0; dy < factor; dy++)
            {
                int row = (c * image.Height + y * factor + dy) * image.Width + x * factor;
                for (int dx = 0; dx < factor; dx++) sum += image.Pixels[row + dx];
            }
            reduced[(c * h + y) * w + x] = sum * scale;
        }
        return reduced;
    }

    /// <summary>
    /// Collects the reduced images of a training set as they are decoded (half precision, 2 bytes a value), then fits the
    /// statistics on the fitting side and measures the false deviation rate on the held-out side. Thread-safe for distinct indices.
    /// </summary>
    public sealed class Collector(int count, int factor = DefaultFactor)
    {
        readonly Half[]?[] _images = new Half[]?[count];
        int _channels, _height, _width;

        public void Add(int index, ImageTensor image)
        {
            var reduced = Reduce(image, factor);
            var stored = new Half[reduced.Length];
            for (int i = 0; i < reduced.Length; i++) stored[i] = (Half)reduced[i];
            var (h, w) = GridFor(image.Height, image.Width, factor);
            lock (_images) { _channels = image.Channels; _height = h; _width = w; }
            _images[index] = stored;
        }

        /// <summary>The statistics of the images at <paramref name="fit"/>, rated on those at <paramref name="holdout"/>; null when either side is too small (fewer than 2 fitting or no held-out image).</summary>
        public GoodPixels? Build(IReadOnlyList<int> fit, IReadOnlyList<int> holdout, double deviating = DefaultDeviating, float spreadFloor = DefaultSpreadFloor)
        {
            Half[] Image(int i) => _images[i] ?? throw new InvalidOperationException($"image {i} was not collected");
            var fitting = fit.Select(Image).ToList();
            return FitCore(fitting.Count, (i, p) => (float)fitting[i][p], holdout.Select(i => (Func<float[]>)(() => Array.ConvertAll(Image(i), v => (float)v))).ToList(),
                _channels, _height, _width, factor, deviating, spreadFloor);
        }
    }

    /// <summary>
    /// Median and robust spread (1.4826 x the median absolute deviation, at least <paramref name="spreadFloor"/>) of every
    /// value of the reduced fitting images, and per pixel the share of reduced held-out images that deviate there (with
    /// one pseudo-image at the whole grid's share, so that a pixel no held-out image happened to hit keeps a small rate).
    /// Null when there are fewer than 2 fitting images or no held-out one.
    /// </summary>
    public static GoodPixels? Fit(IReadOnlyList<float[]> fit, IReadOnlyList<float[]> holdout, int channels, int height, int width,
        int factor = DefaultFactor, double deviating = DefaultDeviating, float spreadFloor = DefaultSpreadFloor) =>
        FitCore(fit.Count, (i, p) => fit[i][p], holdout.Select(h => (Func<float[]>)(() => h)).ToList(), channels, height, width, factor, deviating, spreadFloor);

    /// <summary><see cref="Fit"/> over value <c>p</c> of fitting image <c>i</c> as <paramref name="fitValue"/> gives it, the held-out images one at a time.</summary>
    static GoodPixels? FitCore(int fitCount, Func<int, int, float> fitValue, IReadOnlyList<Func<float[]>> holdout, int channels, int height, int width,
        int factor, double deviating, float spreadFloor)
    {
        if (fitCount < 2 || holdout.Count < 1 || height < 1 || width < 1) return null;
        int values = channels * height * width;
        var median = new float[values];
        var spread = new float[values];
        Parallel.For(0, values, () => (new float[fitCount], new float[fitCount]), (p, _, buffers) =>
        {
            var (column, deviations) = buffers;
            for (int i = 0; i < fitCount; i++) column[i] = fitValue(i, p);
            Array.Sort(column);
            float m = MedianOfSorted(column);
            for (int i = 0; i < column.Length; i++) deviations[i] = Math.Abs(column[i] - m);
            Array.Sort(deviations);
            median[p] = m;
            spread[p] = Math.Max(spreadFloor, 1.4826f * MedianOfSorted(deviations));
            return buffers;
        }, _ => { });

        var stats = new GoodPixels(factor, deviating, spreadFloor, channels, height, width, median, spread, new float[height * width], fitCount, holdout.Count);
        var hits = new int[height * width];
        foreach (var image in holdout)
        {
            var deviation = stats.DeviationOfReduced(image());
            for (int p = 0; p < hits.Length; p++) if (deviation[p] > deviating) hits[p]++;
        }
        double overall = hits.Sum() / ((double)hits.Length * holdout.Count);
        for (int p = 0; p < hits.Length; p++) stats._falseRate[p] = (float)((hits[p] + overall) / (holdout.Count + 1));
        return stats;
    }

    static float MedianOfSorted(float[] sorted) =>
        sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5f * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);

    /// <summary>
    /// How far each statistics pixel of <paramref name="image"/> (the model's preprocessed input) is from good parts: the
    /// root mean square over channels of (value - median) / spread. Null when the image's geometry is not the one fitted.
    /// </summary>
    public float[]? Deviation(ImageTensor image)
    {
        if (image.Channels != Channels || GridFor(image.Height, image.Width, Factor) != (Height, Width)) return null;
        return DeviationOfReduced(Reduce(image, Factor));
    }

    float[] DeviationOfReduced(float[] reduced)
    {
        int n = Height * Width;
        var deviation = new float[n];
        for (int p = 0; p < n; p++)
        {
            double sum = 0;
            for (int c = 0; c < Channels; c++)
            {
                int i = c * n + p;
                double d = (reduced[i] - _median[i]) / _spread[i];
                sum += d * d;
            }
            deviation[p] = (float)Math.Sqrt(sum / Channels);
        }
        return deviation;
    }

    /// <summary>
    /// Defect pixels among <paramref name="mapPixels"/> (indices into a map of width <paramref name="mapWidth"/>, the
    /// model's input geometry), in map pixels: the statistics pixels they cover whose <paramref name="deviation"/> is above
    /// <see cref="Deviating"/>, less the number held-out good parts show deviating there, never below 0. A statistics
    /// pixel is counted once per part (<paramref name="counted"/> marks it), so regions next to each other share none.
    /// </summary>
    public double ExcessArea(float[] deviation, IEnumerable<int> mapPixels, int mapWidth, bool[] counted)
    {
        double deviating = 0, expected = 0;
        foreach (int i in mapPixels)
        {
            int x = i % mapWidth / Factor, y = i / mapWidth / Factor;
            if (x >= Width || y >= Height) continue;
            int p = y * Width + x;
            if (counted[p]) continue;
            counted[p] = true;
            if (deviation[p] > Deviating) deviating++;
            expected += _falseRate[p];
        }
        return Math.Max(0, deviating - expected) * Factor * Factor;
    }

    /// <summary>Writes the statistics: three float32 tensors and a settings document that says what they are.</summary>
    public void Save(IModelWriter writer)
    {
        var settings = new JsonObject
        {
            ["what"] = "per-pixel statistics of good parts for sizing defects (docs/explanation.md, Size)",
            ["factor"] = Factor,
            ["deviating"] = Deviating,
            ["spread_floor"] = SpreadFloor,
            ["fit_images"] = FitImages,
            ["holdout_images"] = HoldoutImages,
            [MedianEntry] = "median of each channel and pixel of the fitting images at 1/factor resolution, [channels, height, width], values as the model's preprocessed input",
            [SpreadEntry] = "1.4826 x median absolute deviation, at least spread_floor, same shape",
            [RateEntry] = "share of held-out good images whose pixel deviates by more than 'deviating' spreads (RMS over channels), [height, width]",
        };
        writer.WriteText(SettingsEntry, settings.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        writer.WriteTensor(MedianEntry, _median, Channels, Height, Width);
        writer.WriteTensor(SpreadEntry, _spread, Channels, Height, Width);
        writer.WriteTensor(RateEntry, _falseRate, Height, Width);
    }

    /// <summary>
    /// The statistics a model file stores, or null for a file written before they existed (its sizes are the map's alone).
    /// <paramref name="height"/> and <paramref name="width"/> are the model's input geometry; anything that does not fit
    /// it is a damaged file (<paramref name="file"/> names it).
    /// </summary>
    internal static GoodPixels? Load(IModelReader reader, int height, int width, string file)
    {
        if (!reader.Contains(SettingsEntry)) return null;
        PipelineException Damaged(string entry, string problem) => ModelFiles.ModelFileDamage.Error(file, Folder + entry, problem);
        JsonObject settings;
        try
        {
            settings = JsonNode.Parse(reader.ReadText(SettingsEntry)) as JsonObject ?? throw Damaged(SettingsEntry, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw ModelFiles.ModelFileDamage.Error(file, Folder + SettingsEntry, $"is not valid JSON ({e.Message})", e);
        }
        T Number<T>(string key) where T : struct
        {
            try
            {
                return settings[key] is JsonValue value ? value.GetValue<T>() : throw Damaged(SettingsEntry, $"lacks '{key}'");
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                throw ModelFiles.ModelFileDamage.Error(file, Folder + SettingsEntry, $"'{key}' is not a number of the right kind", e);
            }
        }
        int factor = Number<int>("factor");
        double deviating = Number<double>("deviating");
        float floor = Number<float>("spread_floor");
        if (factor < 1 || factor > Math.Max(1, Math.Min(height, width)) || !(deviating > 0) || !double.IsFinite(deviating) || !(floor > 0) || !float.IsFinite(floor))
            throw Damaged(SettingsEntry, $"factor {factor}, deviating {deviating.ToString(CultureInfo.InvariantCulture)} and spread_floor {floor.ToString(CultureInfo.InvariantCulture)} must be positive and finite, the factor at most the input's side");
        var (h, w) = GridFor(height, width, factor);
        var median = reader.ReadTensor(MedianEntry, out var medianShape);
        var spread = reader.ReadTensor(SpreadEntry, out var spreadShape);
        var rate = reader.ReadTensor(RateEntry, out var rateShape);
        if (medianShape is not [var channels, var mh, var mw] || channels < 1 || mh != h || mw != w)
            throw Damaged(MedianEntry + ".npy", $"has shape [{string.Join(", ", medianShape)}], not [channels, {h}, {w}] for a {height} x {width} input at factor {factor}");
        if (!spreadShape.SequenceEqual(medianShape)) throw Damaged(SpreadEntry + ".npy", $"has shape [{string.Join(", ", spreadShape)}], not {MedianEntry}'s [{string.Join(", ", medianShape)}]");
        if (!rateShape.SequenceEqual([h, w])) throw Damaged(RateEntry + ".npy", $"has shape [{string.Join(", ", rateShape)}], not [{h}, {w}]");
        if (spread.Any(s => !(s > 0))) throw Damaged(SpreadEntry + ".npy", "holds a spread that is not positive");
        if (rate.Any(r => r is < 0 or > 1)) throw Damaged(RateEntry + ".npy", "holds a rate outside 0..1");
        return new GoodPixels(factor, deviating, floor, channels, h, w, median, spread, rate, Number<int>("fit_images"), Number<int>("holdout_images"));
    }

    /// <summary>Bytes the statistics hold in memory.</summary>
    public long SizeInBytes => ((long)_median.Length + _spread.Length + _falseRate.Length) * sizeof(float);
}
