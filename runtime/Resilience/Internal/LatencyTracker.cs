using System;
using System.Threading;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// The latencies of a method's most recent successful calls, for the adaptive hedging delay (p95) and for skipping a
/// retry that the remaining deadline could not fit (p50). Recording is one interlocked increment and a store;
/// reading sorts a copy on the stack, and only happens on the retry and hedging paths.
/// </summary>
internal sealed class LatencyTracker
{
    private const int Size = 128;
    private const int MinimumSamples = 16;
    private readonly long[] _samples = new long[Size];
    private long _count;

    public void Record(long elapsedTicks) =>
        Volatile.Write(ref _samples[(int)((ulong)(Interlocked.Increment(ref _count) - 1) % Size)], elapsedTicks);

    /// <summary>The <paramref name="quantile"/> of the recent samples in timestamp ticks, or null while there are too few.</summary>
    public long? Quantile(double quantile)
    {
        int count = (int)Math.Min(Volatile.Read(ref _count), Size);
        if (count < MinimumSamples)
        {
            return null;
        }

        Span<long> copy = stackalloc long[Size];
        for (int i = 0; i < count; i++)
        {
            copy[i] = Volatile.Read(ref _samples[i]);
        }

        copy = copy.Slice(0, count);
        copy.Sort();
        return copy[Math.Min(count - 1, (int)Math.Ceiling(quantile * count) - 1)];
    }
}
