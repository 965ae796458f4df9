using System;
using System.Threading;

namespace RpcGen.Server.Internal;

/// <summary>
/// Watches the read loops that run handlers inline: a handler that keeps its loop's thread for two ticks (2–4 ms: it
/// blocks in sync I/O, a lock, <c>Thread.Sleep</c> or CPU work) loses the loop to another thread, so the rest of its
/// connection's calls, cancels and pings go on, as Go's scheduler hands a processor off from a goroutine blocked in a
/// system call. The timer runs only while handlers run inline: a tick that finds none open and none begun since the
/// last stops it, and the next handler starts it again.
/// </summary>
internal sealed class HandOffMonitor : IDisposable
{
    private readonly RpcServer _server;
    private readonly ITimer _timer;
    private int _tick;
    private int _armed;     // 1 while the timer is running
    private int _activity;  // 1 once a section began since the last tick
    private int _disposed;

    public HandOffMonitor(RpcServer server)
    {
        _server = server;
        // The real clock, not the server's TimeProvider: this is about threads, not call timing (a manual test clock
        // must not keep a blocked loop from being handed off).
        _timer = TimeProvider.System.CreateTimer(static s => ((HandOffMonitor)s!).OnTick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True while the timer runs (tests: it stops when no handler runs inline).</summary>
    internal bool IsArmed => Volatile.Read(ref _armed) == 1;

    /// <summary>Ticks so far.</summary>
    internal int TickCount => Volatile.Read(ref _tick);

    /// <summary>Called when a handler begins on a read loop: the current tick, with the timer running.</summary>
    public int Tick()
    {
        if (Volatile.Read(ref _activity) == 0)
        {
            Interlocked.Exchange(ref _activity, 1); // a full fence before reading _armed (the tick's disarm reads them in the other order)
        }

        if (Volatile.Read(ref _armed) == 0)
        {
            Arm();
        }

        return Volatile.Read(ref _tick);
    }

    private void Arm()
    {
        if (Interlocked.CompareExchange(ref _armed, 1, 0) == 0 && Volatile.Read(ref _disposed) == 0)
        {
            _timer.Change(ServerLimits.HandOffTickInterval, ServerLimits.HandOffTickInterval);
        }
    }

    private void OnTick()
    {
        int tick = Interlocked.Increment(ref _tick);
        bool active = Interlocked.Exchange(ref _activity, 0) == 1;
        foreach (System.Collections.Generic.KeyValuePair<ServerConnection, byte> open in _server.OpenConnections)
        {
            active |= open.Key.CheckHandOff(tick);
        }

        if (active)
        {
            return;
        }

        // Stop the timer first, then say so: a handler that begins in between sees the timer armed and marks activity,
        // which the check below finds; one that begins after arms it again itself.
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Interlocked.Exchange(ref _armed, 0);
        if (Volatile.Read(ref _activity) == 1)
        {
            Arm(); // a handler began while the timer was being stopped
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        _timer.Dispose();
    }
}
