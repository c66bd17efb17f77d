using System.Diagnostics;
using System.IO.Compression;
using PipelineFramework.Abstractions;
using PipelineFramework.Core.Data;
using PipelineFramework.Core.Engine;
using PipelineFramework.Tests.Support;
using Xunit.Abstractions;
using static PipelineFramework.Tests.ModelFiles.ModelFileSurgery;

namespace PipelineFramework.Tests.ModelFiles;

/// <summary>
/// Damages the format-1 model file at random (fixed seeds) and asserts each case either loads or is refused with a
/// <see cref="PipelineException"/>: never another exception type, a native crash (it would abort the run) or a hang.
/// </summary>
public class ModelFileFuzzTests(ITestOutputHelper output)
{
    const int ReaderCases = 2000;
    const int LoadCases = 100;
    static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(120);

    enum Damage { Truncate, FlipBits, EditManifest, EditBank }

    sealed record Case(int Number, Damage Damage, string Detail, byte[] Model);

    /// <summary>
    /// Raw damage (cuts, bit flips) as a bad copy makes it, and entry content damage with valid zip checksums as a
    /// buggy writer or an editing tool makes it, which gets past the checksum to the JSON and .npy parsers.
    /// Flips favour the bytes outside the backbone's compressed data, where the zip structure, manifest and bank lie.
    /// </summary>
    static Case Make(int number, Random random)
    {
        var model = Format1;
        var (backboneStart, backboneLength) = BackboneData.Value;
        var damage = (Damage)random.Next(4);
        switch (damage)
        {
            case Damage.Truncate:
            {
                int length = random.Next(model.Length);
                return new Case(number, damage, $"cut to {length} bytes", model[..length]);
            }
            case Damage.FlipBits:
            {
                var copy = (byte[])model.Clone();
                int bits = 1 + random.Next(4);
                var offsets = new List<int>();
                for (int i = 0; i < bits; i++)
                {
                    int at = random.Next(4) == 0 ? random.Next(copy.Length) : OutsideBackbone(random, copy.Length, backboneStart, backboneLength);
                    copy[at] ^= (byte)(1 << random.Next(8));
                    offsets.Add(at);
                }
                return new Case(number, damage, $"bits flipped at {string.Join(", ", offsets)}", copy);
            }
            case Damage.EditManifest:
                return EditEntry(number, damage, random, model, "manifest.json");
            default:
                return EditEntry(number, damage, random, model, Bank);
        }
    }

    static readonly Lazy<(int Start, int Length)> BackboneData = new(() => StoredData(Format1, Backbone));
    static readonly Lazy<Dictionary<string, byte[]>> EditedEntries = new(() => new()
    {
        ["manifest.json"] = Entry(Format1, "manifest.json"),
        [Bank] = Entry(Format1, Bank),
    });

    static int OutsideBackbone(Random random, int fileLength, int start, int length)
    {
        int at = random.Next(fileLength - length);
        return at < start ? at : at + length;
    }

    /// <summary>One entry's content cut or bit-flipped (favouring its first 300 bytes: JSON keys, .npy header), rezipped.</summary>
    static Case EditEntry(int number, Damage damage, Random random, byte[] model, string entry)
    {
        var content = (byte[])EditedEntries.Value[entry].Clone();
        string detail;
        if (random.Next(3) == 0)
        {
            int length = random.Next(content.Length);
            content = content[..length];
            detail = $"{entry} cut to {length} bytes";
        }
        else
        {
            int bits = 1 + random.Next(3);
            var offsets = new List<int>();
            for (int i = 0; i < bits; i++)
            {
                int at = random.Next(2) == 0 ? random.Next(Math.Min(300, content.Length)) : random.Next(content.Length);
                content[at] ^= (byte)(1 << random.Next(8));
                offsets.Add(at);
            }
            detail = $"{entry} bits flipped at {string.Join(", ", offsets)}";
        }
        return new Case(number, damage, detail, Replaced(model, entry, content));
    }

    /// <summary>Replaces an entry without recompressing the others (update mode copies their stored bytes).</summary>
    static byte[] Replaced(byte[] model, string entry, byte[] content)
    {
        var stream = new MemoryStream();
        stream.Write(model);
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Update, leaveOpen: true))
        {
            zip.GetEntry(entry)!.Delete();
            using var to = zip.CreateEntry(entry, CompressionLevel.Fastest).Open();
            to.Write(content);
        }
        return stream.ToArray();
    }

    sealed record Tally(int Cases, int Loaded, int Refused, List<string> Failures);

    /// <summary>
    /// Runs the cases on another thread and fails at a case that runs longer than <see cref="HangLimit"/>. The limit is
    /// a case's, not the run's: the reader's 2000 cases take 35 s on an idle machine, and on one core shared with
    /// three busy processes the whole run went past 120 s without any case hanging.
    /// </summary>
    Tally Run(int seed, int cases, Action<Case> attempt)
    {
        var random = new Random(seed);
        int loaded = 0, refused = 0;
        var failures = new List<string>();
        string current = "";
        long caseStarted = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        var run = Task.Run(() =>
        {
            for (int i = 0; i < cases; i++)
            {
                Volatile.Write(ref caseStarted, Stopwatch.GetTimestamp());
                var fuzzCase = Make(i, random);
                current = $"case {i}: {fuzzCase.Damage}, {fuzzCase.Detail}";
                try
                {
                    attempt(fuzzCase);
                    loaded++;
                }
                catch (PipelineException)
                {
                    refused++;
                }
                catch (Exception e)
                {
                    failures.Add($"{current}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                }
            }
        });
        while (!run.Wait(TimeSpan.FromSeconds(1)))
            Assert.True(Stopwatch.GetElapsedTime(Volatile.Read(ref caseStarted)) < HangLimit, $"Hung (over {HangLimit}) at {current}");
        output.WriteLine($"seed {seed}: {cases} cases, {loaded} loaded, {refused} refused with PipelineException, {failures.Count} other exceptions; {clock.Elapsed.TotalSeconds:F1} s");
        return new Tally(cases, loaded, refused, failures);
    }

    [Fact]
    public void Reader_loads_or_refuses_every_damaged_file_with_a_pipeline_exception()
    {
        var tally = Run(seed: 20261127, ReaderCases, c => ReadEverything(c.Model, "fuzz.pfmodel"));
        Assert.True(tally.Failures.Count == 0, string.Join("\n\n", tally.Failures.Take(5)));
        Assert.True(tally.Loaded > 0 && tally.Refused > tally.Cases / 2, $"{tally.Loaded} loaded, {tally.Refused} refused");
    }

    static readonly Lazy<string> OneImage = new(() => ImageDataset.LoadMvtec(TestData.Hazelnut).Test[0].Path);

    [Fact]
    public void Full_load_scores_or_refuses_every_damaged_file_with_a_pipeline_exception()
    {
        var folder = TestData.TempFolder("fuzz");
        var tally = Run(seed: 7, LoadCases, c =>
        {
            var path = Path.Combine(folder, $"case{c.Number}.pfmodel");
            File.WriteAllBytes(path, c.Model);
            using var model = AnomalyModel.Load(path, TestData.Catalog);
            var result = model.Inspect(OneImage.Value);
            Assert.True(double.IsFinite(result.RawScore), $"{c.Detail}: loaded but scored {result.RawScore}");
        });
        Assert.True(tally.Failures.Count == 0, string.Join("\n\n", tally.Failures.Take(5)));
        Assert.True(tally.Loaded > 0 && tally.Refused > 0, $"{tally.Loaded} loaded, {tally.Refused} refused");
    }
}
