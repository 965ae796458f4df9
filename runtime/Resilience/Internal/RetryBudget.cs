using System;
using System.Threading;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// Finagle's retry budget: over a sliding window, retries (and hedges) may be at most <c>Ratio</c> × the calls made,
/// plus a floor of <c>MinRetriesPerSecond</c> so that a quiet client can still retry. When every server fails, this
/// caps the extra load retries add at that ratio instead of multiplying it by the attempt count. One per client,
/// shared by its methods. Lock-free: ten buckets of counters, the stale one cleared when the clock moves past it.
/// </summary>
internal sealed class RetryBudget
{
    private const int Buckets = 10;
    private readonly long[] _deposits = new long[Buckets];
    private readonly long[] _withdrawals = new long[Buckets];
    private readonly long[] _epochs = new long[Buckets];
    private readonly long _bucketTicks;
    private readonly double _ratio;
    private readonly double _floor;
    private readonly TimeProvider _time;

    public RetryBudget(RetryBudgetOptions options, TimeProvider time)
    {
        _time = time;
        _ratio = options.Ratio;
        _floor = options.MinRetriesPerSecond * options.Window.TotalSeconds;
        _bucketTicks = Math.Max(1, (long)(options.Window.TotalSeconds * time.TimestampFrequency / Buckets));
    }

    /// <summary>A call was made: it earns <c>Ratio</c> of a retry.</summary>
    public void Deposit(long timestamp) => Interlocked.Increment(ref _deposits[Bucket(timestamp)]);

    /// <summary>Takes one retry from the budget; false when the window's retries are spent.</summary>
    public bool TryWithdraw()
    {
        long now = _time.GetTimestamp();
        int current = Bucket(now);
        if (Available(now) < 1)
        {
            return false;
        }

        Interlocked.Increment(ref _withdrawals[current]);
        return true;
    }

    /// <summary>The retries the budget would allow now (its floor plus the ratio of calls, less the retries taken).</summary>
    public double Available() => Available(_time.GetTimestamp());

    private double Available(long now)
    {
        long epoch = now / _bucketTicks;
        long deposits = 0, withdrawals = 0;
        for (int i = 0; i < Buckets; i++)
        {
            if (epoch - Volatile.Read(ref _epochs[i]) < Buckets)
            {
                deposits += Volatile.Read(ref _deposits[i]);
                withdrawals += Volatile.Read(ref _withdrawals[i]);
            }
        }

        return _floor + (_ratio * deposits) - withdrawals;
    }

    /// <summary>The bucket for <paramref name="timestamp"/>, cleared first when it still holds an older window's counts.</summary>
    private int Bucket(long timestamp)
    {
        long epoch = timestamp / _bucketTicks;
        int index = (int)(epoch % Buckets);
        long seen = Volatile.Read(ref _epochs[index]);
        if (seen != epoch && Interlocked.CompareExchange(ref _epochs[index], epoch, seen) == seen)
        {
            // Counts from this bucket's previous lap are out of the window. A concurrent increment between the swap and
            // these writes may be lost: the budget is an estimate, and it errs towards fewer retries.
            Volatile.Write(ref _deposits[index], 0);
            Volatile.Write(ref _withdrawals[index], 0);
        }

        return index;
    }
}
