using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.MLNet;

public sealed partial class VisualAnomalyCatalog
{
    /// <summary>
    /// Planar RGB floats [3, height, width] from an <c>MLImage</c> column, normalised per channel as the pipelines'
    /// <c>input.mean</c> / <c>input.std</c> do (ImageNet's by default): the input an ONNX backbone expects, for
    /// <c>ApplyOnnxModel</c>. Use it instead of ML.NET's <c>ExtractPixels</c>, which in ML.NET 5.0.1 calls a SkiaSharp 2
    /// method that the SkiaSharp 3 this framework needs no longer has (MissingMethodException), and which has one
    /// scale and offset for all channels. The images must already be <paramref name="height"/> x <paramref name="width"/>
    /// (<c>ResizeImages</c>).
    /// </summary>
    public PixelsEstimator ExtractPixels(string outputColumnName, string inputColumnName, int height, int width,
        float[]? mean = null, float[]? std = null)
    {
        ArgumentNullException.ThrowIfNull(outputColumnName);
        ArgumentNullException.ThrowIfNull(inputColumnName);
        if (height <= 0 || width <= 0) throw new PipelineException($"ExtractPixels needs a positive height and width; got {height} x {width}.");
        mean ??= new Spec.InputSpec().Mean;
        std ??= new Spec.InputSpec().Std;
        // A NaN or infinite mean or std turns every feature into NaN or 0, which no later stage would notice.
        if (mean.Length != 3 || std.Length != 3 || !mean.All(float.IsFinite) || !std.All(s => s > 0 && float.IsFinite(s)))
            throw new PipelineException("ExtractPixels needs 3 finite means and 3 finite positive standard deviations (R, G, B).");
        return new PixelsEstimator(new PixelsTransformer(outputColumnName, inputColumnName, height, width, mean, std));
    }
}

/// <summary>Trivial estimator of <see cref="PixelsTransformer"/> (nothing to learn).</summary>
public sealed class PixelsEstimator(PixelsTransformer transformer) : IEstimator<PixelsTransformer>
{
    public PixelsTransformer Fit(IDataView input)
    {
        transformer.GetOutputSchema(input.Schema);
        return transformer;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        if (!inputSchema.Any(c => c.Name == transformer.InputColumnName && c.ItemType is ImageDataViewType))
            throw new PipelineException($"ExtractPixels: the data has no image column '{transformer.InputColumnName}' (LoadImages makes one).");
        return new SchemaShape(inputSchema.Append(VisualAnomalyEstimator.ShapeColumn(transformer.OutputColumnName,
            SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single)));
    }
}

/// <summary>MLImage → normalised planar RGB floats, one row at a time (a row-to-row mapper, so PredictionEngine works).</summary>
public sealed class PixelsTransformer : ITransformer
{
    readonly int _height, _width;
    readonly float[] _mean, _std;

    internal PixelsTransformer(string outputColumnName, string inputColumnName, int height, int width, float[] mean, float[] std)
    {
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName;
        (_height, _width, _mean, _std) = (height, width, mean, std);
    }

    public string OutputColumnName { get; }
    public string InputColumnName { get; }
    public bool IsRowToRowMapper => true;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        if (inputSchema.GetColumnOrNull(InputColumnName) is not { Type: ImageDataViewType })
            throw new PipelineException($"ExtractPixels: the data has no image column '{InputColumnName}' (LoadImages makes one).");
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(OutputColumnName, new VectorDataViewType(NumberDataViewType.Single, 3, _height, _width));
        return builder.ToSchema();
    }

    public IDataView Transform(IDataView input) => new RowMappedView(input, GetRowToRowMapper(input.Schema));

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema, GetOutputSchema(inputSchema));

    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException("ML.NET's Model.Save cannot store this transformer.");

    float[] Pixels(MLImage? image)
    {
        var tensor = ImageColumn.ToTensor(image ?? throw new PipelineException($"A row of '{InputColumnName}' has no image."));
        if (tensor.Height != _height || tensor.Width != _width)
            throw new PipelineException($"An image of '{InputColumnName}' is {tensor.Width} x {tensor.Height}; resize it to {_width} x {_height} first (ResizeImages).");
        // The same arithmetic as the ONNX backbone stage, so both feed the graph the same numbers.
        int plane = _height * _width;
        var values = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            float scale = 1f / _std[c], shift = -_mean[c] / _std[c];
            var source = tensor.Pixels.AsSpan(c * plane, plane);
            var target = values.AsSpan(c * plane, plane);
            for (int p = 0; p < plane; p++) target[p] = source[p] * scale + shift;
        }
        return values;
    }

    sealed class Mapper(PixelsTransformer parent, DataViewSchema inputSchema, DataViewSchema outputSchema) : IRowToRowMapper
    {
        public DataViewSchema InputSchema => inputSchema;
        public DataViewSchema OutputSchema => outputSchema;

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            var needed = dependingColumns.ToList();
            var result = needed.Where(c => c.Index < inputSchema.Count).Select(c => inputSchema[c.Index]).ToList();
            if (needed.Any(c => c.Index >= inputSchema.Count) && result.All(c => c.Name != parent.InputColumnName))
                result.Add(inputSchema[parent.InputColumnName]);
            return result;
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
            new Row(parent, input, outputSchema, activeColumns.Select(c => c.Index).ToHashSet());

        sealed class Row(PixelsTransformer parent, DataViewRow input, DataViewSchema schema, HashSet<int> active) : DataViewRow
        {
            public override DataViewSchema Schema => schema;
            public override long Position => input.Position;
            public override long Batch => input.Batch;
            public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);
            public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                if (column.Index < input.Schema.Count) return input.GetGetter<TValue>(input.Schema[column.Index]);
                var image = input.GetGetter<MLImage>(input.Schema[parent.InputColumnName]);
                MLImage value = null!;
                ValueGetter<VBuffer<float>> getter = (ref VBuffer<float> v) =>
                {
                    image(ref value);
                    var pixels = parent.Pixels(value);
                    v = new VBuffer<float>(pixels.Length, pixels);
                };
                return getter as ValueGetter<TValue> ?? throw new InvalidOperationException($"Column '{column.Name}' is a float vector, not {typeof(TValue).Name}.");
            }
        }
    }
}

/// <summary>A lazy data view over a row-to-row mapper: each cursor maps the rows of an input cursor.</summary>
sealed class RowMappedView(IDataView input, IRowToRowMapper mapper) : IDataView
{
    public bool CanShuffle => input.CanShuffle;
    public DataViewSchema Schema => mapper.OutputSchema;
    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        var inner = input.GetRowCursor(mapper.GetDependencies(needed), rand);
        return new Cursor(inner, mapper.GetRow(inner, needed), needed.Select(c => c.Index).ToHashSet());
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    sealed class Cursor(DataViewRowCursor inner, DataViewRow row, HashSet<int> active) : DataViewRowCursor
    {
        public override DataViewSchema Schema => row.Schema;
        public override long Position => inner.Position;
        public override long Batch => inner.Batch;
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);
        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();
        public override bool MoveNext() => inner.MoveNext();
        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => row.GetGetter<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
