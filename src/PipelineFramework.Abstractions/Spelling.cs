namespace PipelineFramework.Abstractions;

/// <summary>
/// The "did you mean" behind error messages: the known name nearest to a misspelt one. One edit distance for every
/// front end (rules, search files, LLM kinds, service categories), so a hint reads the same everywhere.
/// </summary>
public static class Spelling
{
    /// <summary>Longer text is never compared: a hint is for a typo, and a hostile input must not cost quadratic time.</summary>
    public const int MaxLength = 64;

    /// <summary>The known name with the fewest edits from <paramref name="word"/> (case ignored), or null when none is given.</summary>
    public static (string Name, int Distance)? Nearest(string word, IEnumerable<string> known)
    {
        (string Name, int Distance)? best = null;
        // A look-alike letter (Cyrillic 'е' for 'e', a full-width 'ｇ') prints exactly like the name meant, so it is
        // compared as that letter: a name typed or pasted with them still gets its hint.
        word = LatinLookAlikes(word);
        foreach (var name in known)
        {
            int distance = Distance(word, name);
            if (best is null || distance < best.Value.Distance) best = (name, distance);
        }
        return best;
    }

    /// <summary><paramref name="word"/> with characters that only look like Latin letters or digits written as those
    /// (compatibility forms such as full-width letters, and the Cyrillic and Greek letters drawn like Latin ones).</summary>
    public static string LatinLookAlikes(string word)
    {
        if (word.Length > MaxLength || word.All(char.IsAscii)) return word;
        char[] folded;
        try
        {
            folded = word.Normalize(System.Text.NormalizationForm.FormKC).ToCharArray();
        }
        catch (ArgumentException)
        {
            // Half a surrogate pair (from a URL or a file) cannot be normalised; a hint is not worth a crash.
            folded = word.ToCharArray();
        }
        for (int i = 0; i < folded.Length; i++)
        {
            int at = LookAlike.IndexOf(folded[i]);
            if (at >= 0) folded[i] = Latin[at];
        }
        return new string(folded);
    }

    const string LookAlike = "аеорсухіјѕԁһӏАВЕКМНОРСТХІЈЅοαρτνικΑΒΕΖΗΙΚΜΝΟΡΤΥΧ";
    const string Latin =     "aeopcyxijsdhlABEKMHOPCTXIJSoaptvikABEZHIKMNOPTYX";

    /// <summary>Levenshtein distance, case ignored; <see cref="int.MaxValue"/> when either text is over <see cref="MaxLength"/>.</summary>
    public static int Distance(string a, string b)
    {
        if (a.Length > MaxLength || b.Length > MaxLength) return int.MaxValue;
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
