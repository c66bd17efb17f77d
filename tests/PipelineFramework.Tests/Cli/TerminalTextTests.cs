using PipelineFramework.Abstractions;
using PipelineFramework.Tests.Support;

namespace PipelineFramework.Tests.Cli;

/// <summary>
/// Text from files reaches the terminal with its control characters shown as \uXXXX (F9: a pipeline name with ESC
/// sequences cleared the screen, a file name with a line feed split a row of `pf score`), and a user's error raised
/// inside a parallel loop reaches the user as itself, not as an AggregateException with exit 2 (F3).
/// </summary>
public class TerminalTextTests
{
    [Fact]
    public void Control_and_bidirectional_characters_are_escaped_and_line_breaks_only_where_a_row_must_stay_one_line()
    {
        Assert.Equal("\\u001B[2J\\u001B[31mEVIL\\u0007\\u0000\\u202E", TerminalText.Escape("\u001b[2J\u001b[31mEVIL\u0007\0\u202e"));
        Assert.Equal("a\\u000Ab.jpg", TerminalText.Escape("a\nb.jpg"));
        Assert.Equal("a\\u000Db", TerminalText.Escape("a\rb", keepLineBreaks: true));
        Assert.Equal("line one\nline two\tx", TerminalText.Escape("line one\nline two\tx", keepLineBreaks: true));
        Assert.Equal("plain ünïcode", TerminalText.Escape("plain ünïcode"));
    }

    [Fact]
    public void Pf_escapes_control_characters_from_a_file_name_in_its_error_line()
    {
        var (code, output, err) = PfProcess.Run("fit", "--pipeline", "no\u001b[2Jsuch\u202e\n.json", "--data", ".", "--model", "x.pfmodel");
        Assert.Equal(1, code);
        Assert.Contains("no\\u001B[2Jsuch\\u202E\\u000A.json", err);
        Assert.DoesNotContain('\u001b', output + err);
        Assert.DoesNotContain('\u202e', output + err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void A_users_error_inside_a_parallel_loop_is_one_error_line_with_exit_1()
    {
        var folder = TestData.TempFolder("cli-parallel-error");
        var pipeline = Path.Combine(folder, "p.json");
        // A threshold no noise reaches in one attempt: every synthesis worker throws the same PipelineException.
        File.WriteAllText(pipeline, """
            { "name": "x", "synthesis": [ { "type": "synthesis.perlin", "threshold": 0.99, "maxAttempts": 1 } ],
              "backbone": { "type": "backbone.onnx" }, "embedding": { "type": "embedding.patch" }, "scoring": { "type": "scoring.patchcore" } }
            """);
        var (code, _, err) = PfProcess.Run("synth", "--pipeline", pipeline, "--data", TestData.Hazelnut, "--out", Path.Combine(folder, "out"), "--count", "8");
        Assert.True(code == 1, $"exit {code}: {err}");
        Assert.StartsWith("error: synthesis.perlin produced no changed pixel", err);
        Assert.DoesNotContain("AggregateException", err);
        Assert.Single(err.Trim().Split('\n'));
    }
}
