using System;
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
    private static long s_sinceMilliseconds;

    /// <summary>True while someone watches: the call paths record into their <see cref="LatencyWindow"/>s.</summary>
    public static bool Enabled => s_enabled;

    /// <summary>When watching began (<see cref="Environment.TickCount64"/>): rates are over the time since, 10 s at most.</summary>
    public static long SinceMilliseconds => Volatile.Read(ref s_sinceMilliseconds);

    public static void Enable()
    {
        if (!s_enabled)
        {
            Volatile.Write(ref s_sinceMilliseconds, Environment.TickCount64);
            s_enabled = true;
        }
    }

    public static void Disable() => s_enabled = false;
}

/// <summary>
/// Calls of one method (or attempts on one endpoint) over the last 10 seconds: a slot per second with a count, the
/// failures and a latency histogram (4 buckets per power of two from 8 µs to ~2 min: a percentile is within ±12.5 %),
/// and the last 16 outcomes. Recording is a few interlocked increments; a slot whose second has passed is cleared by
/// the first call of a new second (an increment racing that clear may be lost: the figures are for people, not for
/// decisions). 112 buckets × 10 slots of 8-byte counts: about 9 KiB per window, made on first use while watched.
/// </summary>
internal sealed class LatencyWindow
{
    /// <summary>The seconds a window covers.</summary>
    public const int Seconds = 10;

    /// <summary>The outcomes kept for <see cref="RecentOutcomes"/>.</summary>
    public const int RecentCount = 16;

    private const int Buckets = 112;
    private readonly Slot[] _slots = new Slot[Seconds];
    private readonly int[] _recent = new int[RecentCount];
    private int _recentNext = -1;

    public LatencyWindow()
    {
        for (int i = 0; i < Seconds; i++)
        {
            _slots[i] = new Slot();
        }

        _recent.AsSpan().Fill(int.MinValue);
    }

    /// <summary>
    /// Records one call that took <paramref name="microseconds"/> and ended with <paramref name="outcome"/> (0 = OK),
    /// counted as a failure when <paramref name="failed"/>.
    /// </summary>
    public void Record(long microseconds, int outcome, bool failed)
    {
        long second = Environment.TickCount64 / 1000;
        Slot slot = _slots[second % Seconds];
        if (Volatile.Read(ref slot.Second) != second)
        {
            slot.Roll(second);
        }

        Interlocked.Increment(ref slot.Count);
        if (failed)
        {
            Interlocked.Increment(ref slot.Failures);
        }

        Interlocked.Increment(ref slot.Histogram[BucketOf(microseconds)]);
        int next = Interlocked.Increment(ref _recentNext);
        Volatile.Write(ref _recent[(int)((uint)next % RecentCount)], outcome);
    }

    /// <summary>The window in <paramref name="field"/>, made there first if it is null (once, when threads race).</summary>
    public static LatencyWindow GetOrCreate(ref LatencyWindow? field) =>
        Volatile.Read(ref field) ?? Interlocked.CompareExchange(ref field, new LatencyWindow(), null) ?? field!;

    /// <summary>Records a call timed in Stopwatch ticks.</summary>
    public void RecordTicks(long elapsedTicks, long frequency, int outcome, bool failed) =>
        Record(frequency == 1_000_000 ? elapsedTicks : (long)(elapsedTicks * (1_000_000.0 / frequency)), outcome, failed);

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

    /// <summary>The last outcomes, oldest first (0 = OK, otherwise a status code or an outcome's number).</summary>
    public int[] RecentOutcomes()
    {
        int next = Volatile.Read(ref _recentNext);
        var outcomes = new System.Collections.Generic.List<int>(RecentCount);
        for (int i = next - RecentCount + 1; i <= next; i++)
        {
            if (i >= 0 && Volatile.Read(ref _recent[(int)((uint)i % RecentCount)]) is int outcome && outcome != int.MinValue)
            {
                outcomes.Add(outcome);
            }
        }

        return outcomes.ToArray();
    }

    /// <summary>The figures of the last <see cref="Seconds"/> seconds (or since watching began, if later).</summary>
    public WindowFigures Read()
    {
        long nowMilliseconds = Environment.TickCount64;
        long now = nowMilliseconds / 1000;
        long first = now - Seconds + 1;
        long count = 0, failures = 0;
        long[] histogram = new long[Buckets];
        foreach (Slot slot in _slots)
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
                histogram[i] += Volatile.Read(ref slot.Histogram[i]);
            }
        }

        long from = Math.Max(first * 1000, LiveStats.SinceMilliseconds);
        double seconds = Math.Max(0.001, (nowMilliseconds - from) / 1000.0);
        return new WindowFigures(
            count, count / seconds, count == 0 ? double.NaN : (count - failures) / (double)count,
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

    private sealed class Slot
    {
        public long Second = -1;
        public long Count;
        public long Failures;
        public readonly long[] Histogram = new long[Buckets];

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
                Array.Clear(Histogram);
                Volatile.Write(ref Second, second);
            }
        }
    }
}

/// <summary>A window's figures: calls, calls per second, the share that succeeded (NaN without calls), p50/p95/p99 in ms.</summary>
internal readonly record struct WindowFigures(long Count, double PerSecond, double SuccessRate, double P50, double P95, double P99);
