namespace PipelineFramework.AutoML.Trials;

/// <summary>
/// Enforces the memory share while trials run: a thread of its own (not the thread pool, which the fit's parallel loops
/// keep busy) samples the process every <see cref="Interval"/> and cancels <see cref="Token"/> when the working set goes
/// above the limit, so the fit stops at its next cancellation check (embedding, coreset batches, Gaussian positions).
/// <para>
/// What is measured: the process working set (what the OS charges: managed heap, ONNX Runtime's native memory and the
/// prepared-set cache alike), and the GC heap beside it for the reason text. Trials running in parallel share one
/// process and cannot be told apart, so with N trials each has a share of limit/N and the monitor compares their sum,
/// the working set, against the sum of the shares: above it, every trial running is stopped.
/// </para>
/// </summary>
public sealed class MemoryMonitor : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    readonly long _limit;
    readonly CancellationTokenSource _source;
    readonly ManualResetEventSlim _stop = new();
    readonly Thread _thread;
    long _peakWorkingSet, _peakGcHeap;

    /// <summary>Starts sampling at once (the first sample is taken before this returns).</summary>
    public MemoryMonitor(long limitBytes, CancellationToken outer)
    {
        _limit = limitBytes;
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
        Sample();
        _thread = new Thread(Loop) { IsBackground = true, Name = "AutoML memory monitor" };
        _thread.Start();
    }

    /// <summary>Cancelled by the caller's token or when the working set passes the limit.</summary>
    public CancellationToken Token => _source.Token;
    public bool OverLimit { get; private set; }
    public long PeakWorkingSet => Interlocked.Read(ref _peakWorkingSet);
    public long PeakGcHeap => Interlocked.Read(ref _peakGcHeap);
    public long Limit => _limit;

    void Loop()
    {
        while (!_stop.Wait(Interval)) Sample();
    }

    /// <summary>Takes one sample now (also the last one, when a trial ends, so a spike between samples is not missed at the end).</summary>
    public void Sample()
    {
        long workingSet = CurrentWorkingSet(), gcHeap = GC.GetTotalMemory(false);
        InterlockedMax(ref _peakWorkingSet, workingSet);
        InterlockedMax(ref _peakGcHeap, gcHeap);
        if (workingSet > _limit && !OverLimit && CollectedStillAbove())
        {
            OverLimit = true;
            try { _source.Cancel(); }
            catch (ObjectDisposedException) { }
        }
    }

    static long CurrentWorkingSet() => Environment.WorkingSet;

    readonly Lock _collectGate = new();
    long? _lastCollectTicks;

    /// <summary>
    /// Garbage the GC has not collected yet is not what a setting needs: above the limit, a full blocking collection
    /// (at most one a second, so memory hovering at the limit does not turn into constant collections) and a second
    /// look decide. Native memory (ONNX Runtime) does not shrink with it and still counts.
    /// </summary>
    bool CollectedStillAbove()
    {
        lock (_collectGate)
        {
            long now = Environment.TickCount64;
            if (now - _lastCollectTicks < 1000) return true;
            _lastCollectTicks = now;
        }
        // Aggressive: also hands the freed memory back to the OS, which is what the working set measures.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return CurrentWorkingSet() > _limit;
    }

    static void InterlockedMax(ref long target, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref target)))
            if (Interlocked.CompareExchange(ref target, value, current) == current) return;
    }

    /// <summary>Why the trials were stopped, in the record's words; <paramref name="peak"/> is the trial's peak (this monitor's when not given).</summary>
    public string Reason(string phase, int running, long? peak = null) =>
        $"stopped during {phase}: the working set reached {(peak ?? PeakWorkingSet) >> 20} MB (GC heap {PeakGcHeap >> 20} MB), above the memory share " +
        (running > 1 ? $"of {running} trials in parallel ({_limit >> 20} MB together, {(_limit / running) >> 20} MB each)" : $"{_limit >> 20} MB") +
        "; raise budget.memory or leave this setting out of the search";

    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
        _stop.Dispose();
        _source.Dispose();
    }
}
