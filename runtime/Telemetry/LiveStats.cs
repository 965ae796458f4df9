using System;
using System.Diagnostics;
using System.Linq;
using System.Numerics;
using System.Threading;

namespace RpcGen.Telemetry;

/// <summary>
/// The switch for the admin page's live figures (rates, success rates and latency percentiles per method and per
/// endpoint). Off unless someone looks: the admin endpoints turn it on with each request and off again when nobody has
/// asked for a while, so a process whose page is closed spends one volatile read per call on it.
/// </summary>
internal static class LiveStats
{
    private static readonly object s_lock = new();
    private static volatile bool s_enabled;
    private static long s_since;
    private static long s_second;
    private static Timer? s_clock;

    /// <summary>True while someone watches: the call paths record into their <see cref="LatencyWindow"/>s.</summary>
    public static bool Enabled => s_enabled;

    /// <summary>When watching began (<see cref="Environment.TickCount64"/>): rates are over the time since, 10 s at most.</summary>
    public static long Since => Volatile.Read(ref s_since);

    /// <summary>
    /// The current second (<see cref="Environment.TickCount64"/> / 1000) as of the last tenth of a second: what a record
    /// files itself under, read from a field instead of the clock on every call.
    /// </summary>
    public static long CurrentSecond => Volatile.Read(ref s_second);

    public static void Enable()
    {
        lock (s_lock)
        {
            if (!s_enabled)
            {
                Volatile.Write(ref s_since, Environment.TickCount64);
                Volatile.Write(ref s_second, Environment.TickCount64 / 1000);
                s_clock = new Timer(static _ => Volatile.Write(ref s_second, Environment.TickCount64 / 1000), null, 100, 100);
                s_enabled = true;
            }
        }
    }

    /// <summary>Files the next records under <paramref name="second"/> (tests; the timer does it while watching).</summary>
    internal static void SetCurrentSecond(long second) => Volatile.Write(ref s_second, second);

    public static void Disable()
    {
        lock (s_lock)
        {
            s_enabled = false;
            s_clock?.Dispose();
            s_clock = null;
        }
    }
}

/// <summary>
/// Calls of one method (or attempts on one endpoint) over the last 10 seconds: per second, the calls, the failures and a
/// latency histogram (exact below 8 µs, then 4 buckets per power of two up to ~2 min: a percentile is within ±12.5 %);
/// endpoint windows also keep the last 16 outcomes. Counts are exact; latencies are all timed up to 256 calls per core
/// per second, then one in 16 (weighted 16), so a saturated method reads the clock on few calls (<see cref="Begin"/>).
/// The counters are striped by processor, so callers on different cores do not bounce one cache line between them. A
/// second's slot is cleared by its first record (an increment racing the clear may be lost: the figures are for people,
/// not for decisions). 112 four-byte buckets × 10 seconds × one stripe per core (8 at most): about 4.5 KiB per core per
/// window, made on first use while watched.
/// </summary>
internal sealed class LatencyWindow
{
    /// <summary>The seconds a window covers.</summary>
    public const int Seconds = 10;

    /// <summary>The outcomes kept for <see cref="RecentOutcomes"/>.</summary>
    public const int RecentCount = 16;

    private const int Buckets = 112;
    private readonly Stripe[] _stripes;

    /// <param name="keepRecent">Keep the last outcomes (the endpoints' dots on the page).</param>
    public LatencyWindow(bool keepRecent = false)
    {
        _stripes = new Stripe[Math.Clamp(Environment.ProcessorCount, 1, 8)];
        for (int i = 0; i < _stripes.Length; i++)
        {
            _stripes[i] = new Stripe(keepRecent);
        }
    }

    /// <summary>The window in <paramref name="field"/>, made there first if it is null (once, when threads race).</summary>
    public static LatencyWindow GetOrCreate(ref LatencyWindow? field, bool keepRecent = false) =>
        Volatile.Read(ref field) ?? Interlocked.CompareExchange(ref field, new LatencyWindow(keepRecent), null) ?? field!;

    /// <summary>
    /// Starts a call: a <see cref="Stopwatch"/> timestamp when it is to be timed, or -1 when it is only to be counted.
    /// Every call is timed until this core has timed <see cref="TimedPerSecond"/> in the current second; after that one
    /// in <see cref="SampleEvery"/> is (and stands for that many in the percentiles), so a saturated method pays a clock
    /// read on few of its calls while a quiet one has every call in its percentiles. Counts and failures stay exact.
    /// </summary>
    public long Begin()
    {
        Stripe stripe = CurrentStripe();
        Slot slot = stripe.Slots[LiveStats.CurrentSecond % Seconds];
        return Volatile.Read(ref slot.Timed) < TimedPerSecond || (++stripe.Skipped & (SampleEvery - 1)) == 0 ? Stopwatch.GetTimestamp() : -1;
    }

    /// <summary>Ends a call <see cref="Begin"/> started: counted, and timed when <paramref name="begun"/> is a timestamp.</summary>
    public void End(long begun, int outcome, bool failed)
    {
        if (begun < 0)
        {
            Slot slot = CurrentSlot(CurrentStripe(), LiveStats.CurrentSecond);
            Interlocked.Increment(ref slot.Count);
            if (failed)
            {
                Interlocked.Increment(ref slot.Failures);
            }

            return;
        }

        long now = Stopwatch.GetTimestamp();
        Add((long)((now - begun) * s_microsecondsPerTick), outcome, failed, now, sampled: true);
    }

    /// <summary>
    /// Records one call timed by its caller (every one: an endpoint's attempts, whose timestamps the balancer takes
    /// anyway) that took <paramref name="microseconds"/> and ended with <paramref name="outcome"/> (0 = OK) at
    /// <paramref name="endedAt"/> (a <see cref="Stopwatch"/> timestamp, for the order of the recent outcomes), counted
    /// as a failure when <paramref name="failed"/>.
    /// </summary>
    public void Record(long microseconds, int outcome, bool failed, long endedAt) => Add(microseconds, outcome, failed, endedAt, sampled: false);

    private void Add(long microseconds, int outcome, bool failed, long endedAt, bool sampled)
    {
        Stripe stripe = CurrentStripe();
        Slot slot = CurrentSlot(stripe, LiveStats.CurrentSecond);
        Interlocked.Increment(ref slot.Count);
        if (failed)
        {
            Interlocked.Increment(ref slot.Failures);
        }

        // Past the second's quota, a call Begin timed was one in SampleEvery: it weighs as many in the percentiles.
        int weight = sampled && Interlocked.Increment(ref slot.Timed) > TimedPerSecond ? SampleEvery : 1;
        Interlocked.Add(ref slot.Histogram[BucketOf(microseconds)], weight);
        if (stripe.RecentOutcomes is { } outcomes)
        {
            // The core's own ring, stamped with when the call ended (merged in order when read). Plain writes: a thread
            // that moved cores may share a place with another, which the dots can afford.
            int place = (int)((uint)++stripe.RecentNext % RecentCount);
            stripe.RecentStamps![place] = endedAt;
            Volatile.Write(ref outcomes[place], outcome);
        }
    }

    /// <summary>
    /// Records a timed call that lasted <paramref name="elapsedTicks"/> and ended at <paramref name="endedAt"/>, both
    /// <see cref="Stopwatch"/> ticks (the clock the call path read anyway: no clock read here).
    /// </summary>
    public void RecordTicks(long elapsedTicks, int outcome, bool failed, long endedAt) =>
        Record((long)(elapsedTicks * s_microsecondsPerTick), outcome, failed, endedAt);

    /// <summary>Calls a core times in full each second before it samples.</summary>
    internal const int TimedPerSecond = 256;

    /// <summary>Past <see cref="TimedPerSecond"/>, one call in this many is timed (a power of two).</summary>
    internal const int SampleEvery = 16;

    private Stripe CurrentStripe() => _stripes[(uint)Thread.GetCurrentProcessorId() % (uint)_stripes.Length];

    private static Slot CurrentSlot(Stripe stripe, long second)
    {
        Slot slot = stripe.Slots[second % Seconds];
        if (Volatile.Read(ref slot.Second) != second)
        {
            slot.Roll(second);
        }

        return slot;
    }

    private static readonly double s_microsecondsPerTick = 1_000_000.0 / Stopwatch.Frequency;

    /// <summary>The bucket of a duration: exact below 8 µs, then four per power of two.</summary>
    internal static int BucketOf(long microseconds)
    {
        if (microseconds < 8)
        {
            return (int)Math.Max(0, microseconds);
        }

        int exponent = BitOperations.Log2((ulong)microseconds); // ≥ 3
        int mantissa = (int)((microseconds >> (exponent - 2)) & 3);
        return Math.Min(Buckets - 1, 8 + ((exponent - 3) * 4) + mantissa);
    }

    /// <summary>The middle of a bucket, in microseconds.</summary>
    internal static double MiddleOf(int bucket)
    {
        if (bucket < 8)
        {
            return bucket + 0.5;
        }

        int exponent = ((bucket - 8) / 4) + 3;
        int mantissa = (bucket - 8) % 4;
        double low = (4 + mantissa) * Math.Pow(2, exponent - 2);
        return low * 1.125;
    }

    /// <summary>The last outcomes, oldest first (0 = OK, otherwise a status code or an outcome's number); empty unless kept.</summary>
    public int[] RecentOutcomes()
    {
        var stamped = new System.Collections.Generic.List<(long Stamp, int Outcome)>();
        foreach (Stripe stripe in _stripes)
        {
            if (stripe.RecentOutcomes is not { } outcomes)
            {
                return Array.Empty<int>();
            }

            for (int i = 0; i < RecentCount; i++)
            {
                int outcome = Volatile.Read(ref outcomes[i]);
                if (outcome != int.MinValue)
                {
                    stamped.Add((stripe.RecentStamps![i], outcome));
                }
            }
        }

        stamped.Sort(static (a, b) => a.Stamp.CompareTo(b.Stamp));
        return stamped.Skip(Math.Max(0, stamped.Count - RecentCount)).Select(static e => e.Outcome).ToArray();
    }

    /// <summary>The figures of the last <see cref="Seconds"/> seconds (or since watching began, if later).</summary>
    public WindowFigures Read() => Read(Environment.TickCount64);

    /// <summary>The figures as of <paramref name="nowMilliseconds"/> (<see cref="Environment.TickCount64"/>).</summary>
    internal WindowFigures Read(long nowMilliseconds)
    {
        long now = nowMilliseconds / 1000;
        long first = now - Seconds + 1;
        long count = 0, failures = 0, weights = 0;
        long[] histogram = new long[Buckets];
        foreach (Stripe stripe in _stripes)
        {
            foreach (Slot slot in stripe.Slots)
            {
                long second = Volatile.Read(ref slot.Second);
                if (second < first || second > now)
                {
                    continue;
                }

                count += Volatile.Read(ref slot.Count);
                failures += Volatile.Read(ref slot.Failures);
                for (int i = 0; i < Buckets; i++)
                {
                    int calls = Volatile.Read(ref slot.Histogram[i]);
                    histogram[i] += calls;
                    weights += calls;
                }
            }
        }

        long from = Math.Max(first * 1000, LiveStats.Since);
        double seconds = Math.Max(0.001, (nowMilliseconds - from) / 1000.0);
        return new WindowFigures(
            count, count / seconds, count == 0 ? double.NaN : Math.Max(0, count - failures) / (double)count,
            Percentile(histogram, weights, 0.50), Percentile(histogram, weights, 0.95), Percentile(histogram, weights, 0.99));
    }

    private static double Percentile(long[] histogram, long count, double quantile)
    {
        if (count == 0)
        {
            return double.NaN;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(quantile * count));
        long seen = 0;
        for (int i = 0; i < histogram.Length; i++)
        {
            seen += histogram[i];
            if (seen >= rank)
            {
                return MiddleOf(i) / 1000.0;
            }
        }

        return MiddleOf(histogram.Length - 1) / 1000.0;
    }

    /// <summary>One core's share: a slot per second, and the last outcomes it saw (endpoint windows only).</summary>
    private sealed class Stripe
    {
        public readonly Slot[] Slots = new Slot[Seconds];
        public readonly int[]? RecentOutcomes;
        public readonly long[]? RecentStamps;
        public int RecentNext = -1;
        public int Skipped; // calls not timed past the second's quota (plain: a lost increment only moves the sample)

        public Stripe(bool keepRecent)
        {
            for (int i = 0; i < Seconds; i++)
            {
                Slots[i] = new Slot();
            }

            if (keepRecent)
            {
                RecentOutcomes = new int[RecentCount];
                RecentOutcomes.AsSpan().Fill(int.MinValue);
                RecentStamps = new long[RecentCount];
            }
        }
    }

    private sealed class Slot
    {
        public long Second = -1;
        public int Count;
        public int Failures;
        public int Timed;
        public readonly int[] Histogram = new int[Buckets];

        public void Roll(long second)
        {
            lock (this)
            {
                if (Volatile.Read(ref Second) == second)
                {
                    return;
                }

                Volatile.Write(ref Count, 0);
                Volatile.Write(ref Failures, 0);
                Volatile.Write(ref Timed, 0);
                Array.Clear(Histogram);
                Volatile.Write(ref Second, second);
            }
        }
    }
}

/// <summary>A window's figures: calls, calls per second, the share that succeeded (NaN without calls), p50/p95/p99 in ms.</summary>
internal readonly record struct WindowFigures(long Count, double PerSecond, double SuccessRate, double P50, double P95, double P99);
