using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// A fitted visual anomaly model as an ML.NET transformer. <see cref="Transform"/> is lazy like ML.NET's own: images
/// are scored, in batches, the first time a cursor is opened over the result. Save with <see cref="SaveModel"/>
/// (the PipelineFramework model file), not <c>mlContext.Model.Save</c>.
/// </summary>
public sealed class VisualAnomalyTransformer : ITransformer, IDisposable
{
    internal VisualAnomalyTransformer(AnomalyModel model, string imagePathColumn)
    {
        Model = model;
        ImagePathColumn = imagePathColumn;
    }

    public AnomalyModel Model { get; }
    public string ImagePathColumn { get; }

    public bool IsRowToRowMapper => false;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        var column = inputSchema.GetColumnOrNull(ImagePathColumn)
            ?? throw new PipelineException($"The data view has no column '{ImagePathColumn}'; columns: {string.Join(", ", inputSchema.Select(c => c.Name))}.");
        if (column.Type is not TextDataViewType)
            throw new PipelineException($"Column '{ImagePathColumn}' is {column.Type}; it must be text (image file paths).");
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(VisualAnomalyColumns.Score, NumberDataViewType.Single);
        builder.AddColumn(VisualAnomalyColumns.RawScore, NumberDataViewType.Single);
        builder.AddColumn(VisualAnomalyColumns.IsAnomaly, BooleanDataViewType.Instance);
        builder.AddColumn(VisualAnomalyColumns.AnomalyMap, new VectorDataViewType(NumberDataViewType.Single, Model.MapHeight, Model.MapWidth));
        return builder.ToSchema();
    }

    public IDataView Transform(IDataView input) => new ScoredDataView(this, input, GetOutputSchema(input.Schema));

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        throw new NotSupportedException("Visual anomaly scoring works on batches of images; use Transform.");

    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException("Save with transformer.SaveModel(path): PipelineFramework models are their own zip format.");

    /// <summary>Writes the model file atomically.</summary>
    public void SaveModel(string path) => Model.Save(path);

    public void Dispose() => Model.Dispose();

    sealed class ScoredDataView(VisualAnomalyTransformer parent, IDataView input, DataViewSchema schema) : IDataView
    {
        readonly Lazy<IReadOnlyList<InspectionResult>> _results = new(() =>
            parent.Model.Inspect(VisualAnomalyColumns.ReadPaths(input, parent.ImagePathColumn)));

        public bool CanShuffle => false;
        public DataViewSchema Schema => schema;
        public long? GetRowCount() => input.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            int inputCount = input.Schema.Count;
            var needed = columnsNeeded.ToList();
            var inputColumns = needed.Where(c => c.Index < inputCount).Select(c => input.Schema[c.Index]);
            bool needsScores = needed.Any(c => c.Index >= inputCount);
            return new Cursor(this, input.GetRowCursor(inputColumns), needed.Select(c => c.Index).ToHashSet(),
                needsScores ? _results.Value : null);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];

        sealed class Cursor(ScoredDataView view, DataViewRowCursor inner, HashSet<int> active, IReadOnlyList<InspectionResult>? results)
            : DataViewRowCursor
        {
            public override DataViewSchema Schema => view.Schema;
            public override long Position => inner.Position;
            public override long Batch => inner.Batch;
            public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);
            public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();
            public override bool MoveNext() => inner.MoveNext();

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                int inputCount = view.Schema.Count - 4;
                if (column.Index < inputCount) return inner.GetGetter<TValue>(inner.Schema[column.Index]);
                if (results is null) throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was opened.");
                InspectionResult Current() => results[(int)inner.Position];
                Delegate getter = column.Name switch
                {
                    VisualAnomalyColumns.Score => (ValueGetter<float>)((ref float v) => v = (float)Current().Score),
                    VisualAnomalyColumns.RawScore => (ValueGetter<float>)((ref float v) => v = (float)Current().RawScore),
                    VisualAnomalyColumns.IsAnomaly => (ValueGetter<bool>)((ref bool v) => v = Current().IsAnomaly),
                    VisualAnomalyColumns.AnomalyMap => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
                    {
                        var map = Current().NormalizedMap(view.Normalization);
                        v = new VBuffer<float>(map.Values.Length, map.Values);
                    }),
                    _ => throw new InvalidOperationException($"Unknown column '{column.Name}'."),
                };
                return getter as ValueGetter<TValue>
                    ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not {typeof(TValue).Name}.");
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing) inner.Dispose();
                base.Dispose(disposing);
            }
        }

        public ModelFiles.ScoreNormalization Normalization => parent.Model.Normalization;
    }
}
