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
    private static volatile bool s_enabled;
    private static long s_since;

    /// <summary>True while someone watches: the call paths record into their <see cref="LatencyWindow"/>s.</summary>
    public static bool Enabled => s_enabled;

    /// <summary>When watching began (a <see cref="Stopwatch"/> timestamp): rates are over the time since, 10 s at most.</summary>
    public static long Since => Volatile.Read(ref s_since);

    public static void Enable()
    {
        if (!s_enabled)
        {
            Volatile.Write(ref s_since, Stopwatch.GetTimestamp());
            s_enabled = true;
        }
    }

    public static void Disable() => s_enabled = false;
}

/// <summary>
/// Calls of one method (or attempts on one endpoint) over the last 10 seconds: per second, the failures and a latency
/// histogram (exact below 8 µs, then 4 buckets per power of two up to ~2 min: a percentile is within ±12.5 %), the
/// count being the histogram's sum; endpoint windows also keep the last 16 outcomes. The counters are striped by
/// processor, so callers on different cores do not bounce one cache line between them: a record is two interlocked
/// increments on a line its core owns. A second's slot is cleared by its first record (an increment racing the clear
/// may be lost: the figures are for people, not for decisions). 112 four-byte buckets × 10 seconds × one stripe per core
/// (8 at most): about 4.5 KiB per core per window, made on first use while watched.
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
    /// Records one call that took <paramref name="microseconds"/> and ended with <paramref name="outcome"/> (0 = OK) at
    /// <paramref name="endedAt"/> (a <see cref="Stopwatch"/> timestamp), counted as a failure when <paramref name="failed"/>.
    /// </summary>
    public void Record(long microseconds, int outcome, bool failed, long endedAt)
    {
        long second = endedAt / Stopwatch.Frequency;
        Stripe stripe = _stripes[(uint)Thread.GetCurrentProcessorId() % (uint)_stripes.Length];
        Slot slot = stripe.Slots[second % Seconds];
        if (Volatile.Read(ref slot.Second) != second)
        {
            slot.Roll(second);
        }

        if (failed)
        {
            Interlocked.Increment(ref slot.Failures);
        }

        Interlocked.Increment(ref slot.Histogram[BucketOf(microseconds)]);
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
    /// Records a call that lasted <paramref name="elapsedTicks"/> and ended at <paramref name="endedAt"/>, both
    /// <see cref="Stopwatch"/> ticks (the clock the call path read anyway: no clock read here).
    /// </summary>
    public void RecordTicks(long elapsedTicks, int outcome, bool failed, long endedAt) =>
        Record((long)(elapsedTicks * s_microsecondsPerTick), outcome, failed, endedAt);

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
    public WindowFigures Read()
    {
        long nowTicks = Stopwatch.GetTimestamp();
        long now = nowTicks / Stopwatch.Frequency;
        long first = now - Seconds + 1;
        long count = 0, failures = 0;
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

                failures += Volatile.Read(ref slot.Failures);
                for (int i = 0; i < Buckets; i++)
                {
                    int calls = Volatile.Read(ref slot.Histogram[i]);
                    histogram[i] += calls;
                    count += calls;
                }
            }
        }

        long from = Math.Max(first * Stopwatch.Frequency, LiveStats.Since);
        double seconds = Math.Max(0.001, (nowTicks - from) / (double)Stopwatch.Frequency);
        return new WindowFigures(
            count, count / seconds, count == 0 ? double.NaN : Math.Max(0, count - failures) / (double)count,
            Percentile(histogram, count, 0.50), Percentile(histogram, count, 0.95), Percentile(histogram, count, 0.99));
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
        public int Failures;
        public readonly int[] Histogram = new int[Buckets];

        public void Roll(long second)
        {
            lock (this)
            {
                if (Volatile.Read(ref Second) == second)
                {
                    return;
                }

                Volatile.Write(ref Failures, 0);
                Array.Clear(Histogram);
                Volatile.Write(ref Second, second);
            }
        }
    }
}

/// <summary>A window's figures: calls, calls per second, the share that succeeded (NaN without calls), p50/p95/p99 in ms.</summary>
internal readonly record struct WindowFigures(long Count, double PerSecond, double SuccessRate, double P50, double P95, double P99);
