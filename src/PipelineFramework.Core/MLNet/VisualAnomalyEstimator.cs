using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// ML.NET estimator over an <see cref="IDataView"/> with a text column of image paths (good parts only).
/// <c>Fit</c> returns a <see cref="VisualAnomalyTransformer"/> that appends Score, IsAnomaly, RawScore and AnomalyMap.
/// </summary>
public sealed class VisualAnomalyEstimator : IEstimator<VisualAnomalyTransformer>
{
    readonly AnomalyPipeline _pipeline;

    public VisualAnomalyEstimator(AnomalyPipeline pipeline, string imagePathColumn = VisualAnomalyColumns.DefaultImagePath)
    {
        _pipeline = pipeline;
        ImagePathColumn = imagePathColumn;
    }

    public string ImagePathColumn { get; }
    public AnomalyPipeline Pipeline => _pipeline;
    public IProgress<ProgressUpdate>? Progress { get; init; }

    public VisualAnomalyTransformer Fit(IDataView input)
    {
        var paths = VisualAnomalyColumns.ReadPaths(input, ImagePathColumn);
        var model = _pipeline.Fit(paths, Progress);
        return new VisualAnomalyTransformer(model, ImagePathColumn);
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var pathColumn = inputSchema.FirstOrDefault(c => c.Name == ImagePathColumn);
        if (pathColumn.Name is null)
            throw new PipelineException($"The data view has no column '{ImagePathColumn}'; columns: {string.Join(", ", inputSchema.Select(c => c.Name))}.");
        if (pathColumn.ItemType is not TextDataViewType || pathColumn.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw new PipelineException($"Column '{ImagePathColumn}' must be a text scalar of image paths.");
        return new SchemaShape(inputSchema.Concat(
        [
            ShapeColumn(VisualAnomalyColumns.Score, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single),
            ShapeColumn(VisualAnomalyColumns.RawScore, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single),
            ShapeColumn(VisualAnomalyColumns.IsAnomaly, SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance),
            ShapeColumn(VisualAnomalyColumns.AnomalyMap, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single),
        ]));
    }

    // SchemaShape.Column's constructor is internal in ML.NET; estimators outside ML.NET reach it this way.
    static readonly ConstructorInfo ColumnConstructor = typeof(SchemaShape.Column).GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
        .Single(c => c.GetParameters().Length == 5);

    static SchemaShape.Column ShapeColumn(string name, SchemaShape.Column.VectorKind kind, DataViewType type) =>
        (SchemaShape.Column)ColumnConstructor.Invoke([name, kind, type, false, null]);
}

/// <summary>Column names the transformer reads and writes.</summary>
public static class VisualAnomalyColumns
{
    public const string DefaultImagePath = "ImagePath";
    /// <summary>Normalised score in [0, 1]; 0.5 is the model's threshold.</summary>
    public const string Score = "Score";
    /// <summary>The scorer's own score (units depend on the method).</summary>
    public const string RawScore = "RawScore";
    public const string IsAnomaly = "IsAnomaly";
    /// <summary>Normalised heat map, row-major, Crop x Crop of the preprocessed image.</summary>
    public const string AnomalyMap = "AnomalyMap";

    internal static IReadOnlyList<string> ReadPaths(IDataView data, string column)
    {
        var col = data.Schema.GetColumnOrNull(column)
            ?? throw new PipelineException($"The data view has no column '{column}'; columns: {string.Join(", ", data.Schema.Select(c => c.Name))}.");
        if (col.Type is not TextDataViewType)
            throw new PipelineException($"Column '{column}' is {col.Type}; it must be text (image file paths).");
        var paths = new List<string>();
        using var cursor = data.GetRowCursor([col]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(col);
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            paths.Add(value.ToString());
        }
        return paths;
    }
}
