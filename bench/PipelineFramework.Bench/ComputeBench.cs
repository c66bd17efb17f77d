using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PipelineFramework.Compute;

namespace PipelineFramework.Bench;

/// <summary>
/// Dense-kernel benchmark: machine single-precision peak (register-only FMA loop and best large Gemm),
/// PatchCore-sized kNN throughput, and the k-centre coreset time.
/// </summary>
public static class ComputeBench
{
    public static Dictionary<string, object> Run(string? bottleTrainFolder = null)
    {
        var result = new Dictionary<string, object>
        {
            ["processor_count"] = Environment.ProcessorCount,
            ["avx512"] = Vector512.IsHardwareAccelerated && Avx512F.IsSupported,
            ["fma"] = Fma.IsSupported,
        };
        if (bottleTrainFolder is not null) result["bottle_train_folder"] = bottleTrainFolder; // synthetic data only; folder noted

        // (1a) Register-only FMA peak, all cores.
        double fmaPeak = MeasureFmaPeak(Environment.ProcessorCount);
        result["fma_peak_gflops"] = Math.Round(fmaPeak, 1);
        result["fma_peak_gflops_1thread"] = Math.Round(MeasureFmaPeak(1), 1);

        // (1b) Best Gemm.Multiply on 1024^3.
        const int g = 1024;
        var ga = RandomData(g * g, 1);
        var gb = RandomData(g * g, 2);
        var gc = new float[g * g];
        Gemm.Multiply(ga, gb, gc, g, g, g); // warm-up / JIT
        double bestGemm = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            Gemm.Multiply(ga, gb, gc, g, g, g);
            sw.Stop();
            bestGemm = Math.Max(bestGemm, 2.0 * g * g * g / sw.Elapsed.TotalSeconds / 1e9);
        }
        result["gemm_1024_gflops"] = Math.Round(bestGemm, 1);
        result["gemm_fraction_of_fma_peak"] = Math.Round(bestGemm / fmaPeak, 3);
        ga = gb = gc = null!;

        // (2) kNN: 784*20 queries x 160k bank x 160 dims, k = 1.
        const int queries = 784 * 20, bankCount = 160_000, dim = 160;
        var bank = RandomData(bankCount * dim, 3);
        var q = RandomData(queries * dim, 4);
        var index = new NearestNeighbourIndex(bank, bankCount, dim);
        var dist = new float[queries];
        var idx = new int[queries];
        index.Search(q.AsSpan(0, 784 * dim), 784, 1, dist, idx); // warm-up
        var swk = Stopwatch.StartNew();
        index.Search(q, queries, 1, dist, idx);
        swk.Stop();
        double knnGflops = 2.0 * queries * bankCount * dim / swk.Elapsed.TotalSeconds / 1e9;
        result["knn_seconds"] = Math.Round(swk.Elapsed.TotalSeconds, 3);
        result["knn_gflops"] = Math.Round(knnGflops, 1);
        result["knn_fraction_of_gemm_peak"] = Math.Round(knnGflops / bestGemm, 3);
        result["knn_fraction_of_fma_peak"] = Math.Round(knnGflops / fmaPeak, 3);

        // Per-image kNN (784 queries), the inference shape.
        var swi = Stopwatch.StartNew();
        const int imageReps = 5;
        for (int rep = 0; rep < imageReps; rep++)
            index.Search(q.AsSpan(rep * 784 * dim, 784 * dim), 784, 1, dist, idx);
        swi.Stop();
        double perImage = swi.Elapsed.TotalSeconds / imageReps;
        result["knn_per_image_ms"] = Math.Round(perImage * 1000, 2);
        result["knn_per_image_gflops"] = Math.Round(2.0 * 784 * bankCount * dim / perImage / 1e9, 1);
        bank = q = null!;
        index = null!;

        // (3) Coreset: 164,000 x 160 -> 10 % with a 128-d projection.
        const int coresetCount = 164_000, select = 16_400;
        var data = RandomData(coresetCount * dim, 5);
        var swc = Stopwatch.StartNew();
        var picked = KCenterGreedy.Select(data, coresetCount, dim, select, projectionDim: 128, seed: 0);
        swc.Stop();
        result["coreset_seconds"] = Math.Round(swc.Elapsed.TotalSeconds, 3);
        result["coreset_selected"] = picked.Length;
        return result;
    }

    private static float[] RandomData(int length, int seed)
    {
        var rng = new Random(seed);
        var data = new float[length];
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        return data;
    }

    /// <summary>Best GFLOP/s of a register-only FMA loop (12 independent accumulators per thread, dedicated threads).</summary>
    public static double MeasureFmaPeak(int threads)
    {
        const long iterations = 40_000_000;
        FmaLoop(1000, out long flopsPerIteration); // JIT
        double best = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            using var start = new Barrier(threads + 1);
            var sinks = new float[threads];
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                int id = t;
                workers[t] = new Thread(() =>
                {
                    start.SignalAndWait();
                    sinks[id] = FmaLoop(iterations, out _);
                }) { IsBackground = true };
                workers[t].Start();
            }
            start.SignalAndWait();
            var sw = Stopwatch.StartNew();
            foreach (var w in workers) w.Join();
            sw.Stop();
            double gflops = (double)iterations * flopsPerIteration * threads / sw.Elapsed.TotalSeconds / 1e9;
            if (!sinks.Any(float.IsNaN)) best = Math.Max(best, gflops);
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long iterations, out long flopsPerIteration)
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            flopsPerIteration = 12 * 16 * 2;
            var x = Vector512.Create(0.999999f);
            var y = Vector512.Create(1e-7f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
            Vector512<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Avx512F.FusedMultiplyAdd(a0, x, y); a1 = Avx512F.FusedMultiplyAdd(a1, x, y);
                a2 = Avx512F.FusedMultiplyAdd(a2, x, y); a3 = Avx512F.FusedMultiplyAdd(a3, x, y);
                a4 = Avx512F.FusedMultiplyAdd(a4, x, y); a5 = Avx512F.FusedMultiplyAdd(a5, x, y);
                a6 = Avx512F.FusedMultiplyAdd(a6, x, y); a7 = Avx512F.FusedMultiplyAdd(a7, x, y);
                a8 = Avx512F.FusedMultiplyAdd(a8, x, y); a9 = Avx512F.FusedMultiplyAdd(a9, x, y);
                a10 = Avx512F.FusedMultiplyAdd(a10, x, y); a11 = Avx512F.FusedMultiplyAdd(a11, x, y);
            }
            var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
            return Vector512.Sum(s);
        }
        if (Fma.IsSupported)
        {
            flopsPerIteration = 12 * 8 * 2;
            var x = Vector256.Create(0.999999f);
            var y = Vector256.Create(1e-7f);
            Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
            Vector256<float> a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Fma.MultiplyAdd(a0, x, y); a1 = Fma.MultiplyAdd(a1, x, y);
                a2 = Fma.MultiplyAdd(a2, x, y); a3 = Fma.MultiplyAdd(a3, x, y);
                a4 = Fma.MultiplyAdd(a4, x, y); a5 = Fma.MultiplyAdd(a5, x, y);
                a6 = Fma.MultiplyAdd(a6, x, y); a7 = Fma.MultiplyAdd(a7, x, y);
                a8 = Fma.MultiplyAdd(a8, x, y); a9 = Fma.MultiplyAdd(a9, x, y);
                a10 = Fma.MultiplyAdd(a10, x, y); a11 = Fma.MultiplyAdd(a11, x, y);
            }
            var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
            return Vector256.Sum(s);
        }
        flopsPerIteration = 12 * System.Numerics.Vector<float>.Count * 2;
        var vx = new System.Numerics.Vector<float>(0.999999f);
        var vy = new System.Numerics.Vector<float>(1e-7f);
        System.Numerics.Vector<float> b0 = System.Numerics.Vector<float>.One, b1 = b0, b2 = b0, b3 = b0, b4 = b0, b5 = b0;
        System.Numerics.Vector<float> b6 = b0, b7 = b0, b8 = b0, b9 = b0, b10 = b0, b11 = b0;
        for (long i = 0; i < iterations; i++)
        {
            b0 = b0 * vx + vy; b1 = b1 * vx + vy; b2 = b2 * vx + vy; b3 = b3 * vx + vy;
            b4 = b4 * vx + vy; b5 = b5 * vx + vy; b6 = b6 * vx + vy; b7 = b7 * vx + vy;
            b8 = b8 * vx + vy; b9 = b9 * vx + vy; b10 = b10 * vx + vy; b11 = b11 * vx + vy;
        }
        return System.Numerics.Vector.Sum(b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9 + b10 + b11);
    }
}
