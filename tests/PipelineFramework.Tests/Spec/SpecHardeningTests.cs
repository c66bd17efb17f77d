using System.Collections;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Plugins;
using PipelineFramework.Core.Spec;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Spec;

/// <summary>Pipeline JSON is refused before any work when a key is given twice or a number is outside its range.</summary>
public class SpecHardeningTests
{
    static PipelineException Fails(string json) =>
        Assert.Throws<PipelineException>(() => PipelineSpecParser.Parse(json, "p.json", TestData.Catalog));

    [Theory]
    [InlineData("""{ "name": "a", "name": "b", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" } }""", "$.name")]
    [InlineData("""{ "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.patchcore", "coresetRatio": 0.1, "coresetRatio": 0.5 } }""", "$.scoring.coresetRatio")]
    [InlineData("""{ "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" }, "input": { "size": 256, "size": 300 } }""", "$.input.size")]
    [InlineData("""{ "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" }, "synthesis": [ { "type": "synthesis.cutpaste" }, { "type": "synthesis.cutpaste", "mode": "scar", /* c */ "mode": "both", } ] }""", "$.synthesis[1].mode")]
    [InlineData("""{ "name": "t", "features": { "type": "features.onnx", "type": "features.onnx" }, "scoring": { "type": "scoring.padim" } }""", "$.features.type")]
    public void Duplicate_keys_are_refused_with_their_json_path(string json, string path)
    {
        var e = Fails(json);
        Assert.StartsWith($"p.json: {path}: given twice", e.Message);
    }

    [Fact]
    public void A_pipeline_file_that_is_not_utf8_is_refused_at_the_first_bad_byte_and_a_bom_is_fine()
    {
        // Read leniently, the two bytes became U+FFFD in the pipeline's name without a word.
        var folder = TestData.TempFolder("spec-utf8");
        var json = File.ReadAllBytes(TestData.Pipeline("patchcore-mobilenet"));
        var text = System.Text.Encoding.UTF8.GetString(json);
        int at = text.IndexOf("\"name\"", StringComparison.Ordinal) + 9;
        var bad = Path.Combine(folder, "bad.json");
        File.WriteAllBytes(bad, [.. System.Text.Encoding.UTF8.GetBytes(text[..at]), 0xC3, 0x28, .. System.Text.Encoding.UTF8.GetBytes(text[at..])]);
        var e = Assert.Throws<PipelineException>(() => PipelineSpecParser.ParseFile(bad, TestData.Catalog));
        Assert.Contains($"Pipeline file '{bad}' is not UTF-8 text (byte {System.Text.Encoding.UTF8.GetByteCount(text[..at])} is not valid); save it as UTF-8.", e.Message);

        var withBom = Path.Combine(folder, "bom.json");
        File.WriteAllBytes(withBom, [0xEF, 0xBB, 0xBF, .. json]);
        Assert.Equal(PipelineSpecParser.ParseFile(TestData.Pipeline("patchcore-mobilenet"), TestData.Catalog).Name, PipelineSpecParser.ParseFile(withBom, TestData.Catalog).Name);
    }

    [Fact]
    public void The_same_key_in_different_objects_is_not_a_duplicate()
    {
        var spec = PipelineSpecParser.Parse("""
            { "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" },
              "synthesis": [ { "type": "synthesis.cutpaste", "mode": "scar" }, { "type": "synthesis.cutpaste", "mode": "both" } ] }
            """, "p.json", TestData.Catalog);
        Assert.Equal(2, spec.Synthesis.Count);
    }

    [Theory]
    [InlineData(""" "map": { "sigma": 1e9 } """, "$.map.sigma", "[0, 64]")]
    [InlineData(""" "input": { "size": 100000 } """, "$.input.size", "[8, 4096]")]
    [InlineData(""" "calibration": { "holdout": 1 } """, "$.calibration.holdout", "(0, 1)")]
    [InlineData(""" "threshold": { "type": "threshold.quantile", "margin": 1e300 } """, "$.threshold.margin", "(0, 100]")]
    public void Numbers_outside_their_range_name_the_path_and_the_range(string section, string path, string range)
    {
        var e = Fails($$"""{ "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim" }, {{section}} }""");
        Assert.Contains($"{path}: ", e.Message);
        Assert.Contains("out of range", e.Message);
        Assert.Contains(range, e.Message);
    }

    [Fact]
    public void A_coreset_ratio_of_5_is_refused_with_the_range()
    {
        var e = Fails("""{ "name": "t", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.patchcore", "coresetRatio": 5 } }""");
        Assert.Contains("$.scoring.coresetRatio: 5 is out of range; allowed (0, 1]", e.Message);
    }

    /// <summary>
    /// The conformance rule for every component, plugins included: each numeric option (or list of numbers) declares a
    /// finite valid range that holds its default, and a search range inside it. Features.* is left out here while the
    /// ONNX plugin is being restructured on another branch.
    /// </summary>
    [Fact]
    public void Every_numeric_option_of_every_component_has_a_finite_range_holding_its_default()
    {
        var problems = new List<string>();
        var components = TestData.Catalog.Components.ToList();
        Assert.Contains(components, c => c.Source != "built-in");
        Assert.Contains(components, c => c.TypeName == "test.mean-distance");
        foreach (var component in components)
        {
            var defaults = component.OptionsType is null ? null : Activator.CreateInstance(component.OptionsType);
            foreach (var option in component.Options)
            {
                if (!IsNumeric(option.Type)) continue;
                var where = $"{component.TypeName}.{option.Name}";
                if (option.Range is not { } range) { problems.Add($"{where}: no [OptionRange]"); continue; }
                if (!double.IsFinite(range.Min) || !double.IsFinite(range.Max) || range.Min > range.Max) problems.Add($"{where}: range {range.Describe()} is not finite");
                var low = double.IsNaN(range.SearchMin) ? range.Min : range.SearchMin;
                var high = double.IsNaN(range.SearchMax) ? range.Max : range.SearchMax;
                if (low < range.Min || high > range.Max || low > high) problems.Add($"{where}: search range [{low}, {high}] is not inside {range.Describe()}");
                if (range.LogScale && low <= 0) problems.Add($"{where}: log-scale search needs a positive lower bound (set SearchMin)");
            }
            if (defaults is null) continue;
            try { ComponentOptions.CheckRanges(defaults, "$"); }
            catch (PipelineException e) { problems.Add($"{component.TypeName}: default out of range: {e.Message}"); }
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems.Distinct()));
    }

    static bool IsNumeric(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type))
            return IsNumeric(type.IsArray ? type.GetElementType()! : type.GetGenericArguments().FirstOrDefault() ?? typeof(object));
        return type == typeof(int) || type == typeof(long) || type == typeof(float) || type == typeof(double);
    }

    [Fact]
    public void An_atomic_write_removes_temporaries_left_by_dead_processes_and_keeps_those_of_live_ones()
    {
        var folder = TestData.TempFolder("atomic");
        var target = Path.Combine(folder, "model.pfmodel");
        int deadPid;
        using (var exited = System.Diagnostics.Process.Start("true")!) { exited.WaitForExit(); deadPid = exited.Id; }
        var stale = $"{target}.tmp-{deadPid}-0badc0de";
        var live = $"{target}.tmp-{Environment.ProcessId}-0badc0de";
        var unrelated = Path.Combine(folder, "other.pfmodel.tmp-" + deadPid + "-0badc0de");
        foreach (var f in new[] { stale, live, unrelated }) File.WriteAllText(f, "half-written");

        AtomicFile.WriteText(target, "new");

        Assert.Equal("new", File.ReadAllText(target));
        Assert.False(File.Exists(stale), "the temporary of a process that no longer runs is removed");
        Assert.True(File.Exists(live), "a temporary of a running process may still be written");
        Assert.True(File.Exists(unrelated), "only temporaries of the file being written are touched");
        Assert.Equal(3, Directory.GetFiles(folder).Length);
    }
}
