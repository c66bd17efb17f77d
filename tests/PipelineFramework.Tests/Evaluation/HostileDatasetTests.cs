using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;
using PipelineFramework.Core;
using PipelineFramework.Core.Engine;
using PipelineFramework.Core.Evaluation;
using PipelineFramework.Tests.Support;
using SkiaSharp;

namespace PipelineFramework.Tests.Evaluation;

/// <summary>
/// Copies of the shipped hazelnut set made hostile the way real data sets are: masks in other encodings (labels 0/1,
/// grey levels, coloured, 16-bit, drawn on a transparent layer), masks that cannot say where the defect is (all black, all white, a defect lost in
/// the resize or outside the crop), macOS and Jupyter leftovers, file names with quotes, markup and line breaks.
/// Each is evaluated with the real <see cref="Evaluator"/> (or a real pf process) and compared with a reference copy.
/// </summary>
public class HostileDatasetTests
{
    const string PipelineJson = """
        { "name": "hostile-test", "features": { "type": "features.onnx" }, "scoring": { "type": "scoring.padim", "reducedDim": 32 } }
        """;

    /// <summary>Masks 00-03, 11 and 12 re-encoded (same defect pixels), masks 04-08 unusable in five ways.</summary>
    static readonly string[] Broken = ["04", "05", "06", "07", "08"];

    /// <summary>Two test images renamed (with their masks): markup, quotes, a comma, a lone CR and a lone LF.</summary>
    static readonly (string Stem, string Name)[] HostileNames = [("09", "<script>alert(\"x\")<\\script>, \u00fcn\u00ef\rcr"), ("10", "a 'b' \"c\" & d\nlf")];

    /// <summary>
    /// The reference: hazelnut with masks 04-08 deleted, so the same five images are left out of its pixel metrics.
    /// The hostile copy: masks 00-03, 11 and 12 re-encoded and 04-08 broken, hidden junk beside the images, two images renamed.
    /// </summary>
    static readonly Lazy<(JsonNode Reference, JsonNode Hostile, string HostileRoot, string HostileOut)> Evaluations = new(() =>
    {
        var pipeline = AnomalyPipeline.FromJson(PipelineJson, TestData.Catalog);

        var reference = CopyHazelnut("hostile-reference");
        foreach (var name in Broken) File.Delete(Mask(reference, name));
        var referenceOut = TestData.TempFolder("hostile-reference-out");
        Evaluator.Run(pipeline, reference, referenceOut);

        var hostile = CopyHazelnut("hostile");
        Reencode(Mask(hostile, "00"), 1, v => v > 0 ? 1 : 0);                    // a label mask: 0 and 1
        Reencode(Mask(hostile, "01"), 1, v => v > 0 ? 100 : 0);                  // a grey level
        Reencode(Mask(hostile, "02"), 3, v => v > 0 ? 255 : 0, redOnly: true);   // red on black
        Reencode(Mask(hostile, "03"), 1, v => v > 0 ? 65535 : 0, bitDepth: 16);  // 16-bit
        // Drawn on a transparent layer that hides white: before, "mask marks every pixel as defective (no pixel is 0)".
        Reencode(Mask(hostile, "11"), 4, v => v > 0 ? 255 : 0, transparentHidingWhite: true);
        Reencode(Mask(hostile, "12"), 2, v => v > 0 ? 255 : 0, transparentHidingWhite: true);
        Reencode(Mask(hostile, "04"), 1, v => v > 0 ? 1 : 0, bitDepth: 16);      // 16-bit labels: 1 of 65535 reads as 0
        Reencode(Mask(hostile, "05"), 1, _ => 0);                                // all black
        Reencode(Mask(hostile, "06"), 1, _ => 255);                              // all white
        WritePng(Mask(hostile, "07"), 512, 512, 1, 8, (x, y) => [x == 300 && y == 300 ? 255 : 0]);   // one pixel
        WritePng(Mask(hostile, "08"), 512, 512, 1, 8, (x, y) => [x < 20 && y < 20 ? 255 : 0]);      // outside the crop

        var colour = Path.Combine(hostile, "test", "colour");
        File.WriteAllBytes(Path.Combine(hostile, "train", "good", "._03.jpg"), AppleDouble());
        File.WriteAllBytes(Path.Combine(colour, "._03.jpg"), AppleDouble());
        File.WriteAllText(Path.Combine(colour, ".DS_Store"), "x");
        var checkpoints = Directory.CreateDirectory(Path.Combine(hostile, "test", ".ipynb_checkpoints")).FullName;
        File.Copy(Path.Combine(hostile, "test", "good", "04.jpg"), Path.Combine(checkpoints, "04-checkpoint.jpg"));
        foreach (var (stem, name) in HostileNames)
        {
            File.Move(Path.Combine(colour, stem + ".jpg"), Path.Combine(colour, name + ".jpg"));
            File.Move(Mask(hostile, stem), Mask(hostile, name));
        }
        var hostileOut = TestData.TempFolder("hostile-out");
        Evaluator.Run(pipeline, hostile, hostileOut);

        return (Metrics(referenceOut), Metrics(hostileOut), hostile, hostileOut);
    });

    [Fact]
    public void Masks_in_other_encodings_give_the_same_pixel_metrics_as_the_original_masks()
    {
        var (reference, hostile, _, _) = Evaluations.Value;
        // 23 test images, five without a usable mask in both copies: pixel metrics over the same 18 images and pixels.
        Assert.Equal(18, reference["pixel_metric_images"]!.GetValue<int>());
        Assert.Equal(18, hostile["pixel_metric_images"]!.GetValue<int>());
        // Before: 0/1, grey 100 and red masks read as empty (luma under 0.5), so those defects counted as good pixels
        // and the all-white mask as all defect; pixel AUROC 0.983 or 0.708 instead of 0.987, without a word.
        // Equal up to the order in which tied pixels are summed (two images are renamed, so they sort elsewhere).
        Assert.Equal(reference["pixel_auroc"]!.GetValue<double>(), hostile["pixel_auroc"]!.GetValue<double>(), 12);
        Assert.Equal(reference["aupro"]!.GetValue<double>(), hostile["aupro"]!.GetValue<double>(), 12);
        Assert.True(hostile["pixel_auroc"]!.GetValue<double>() > 0.9);
    }

    [Fact]
    public void Masks_that_cannot_say_where_the_defect_is_are_reported_and_left_out()
    {
        var (_, hostile, _, _) = Evaluations.Value;
        var problems = hostile["mask_problems"]!.AsArray()
            .ToDictionary(p => Path.GetFileNameWithoutExtension(p!["image"]!.GetValue<string>()), p => p!["problem"]!.GetValue<string>());
        Assert.Equal(Broken, problems.Keys.Order(StringComparer.Ordinal));
        Assert.StartsWith("mask marks no defect: every pixel is 0 (black)", problems["04"]);
        Assert.Contains("a 16-bit mask is read at 8 bits, so values under 256 read as 0", problems["04"]);
        Assert.StartsWith("mask marks no defect", problems["05"]);
        Assert.StartsWith("mask marks every pixel as defective", problems["06"]);
        Assert.Equal("the mask's 1 defect pixel is lost when it is resized to 256 x 256 and centre-cropped to 224 x 224, as the image is: " +
            "the defect is too small for the model's map or lies outside the part it sees", problems["07"]);
        Assert.StartsWith("the mask's 400 defect pixels are lost when it is resized to 256 x 256 and centre-cropped to 224 x 224", problems["08"]);
        Assert.Equal(5, hostile["mask_problem_count"]!.GetValue<int>());
    }

    [Fact]
    public void Hidden_files_and_folders_are_left_out_and_listed()
    {
        var (reference, hostile, root, _) = Evaluations.Value;
        // Before: train/good/._03.jpg stopped the evaluation ("Cannot decode image"), and without it the good image in
        // .ipynb_checkpoints became a defect type, dropping image AUROC from 1.0 to 0.968.
        Assert.Equal(23, hostile["test_images"]!.GetValue<int>());
        Assert.Equal(reference["train_images"]!.GetValue<int>(), hostile["train_images"]!.GetValue<int>());
        Assert.Equal(reference["image_auroc"]!.GetValue<double>(), hostile["image_auroc"]!.GetValue<double>());
        Assert.DoesNotContain(hostile["per_defect_type"]!.AsArray(), t => t!["defect_type"]!.GetValue<string>().StartsWith('.'));
        var skipped = hostile["skipped_files"]!.AsArray().Select(s => Path.GetRelativePath(root, s!.GetValue<string>())).ToList();
        Assert.Equal([Path.Combine("test", ".ipynb_checkpoints"), Path.Combine("test", "colour", "._03.jpg"), Path.Combine("train", "good", "._03.jpg")],
            skipped.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Hostile_file_names_stay_data_in_scores_csv_and_report_html()
    {
        var (_, _, root, outDir) = Evaluations.Value;
        var rows = ParseCsv(File.ReadAllText(Path.Combine(outDir, "scores.csv")));
        Assert.Equal(["path", "label", "score"], rows[0]);
        Assert.All(rows, r => Assert.Equal(3, r.Count));
        Assert.Equal(24, rows.Count);
        foreach (var (_, name) in HostileNames)
            Assert.Contains(rows, r => r[0] == Path.Combine(root, "test", "colour", name + ".jpg") && r[1] == "1");

        var html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("\"c\" & d", html);
    }

    [Fact]
    public void A_test_folder_named_Good_is_refused_before_the_fit()
    {
        var root = CopyHazelnut("good-case");
        var upper = Directory.CreateDirectory(Path.Combine(root, "test", "Good")).FullName;
        File.Copy(Path.Combine(root, "test", "good", "04.jpg"), Path.Combine(upper, "99.jpg"));
        var outDir = Path.Combine(TestData.TempFolder("good-case-out"), "out");
        var (exitCode, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);

        // Before: its good image was a defect type "Good"; image AUROC 0.969 instead of 1.0.
        Assert.Equal(1, exitCode);
        Assert.Contains($"error: {upper}: only a folder named 'good' (lower case) holds good test images; as 'Good' its images would count as a defect type", stderr);
        Assert.DoesNotContain("backbone", stderr);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_test_set_of_one_class_is_refused_before_the_fit()
    {
        var root = CopyHazelnut("one-class");
        Directory.Delete(Path.Combine(root, "test", "colour"), recursive: true);
        var outDir = Path.Combine(TestData.TempFolder("one-class-out"), "out");
        var (exitCode, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);

        Assert.Equal(1, exitCode);
        Assert.Contains("the test set holds only good images (6); AUROC needs both. Put good test images in test/good and defective ones in test/<defect type>.", stderr);
        // Before: the same error, after fitting on every training image.
        Assert.DoesNotContain("backbone", stderr);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_folder_in_the_way_of_a_result_file_is_an_error_and_no_result_file_is_written()
    {
        var root = TinyCategory();
        var outDir = TestData.TempFolder("in-the-way");
        Directory.CreateDirectory(Path.Combine(outDir, "report.html"));
        var (exitCode, _, stderr) = PfProcess.Run("evaluate", "--pipeline", "padim-mobilenet", "--data", root, "--out", outDir);

        // Before: exit 2, "unexpected IOException: Is a directory", with metrics.json and scores.csv already written.
        Assert.Equal(1, exitCode);
        Assert.Contains($"error: Cannot write {Path.Combine(outDir, "report.html")}: a folder of that name is in the way", stderr);
        Assert.Equal(["report.html"], Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName));
    }

    [Fact]
    public void Files_written_as_one_set_keep_the_previous_set_when_one_of_them_fails()
    {
        var folder = TestData.TempFolder("write-all");
        string[] names = ["metrics.json", "scores.csv", "report.html"];
        foreach (var name in names) File.WriteAllText(Path.Combine(folder, name), "old " + name);

        var error = Assert.Throws<IOException>(() => AtomicFile.WriteAll([
            (Path.Combine(folder, "metrics.json"), AtomicFile.Text("new metrics")),
            (Path.Combine(folder, "scores.csv"), AtomicFile.Text("new scores")),
            (Path.Combine(folder, "report.html"), _ => throw new IOException("disk full")),
        ]));

        Assert.Equal("disk full", error.Message);
        foreach (var name in names) Assert.Equal("old " + name, File.ReadAllText(Path.Combine(folder, name)));
        Assert.Equal(names.Order(StringComparer.Ordinal), Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        AtomicFile.WriteAll([(Path.Combine(folder, "metrics.json"), AtomicFile.Text("new metrics")), (Path.Combine(folder, "scores.csv"), AtomicFile.Text("new scores"))]);
        Assert.Equal("new metrics", File.ReadAllText(Path.Combine(folder, "metrics.json")));
        Assert.Equal("new scores", File.ReadAllText(Path.Combine(folder, "scores.csv")));
    }

    // ------------------------------------------------------------------ data

    static string CopyHazelnut(string name)
    {
        var target = Path.Combine(TestData.TempFolder(name), "hazelnut");
        foreach (var dir in Directory.GetDirectories(TestData.Hazelnut, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(dir.Replace(TestData.Hazelnut, target));
        foreach (var file in Directory.GetFiles(TestData.Hazelnut, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(TestData.Hazelnut, target));
        return target;
    }

    /// <summary>The good training images, one good and one defective test image with its mask.</summary>
    static string TinyCategory()
    {
        var root = Path.Combine(TestData.TempFolder("tiny"), "tiny");
        foreach (var folder in new[] { "train/good", "test/good", "test/colour", "ground_truth/colour" }) Directory.CreateDirectory(Path.Combine(root, folder));
        foreach (var image in Directory.GetFiles(Path.Combine(TestData.Hazelnut, "train", "good")))
            File.Copy(image, Path.Combine(root, "train", "good", Path.GetFileName(image)));
        File.Copy(Path.Combine(TestData.Hazelnut, "test", "good", "04.jpg"), Path.Combine(root, "test", "good", "04.jpg"));
        File.Copy(Path.Combine(TestData.Hazelnut, "test", "colour", "03.jpg"), Path.Combine(root, "test", "colour", "03.jpg"));
        File.Copy(Mask(TestData.Hazelnut, "03"), Mask(root, "03"));
        return root;
    }

    static string Mask(string category, string stem) => Path.Combine(category, "ground_truth", "colour", stem + ".png");

    static JsonNode Metrics(string outDir) => JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))!;

    /// <summary>What macOS leaves beside a copied file: an AppleDouble header, named like the image.</summary>
    static byte[] AppleDouble() => [0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00, .. new byte[4000]];

    /// <summary>Rewrites a 0/255 grey mask with <paramref name="value"/> of each pixel, at the given channels and bit depth.</summary>
    /// <param name="transparentHidingWhite">
    /// With an alpha channel (2 or 4 channels): every colour white, the defect opaque and the rest fully transparent.
    /// </param>
    static void Reencode(string path, int channels, Func<int, int> value, int bitDepth = 8, bool redOnly = false, bool transparentHidingWhite = false)
    {
        using var mask = SKBitmap.Decode(path);
        int width = mask.Width, height = mask.Height;
        var grey = new int[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) grey[y * width + x] = mask.GetPixel(x, y).Red;
        WritePng(path, width, height, channels, bitDepth, (x, y) =>
        {
            int v = value(grey[y * width + x]);
            if (transparentHidingWhite) return channels == 2 ? [255, v] : [255, 255, 255, v];
            return channels == 1 ? [v] : redOnly ? [v, 0, 0] : [v, v, v];
        });
    }

    /// <summary>
    /// A PNG written byte by byte (grey, grey and alpha, RGB or RGBA by <paramref name="channels"/>; 8 or 16 bits), since
    /// SkiaSharp writes neither 16-bit nor arbitrary grey values, nor colours under transparency, on request.
    /// </summary>
    static void WritePng(string path, int width, int height, int channels, int bitDepth, Func<int, int, int[]> pixel)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < height; y++)
        {
            raw.WriteByte(0);
            for (int x = 0; x < width; x++)
                foreach (var v in pixel(x, y))
                {
                    if (bitDepth == 16) raw.WriteByte((byte)(v >> 8));
                    raw.WriteByte((byte)v);
                }
        }
        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) raw.WriteTo(z);

        using var file = File.Create(path);
        file.Write(PngChunks.Signature);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = (byte)bitDepth;
        header[9] = channels switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        PngChunks.Write(file, "IHDR", header);
        PngChunks.Write(file, "IDAT", compressed.ToArray());
        PngChunks.Write(file, "IEND", []);
    }

    /// <summary>RFC 4180, as a spreadsheet reads it: quoted fields may hold commas, doubled quotes and line breaks.</summary>
    static List<List<string>> ParseCsv(string text)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c != '"') field.Append(c);
                else if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else quoted = false;
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { row.Add(field.ToString()); field.Clear(); }
            else if (c is '\n' or '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                row.Add(field.ToString()); field.Clear();
                rows.Add(row); row = [];
            }
            else field.Append(c);
        }
        if (field.Length > 0 || row.Count > 0) { row.Add(field.ToString()); rows.Add(row); }
        return rows;
    }
}
