using System.Reflection;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Images;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;
using System.Text.Json.Nodes;

namespace PipelineFramework.Core.MLNet;

/// <summary>
/// ML.NET estimator over an <see cref="IDataView"/> with an image column (paths, encoded bytes or <c>MLImage</c>) of good
/// parts. <c>Fit</c> returns a <see cref="VisualAnomalyTransformer"/>. The pipeline it fits is <see cref="Pipeline"/>;
/// <see cref="ToJson"/> writes it back as pipeline JSON (the typed catalog and the JSON are two spellings of one thing).
/// </summary>
public sealed class VisualAnomalyEstimator : IEstimator<VisualAnomalyTransformer>
{
    readonly IComponentCatalog? _components;

    public VisualAnomalyEstimator(AnomalyPipeline pipeline, string imageColumnName = VisualAnomalyColumns.DefaultImagePath, IComponentCatalog? components = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(imageColumnName);
        Pipeline = pipeline;
        ImageColumnName = imageColumnName;
        _components = components;
    }

    public string ImageColumnName { get; }
    public AnomalyPipeline Pipeline { get; }
    public IProgress<ProgressUpdate>? Progress { get; init; }
    /// <summary>When set, the fitted transformer adds this text column with <see cref="AnomalyModel.ExplainAsync"/>'s summary.</summary>
    public string? ExplanationColumnName { get; init; }

    /// <summary>The pipeline as canonical JSON (every default filled in), as <c>pf fit --pipeline</c> reads it.</summary>
    public string ToJson() => Pipeline.Spec.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>
    /// The same pipeline with these components in their stages: a single stage (scoring, backbone, ...) is replaced, a
    /// list stage (synthesis, logic) becomes the components given for it, in order. Validated now.
    /// </summary>
    public VisualAnomalyEstimator With(params VisualAnomalyComponent[] components)
    {
        ArgumentNullException.ThrowIfNull(components);
        if (components.Any(c => c is null)) throw new ArgumentException("A component given to With is null.", nameof(components));
        return Rebuilt(Place(Pipeline.Spec.ToJson(), components));
    }

    /// <summary>The same pipeline with other settings: <c>.With(s => s with { Seed = 7, Input = s.Input with { Size = 320 } })</c>.</summary>
    public VisualAnomalyEstimator With(Func<PipelineSpec, PipelineSpec> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var changed = change(Pipeline.Spec) ?? throw new ArgumentException("The change given to With returned null; return the changed spec (s => s with { ... }).", nameof(change));
        return Rebuilt(changed.ToJson());
    }

    VisualAnomalyEstimator Rebuilt(JsonObject json)
    {
        var components = _components ?? throw new InvalidOperationException("This estimator was made without a component catalog; make it with mlContext.VisualAnomaly().");
        return new(AnomalyPipeline.FromJson(json.ToJsonString(), components, "typed pipeline", Pipeline.Services), ImageColumnName, components)
        {
            Progress = Progress,
            ExplanationColumnName = ExplanationColumnName,
        };
    }

    /// <summary>The same estimator whose transformer adds an explanation column.</summary>
    public VisualAnomalyEstimator WithExplanation(string columnName = VisualAnomalyColumns.Explanation) =>
        new(Pipeline, ImageColumnName, _components) { Progress = Progress, ExplanationColumnName = VisualAnomalyColumns.CheckExplanationName(columnName, ImageColumnName) };

    internal static JsonObject Place(JsonObject json, IReadOnlyList<VisualAnomalyComponent> components)
    {
        foreach (var group in components.GroupBy(c => c.Section))
        {
            var stage = StageKinds.All.FirstOrDefault(s => s.Section == group.Key)
                ?? throw new PipelineException($"'{group.Key}' is not a stage; stages: {string.Join(", ", StageKinds.All.Select(s => s.Section))}.");
            if (stage.IsList) json[stage.Section] = new JsonArray(group.Select(c => (JsonNode)c.ToJson()).ToArray());
            else if (group.Count() > 1) throw new PipelineException($"Stage '{stage.Section}' takes one component; {group.Count()} were given.");
            else json[stage.Section] = group.Single().ToJson();
        }
        return json;
    }

    public VisualAnomalyTransformer Fit(IDataView input) => Fit(input, CancellationToken.None);

    /// <summary>
    /// <see cref="Fit(IDataView)"/> that stops with an <see cref="OperationCanceledException"/> at the next batch once
    /// <paramref name="cancellation"/> is cancelled (ML.NET's <c>IEstimator.Fit</c> has no token, and a fit on thousands
    /// of images runs for minutes).
    /// </summary>
    public VisualAnomalyTransformer Fit(IDataView input, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(input);
        cancellation.ThrowIfCancellationRequested();
        if (FeatureFitting.UsesFeatureColumn(Pipeline))
        {
            var column = input.Schema.GetColumnOrNull(ImageColumnName)
                ?? throw new PipelineException($"The data view has no feature column '{ImageColumnName}'; columns: {string.Join(", ", input.Schema.Select(c => c.Name))}.");
            var shaped = Rebuilt(FeatureFitting.WithShape(Pipeline.Spec.ToJson(), ImageColumnName, FeatureFitting.ShapeOf(column)));
            return new VisualAnomalyTransformer(FeatureFitting.Fit(shaped.Pipeline, input, ImageColumnName, Progress, cancellation), ImageColumnName, ExplanationColumnName);
        }
        var kind = ImageColumn.KindOf(input.Schema, ImageColumnName);
        using var staged = kind == ImageColumnKind.Path ? null : new StagedImages();
        var paths = kind == ImageColumnKind.Path ? VisualAnomalyColumns.ReadPaths(input, ImageColumnName) : staged!.Write(input, ImageColumnName, cancellation);
        try { return new VisualAnomalyTransformer(Pipeline.Fit(paths, Progress, cancellation), ImageColumnName, ExplanationColumnName); }
        catch (PipelineException e) when (staged?.NameRows(e.Message) is { } message)
        {
            throw new PipelineException(message, e);
        }
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var imageColumn = inputSchema.FirstOrDefault(c => c.Name == ImageColumnName);
        if (imageColumn.Name is null)
            throw new PipelineException($"The data view has no column '{ImageColumnName}'; columns: {string.Join(", ", inputSchema.Select(c => c.Name))}. "
                + "Name the image column with the imageColumnName argument.");
        bool isImage = FeatureFitting.UsesFeatureColumn(Pipeline)
            ? imageColumn.Kind != SchemaShape.Column.VectorKind.Scalar && imageColumn.ItemType == NumberDataViewType.Single
            : imageColumn.Kind == SchemaShape.Column.VectorKind.Scalar && imageColumn.ItemType is TextDataViewType or ImageDataViewType
            || imageColumn.Kind != SchemaShape.Column.VectorKind.Scalar && imageColumn.ItemType == NumberDataViewType.Byte;
        if (!isImage)
            throw new PipelineException($"Column '{ImageColumnName}' must be text (image paths), a byte vector of encoded images or an MLImage.");
        return new SchemaShape(inputSchema.Concat(
        [
            ShapeColumn(VisualAnomalyColumns.Score, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single),
            ShapeColumn(VisualAnomalyColumns.PredictedLabel, SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance),
            ShapeColumn(VisualAnomalyColumns.RawScore, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single),
            ShapeColumn(VisualAnomalyColumns.IsAnomaly, SchemaShape.Column.VectorKind.Scalar, BooleanDataViewType.Instance),
            ShapeColumn(VisualAnomalyColumns.AnomalyMap, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single),
            ShapeColumn(VisualAnomalyColumns.InputWarning, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance),
            .. ExplanationColumnName is null ? Array.Empty<SchemaShape.Column>()
                : [ShapeColumn(ExplanationColumnName, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance)],
        ]));
    }

    // SchemaShape.Column's constructor is internal in ML.NET; estimators outside ML.NET reach it this way.
    static readonly ConstructorInfo ColumnConstructor = typeof(SchemaShape.Column).GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
        .Single(c => c.GetParameters().Length == 5);

    internal static SchemaShape.Column ShapeColumn(string name, SchemaShape.Column.VectorKind kind, DataViewType type) =>
        (SchemaShape.Column)ColumnConstructor.Invoke([name, kind, type, false, null]);

    /// <summary>
    /// Fitting reads the good images more than once (the backbone pass, then synthetic defects from the hold-out), so
    /// images that arrive as bytes or MLImages are written once to a temporary folder, deleted after the fit.
    /// Bytes are written as they are; MLImages as lossless PNG, which decodes to the same pixels.
    /// </summary>
    sealed class StagedImages : IDisposable
    {
        readonly string _folder = Directory.CreateTempSubdirectory("pf-fit-").FullName;
        string _column = "";

        /// <summary>
        /// The message with each staged file's path replaced by the row it came from (the user never saw the temporary
        /// files); null when it names none.
        /// </summary>
        public string? NameRows(string message)
        {
            var named = System.Text.RegularExpressions.Regex.Replace(message,
                System.Text.RegularExpressions.Regex.Escape(_folder + Path.DirectorySeparatorChar) + @"(\d{8})\.png",
                m => $"row {long.Parse(m.Groups[1].Value)} of column '{_column}'");
            return named == message ? null : named;
        }

        public IReadOnlyList<string> Write(IDataView input, string columnName, CancellationToken cancellation)
        {
            _column = columnName;
            var paths = new List<string>();
            using var cursor = input.GetRowCursor([input.Schema[columnName]]);
            var kind = ImageColumn.KindOf(input.Schema, columnName);
            var column = cursor.Schema[columnName];
            var bytes = kind == ImageColumnKind.EncodedBytes ? cursor.GetGetter<VBuffer<byte>>(column) : null;
            var image = kind == ImageColumnKind.Image ? cursor.GetGetter<MLImage>(column) : null;
            VBuffer<byte> buffer = default;
            MLImage value = null!;
            while (cursor.MoveNext())
            {
                cancellation.ThrowIfCancellationRequested();
                var path = Path.Combine(_folder, $"{paths.Count:D8}.png");
                if (bytes is not null)
                {
                    bytes(ref buffer);
                    File.WriteAllBytes(path, buffer.DenseValues().ToArray());
                }
                else
                {
                    image!(ref value);
                    if (value is null) throw new PipelineException($"Row {cursor.Position} of column '{columnName}' has no image; check the image paths.");
                    ImageLoader.SavePng(ImageColumn.ToTensor(value, $"Row {cursor.Position} of column '{columnName}'"), path);
                }
                paths.Add(path);
            }
            return paths;
        }

        public void Dispose()
        {
            try { Directory.Delete(_folder, recursive: true); }
            catch (IOException) { } // a leftover temp folder must not hide the fit's own outcome
        }
    }
}

/// <summary>Column names the transformer reads and writes.</summary>
public static class VisualAnomalyColumns
{
    public const string DefaultImagePath = "ImagePath";
    /// <summary>Normalised score in [0, 1], higher = more anomalous; 0.5 is the model's threshold.</summary>
    public const string Score = "Score";
    /// <summary>ML.NET's anomaly convention: true = anomaly (the same value as <see cref="IsAnomaly"/>).</summary>
    public const string PredictedLabel = "PredictedLabel";
    /// <summary>The scorer's own score (units depend on the method).</summary>
    public const string RawScore = "RawScore";
    public const string IsAnomaly = "IsAnomaly";
    /// <summary>Normalised heat map, row-major, at the model's input size (MapHeight x MapWidth: the crop, or the fit size of an aspect-keeping input).</summary>
    public const string AnomalyMap = "AnomalyMap";
    /// <summary>Why the image is unlike the good images the model was fitted on (size, aspect ratio); empty when it is like them.</summary>
    public const string InputWarning = "InputWarning";
    /// <summary>The explainer's summary of why the part got its verdict (only when asked for).</summary>
    public const string Explanation = "Explanation";

    /// <summary>The columns every transformer appends, in order (the explanation column comes after them when asked for).</summary>
    internal static readonly string[] Appended = [Score, PredictedLabel, RawScore, IsAnomaly, AnomalyMap, InputWarning];

    /// <summary>
    /// An explanation column named like an appended column or the image column would hide it, and its getters are
    /// chosen by name: refused, naming the clash.
    /// </summary>
    internal static string CheckExplanationName(string? name, string imageColumnName)
    {
        ArgumentNullException.ThrowIfNull(name, "columnName");
        if (Appended.Contains(name) || name == imageColumnName)
            throw new ArgumentException($"The explanation column cannot be named '{name}': that is the {(name == imageColumnName ? "image column" : "name of a column the transformer writes")} "
                + $"({string.Join(", ", Appended.Prepend(imageColumnName))}). Give it another name, e.g. '{Explanation}'.", "columnName");
        return name;
    }

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
            if (value.Span.IsWhiteSpace()) throw new PipelineException($"Row {cursor.Position} of column '{column}' is empty; every row must hold an image file path.");
            paths.Add(value.ToString());
        }
        return paths;
    }
}
