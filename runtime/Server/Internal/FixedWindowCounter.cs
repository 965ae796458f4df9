using System;

namespace RpcGen.Server.Internal;

/// <summary>
/// Counts events in fixed windows of time on a connection's clock (no clock read of its own): the ping rate and the
/// refusals for handlers of cancelled calls are both bounded with it. Used by one thread at a time (the read loop).
/// </summary>
internal struct FixedWindowCounter
{
    private long _windowStart;
    private int _count;

    /// <summary>Counts one event at <paramref name="now"/>; true once more than <paramref name="limit"/> fell in its window.</summary>
    public bool Add(TimeProvider time, long now, TimeSpan window, int limit)
    {
        if (time.GetElapsedTime(_windowStart, now) >= window)
        {
            _windowStart = now;
            _count = 0;
        }

        return ++_count > limit;
    }
}
