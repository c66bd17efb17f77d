using PipelineFramework.Abstractions;

namespace PipelineFramework.Tests.Spec;

/// <summary>The "did you mean" behind every front end's errors, on names that only look right.</summary>
public class SpellingTests
{
    [Theory]
    [InlineData("gr\u0435y", "grey", 0)]              // Cyrillic е
    [InlineData("\u0433\u0440\u0435\u0443", "grey", 2)] // г and р are not drawn like g and r; е and у are like e and y
    [InlineData("\uff47rey", "grey", 0)]               // full-width ｇ
    [InlineData("gray", "grey", 1)]
    public void A_look_alike_letter_counts_as_the_letter_it_imitates(string typed, string meant, int distance)
    {
        Assert.Equal((meant, distance), Spelling.Nearest(typed, ["red", meant, "blue"]));
    }

    [Fact]
    public void Half_a_surrogate_pair_gets_a_hint_instead_of_an_exception()
    {
        // string.Normalize throws on it; the name can come from a URL or a file.
        Assert.Equal(("grey", 1), Spelling.Nearest("gr\ud800y", ["grey", "blue"]));
    }
}
