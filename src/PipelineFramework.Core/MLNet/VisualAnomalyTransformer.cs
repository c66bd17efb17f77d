using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// A fitted visual anomaly model as an ML.NET transformer. It appends <c>Score</c> (normalised, higher = more anomalous,
/// 0.5 = the threshold), <c>PredictedLabel</c> (ML.NET's anomaly convention; equal to <c>IsAnomaly</c>), <c>RawScore</c>,
/// <c>IsAnomaly</c>, <c>AnomalyMap</c>, <c>InputWarning</c> (empty, or why the image is unlike the fitted ones) and, when
/// asked for, <c>Explanation</c>.
/// <see cref="Transform"/> is lazy and streams: a cursor scores one batch (the pipeline's <c>calibration.batchSize</c>)
/// when it reaches it, so memory stays bounded for any number of rows. It is also a row-to-row mapper, so
/// <c>mlContext.Model.CreatePredictionEngine</c> scores one image at a time. Save with <see cref="SaveModel"/> (the
/// PipelineFramework model file); ML.NET's <c>mlContext.Model.Save</c> is closed to third-party transformers.
/// </summary>
public sealed class VisualAnomalyTransformer : ITransformer, IDisposable
{
    readonly bool _ownsModel;

    internal VisualAnomalyTransformer(AnomalyModel model, string imageColumnName, string? explanationColumnName = null, bool ownsModel = true)
    {
        ArgumentNullException.ThrowIfNull(imageColumnName);
        Model = model;
        ImageColumnName = imageColumnName;
        ExplanationColumnName = explanationColumnName is null ? null : VisualAnomalyColumns.CheckExplanationName(explanationColumnName, imageColumnName);
        _ownsModel = ownsModel;
    }

    public AnomalyModel Model { get; }
    /// <summary>The feature map shape when the model scores a feature column (backbone.features), else null.</summary>
    LayerInfo? Features => Model.Spec.Backbone.Type == FeatureColumnBackbone.TypeName ? FeatureFitting.Layer(Model.Spec) : null;
    public string ImageColumnName { get; }
    /// <summary>The explanation column's name, or null when none is added (explaining costs time per row).</summary>
    public string? ExplanationColumnName { get; }

    /// <summary>
    /// The same model with an explanation column (<see cref="AnomalyModel.ExplainAsync"/>, per row, on read). It shares
    /// the model and does not dispose it (ML.NET's PredictionEngine disposes the transformer it was given).
    /// </summary>
    public VisualAnomalyTransformer WithExplanation(string columnName = VisualAnomalyColumns.Explanation) =>
        new(Model, ImageColumnName, VisualAnomalyColumns.CheckExplanationName(columnName, ImageColumnName), ownsModel: false);

    /// <summary>The same model reading its images from another column; it shares the model and does not dispose it.</summary>
    public VisualAnomalyTransformer WithImageColumn(string imageColumnName) => new(Model, imageColumnName, ExplanationColumnName, ownsModel: false);

    public bool IsRowToRowMapper => true;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (Features is null) ImageColumn.KindOf(inputSchema, ImageColumnName);
        else FeatureFitting.ShapeOf(inputSchema.GetColumnOrNull(ImageColumnName)
            ?? throw new PipelineException($"The data view has no feature column '{ImageColumnName}'; columns: {string.Join(", ", inputSchema.Select(c => c.Name))}."));
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(VisualAnomalyColumns.Score, NumberDataViewType.Single);
        builder.AddColumn(VisualAnomalyColumns.PredictedLabel, BooleanDataViewType.Instance);
        builder.AddColumn(VisualAnomalyColumns.RawScore, NumberDataViewType.Single);
        builder.AddColumn(VisualAnomalyColumns.IsAnomaly, BooleanDataViewType.Instance);
        builder.AddColumn(VisualAnomalyColumns.AnomalyMap, new VectorDataViewType(NumberDataViewType.Single, Model.MapHeight, Model.MapWidth));
        builder.AddColumn(VisualAnomalyColumns.InputWarning, TextDataViewType.Instance);
        if (ExplanationColumnName is not null) builder.AddColumn(ExplanationColumnName, TextDataViewType.Instance);
        return builder.ToSchema();
    }

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new ScoredDataView(this, input, GetOutputSchema(input.Schema));
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new RowMapper(this, inputSchema, GetOutputSchema(inputSchema));

    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException("ML.NET's Model.Save cannot store this transformer: save it with transformer.SaveModel(path) "
            + "and load it with mlContext.VisualAnomaly().LoadModel(path). ML.NET created (or emptied) the target file before asking, "
            + "so it now holds an unusable stub.");

    /// <summary>Writes the model file atomically.</summary>
    public void SaveModel(string path) => Model.Save(path);

    public void Dispose()
    {
        if (_ownsModel) Model.Dispose();
    }

    /// <summary>The getter of one appended column over whatever result is current.</summary>
    Delegate Getter(DataViewSchema.Column column, Func<InspectionResult> current)
    {
        Delegate getter = column.Name switch
        {
            VisualAnomalyColumns.Score => (ValueGetter<float>)((ref float v) => v = SingleScore(current())),
            VisualAnomalyColumns.PredictedLabel or VisualAnomalyColumns.IsAnomaly => (ValueGetter<bool>)((ref bool v) => v = current().IsAnomaly),
            VisualAnomalyColumns.RawScore => (ValueGetter<float>)((ref float v) => v = (float)current().RawScore),
            VisualAnomalyColumns.AnomalyMap => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
            {
                var map = current().NormalizedMap(Model.Normalization);
                v = new VBuffer<float>(map.Values.Length, map.Values);
            }),
            VisualAnomalyColumns.InputWarning => (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = (current().InputWarning ?? "").AsMemory()),
            _ when column.Name == ExplanationColumnName => ExplanationGetter(current),
            _ => throw new InvalidOperationException($"Unknown column '{column.Name}'."),
        };
        return getter;
    }

    /// <summary>
    /// The normalised score as ML.NET's Single. Rounding takes a score a hair above the threshold to 0.5 exactly, where
    /// <c>Score &gt; 0.5f</c> would call the part good; such a score is the next Single above 0.5 instead.
    /// </summary>
    float SingleScore(InspectionResult result)
    {
        float score = (float)result.Score;
        return score <= 0.5f && result.ScoreAboveThreshold(Model.Threshold) ? MathF.BitIncrement(0.5f) : score;
    }

    ValueGetter<ReadOnlyMemory<char>> ExplanationGetter(Func<InspectionResult> current)
    {
        InspectionResult? explained = null;
        string text = "";
        return (ref ReadOnlyMemory<char> v) =>
        {
            var result = current();
            if (!ReferenceEquals(result, explained))
            {
                // ML.NET getters are synchronous; the offline explainer completes at once, an LLM one blocks this row.
                text = Model.ExplainAsync(result).GetAwaiter().GetResult().Summary;
                explained = result;
            }
            v = text.AsMemory();
        };
    }

    static ValueGetter<TValue> Typed<TValue>(Delegate getter, DataViewSchema.Column column) =>
        getter as ValueGetter<TValue>
        ?? throw new InvalidOperationException($"Column '{column.Name}' is {column.Type}, not {typeof(TValue).Name}.");

    /// <summary>Lazy, streaming view: one batch of results in memory at a time.</summary>
    sealed class ScoredDataView(VisualAnomalyTransformer parent, IDataView input, DataViewSchema schema) : IDataView
    {
        public VisualAnomalyTransformer Parent => parent;
        public bool CanShuffle => false;
        public DataViewSchema Schema => schema;
        public long? GetRowCount() => input.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            int inputCount = input.Schema.Count;
            var needed = columnsNeeded.ToList();
            var inputColumns = needed.Where(c => c.Index < inputCount).Select(c => input.Schema[c.Index]).ToList();
            bool needsScores = needed.Any(c => c.Index >= inputCount);
            // Scores come from a second cursor that reads the image column a batch ahead of the rows handed out. Both
            // cursors read the columns that tell rows apart, to check that they see the same rows.
            var image = input.Schema[parent.ImageColumnName];
            var identity = ImageColumn.RowIdentity(input.Schema, image);
            var ahead = needsScores ? input.GetRowCursor(identity.Append(image).DistinctBy(c => c.Index)) : null;
            if (needsScores) inputColumns = inputColumns.Concat(identity).DistinctBy(c => c.Index).ToList();
            return new Cursor(this, input.GetRowCursor(inputColumns), ahead, identity, needed.Select(c => c.Index).ToHashSet());
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];

        sealed class Cursor : DataViewRowCursor
        {
            readonly ScoredDataView _view;
            readonly DataViewRowCursor _inner;
            readonly DataViewRowCursor? _ahead;
            readonly Func<ImageSource>? _readImage;
            readonly HashSet<int> _active;
            // What each cursor's row holds (see ImageColumn.RowIdentity).
            readonly Func<int>? _aheadPrint, _rowPrint;
            readonly List<int> _batchPrints = [];
            IReadOnlyList<InspectionResult> _batch = [];
            long _batchStart;
            long _rowsHandedOut;

            public Cursor(ScoredDataView view, DataViewRowCursor inner, DataViewRowCursor? ahead, IReadOnlyList<DataViewSchema.Column> identity, HashSet<int> active)
            {
                _view = view;
                _inner = inner;
                _ahead = ahead;
                _active = active;
                if (ahead is null) return;
                _readImage = ImageColumn.Reader(ahead, ahead.Schema[view.Parent.ImageColumnName], view.Parent.Features);
                _aheadPrint = ImageColumn.Fingerprint(ahead, identity);
                _rowPrint = ImageColumn.Fingerprint(inner, identity);
            }

            public override DataViewSchema Schema => _view.Schema;
            public override long Position => _inner.Position;
            public override long Batch => _inner.Batch;
            public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);
            public override ValueGetter<DataViewRowId> GetIdGetter() => _inner.GetIdGetter();

            public override bool MoveNext()
            {
                if (!_inner.MoveNext())
                {
                    // Rows the scorer read that were never handed out: the two cursors saw different rows.
                    if (_ahead is not null && (_rowsHandedOut != _batchStart + _batch.Count || _ahead.MoveNext()))
                        throw NotReplayable($"the rows ended after {_rowsHandedOut} rows, but the image column gave more");
                    return false;
                }
                _rowsHandedOut++;
                if (_ahead is null) return true;
                if (_inner.Position >= _batchStart + _batch.Count) ScoreNextBatch();
                if (_rowPrint!() != _batchPrints[(int)(_inner.Position - _batchStart)])
                    throw NotReplayable($"row {_inner.Position} holds another image than the one read for it");
                return true;
            }

            void ScoreNextBatch()
            {
                var model = _view.Parent.Model;
                var sources = new List<ImageSource>(model.Spec.Calibration.BatchSize);
                _batchPrints.Clear();
                while (sources.Count < model.Spec.Calibration.BatchSize && _ahead!.MoveNext())
                {
                    sources.Add(_readImage!());
                    _batchPrints.Add(_aheadPrint!());
                }
                _batchStart = _inner.Position;
                if (sources.Count == 0) throw NotReplayable($"the image column ended after {_batchStart} rows, but the rows go on");
                _batch = model.Inspect(sources);
            }

            /// <summary>
            /// A view that gives two cursors different rows (a queue's GetConsumingEnumerable, an enumerable that reads
            /// a stream once) would pair each row with another row's score; found, it is refused instead.
            /// </summary>
            static PipelineException NotReplayable(string what) => new(
                $"The input data view gave the transform's two cursors different rows ({what}). Transform reads the image column "
                + "a batch ahead through a second cursor, so every cursor over the view must see the same rows in the same order, "
                + "as ML.NET's loaders do. Copy a one-shot source (a queue's GetConsumingEnumerable, frames read from a stream) "
                + "into a list before LoadFromEnumerable, or score it one row at a time with mlContext.Model.CreatePredictionEngine.");

            InspectionResult Current() => _batch[(int)(_inner.Position - _batchStart)];

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                int inputCount = _inner.Schema.Count;
                if (column.Index < inputCount) return _inner.GetGetter<TValue>(_inner.Schema[column.Index]);
                if (_ahead is null || !_active.Contains(column.Index))
                    throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was opened.");
                return Typed<TValue>(_view.Parent.Getter(column, Current), column);
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    _inner.Dispose();
                    _ahead?.Dispose();
                }
                base.Dispose(disposing);
            }
        }
    }

    /// <summary>One row at a time (PredictionEngine): scores the input row's image once per row position.</summary>
    sealed class RowMapper(VisualAnomalyTransformer parent, DataViewSchema inputSchema, DataViewSchema outputSchema) : IRowToRowMapper
    {
        public DataViewSchema InputSchema => inputSchema;
        public DataViewSchema OutputSchema => outputSchema;

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            var needed = dependingColumns.ToList();
            var result = needed.Where(c => c.Index < inputSchema.Count).Select(c => inputSchema[c.Index]).ToList();
            if (needed.Any(c => c.Index >= inputSchema.Count) && result.All(c => c.Name != parent.ImageColumnName))
                result.Add(inputSchema[parent.ImageColumnName]);
            return result;
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
            new Row(parent, input, outputSchema, activeColumns.Select(c => c.Index).ToHashSet());

        sealed class Row(VisualAnomalyTransformer parent, DataViewRow input, DataViewSchema schema, HashSet<int> active) : DataViewRow
        {
            Func<ImageSource>? _readImage;
            InspectionResult? _result;
            long _resultPosition = -1;

            public override DataViewSchema Schema => schema;
            public override long Position => input.Position;
            public override long Batch => input.Batch;
            public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);
            public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

            InspectionResult Current()
            {
                if (_result is null || _resultPosition != input.Position)
                {
                    _readImage ??= ImageColumn.Reader(input, input.Schema[parent.ImageColumnName], parent.Features);
                    _result = parent.Model.Inspect([_readImage()])[0];
                    _resultPosition = input.Position;
                }
                return _result;
            }

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            {
                if (column.Index < input.Schema.Count) return input.GetGetter<TValue>(input.Schema[column.Index]);
                return Typed<TValue>(parent.Getter(column, Current), column);
            }
        }
    }
}
