using System;
using System.Threading;

namespace RpcGen.Transport;

/// <summary>
/// Watches the read loops that run user code inline (a server's handlers, a client's callers resumed by their
/// responses): code that keeps its loop's thread for two ticks (2–4 ms: it blocks in sync I/O, a lock,
/// <c>Thread.Sleep</c> or CPU work) loses the loop to another thread (<see cref="FramedConnection.CheckHandOff"/>), so the
/// rest of its connection's calls, cancels and pings go on, as Go's scheduler hands a processor off from a goroutine
/// blocked in a system call. The timer runs only while user code runs inline: a tick that finds none open and none
/// begun since the last stops it, and the next section starts it again.
/// </summary>
internal sealed class HandOffMonitor : IDisposable
{
    /// <summary>How often the monitor looks at the read loops.</summary>
    public static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(2);

    /// <summary>Ticks a section may hold its read loop before the loop is handed off (so 2–4 ms).</summary>
    public const int Ticks = 2;

    private readonly Func<int, bool> _checkAll;
    private readonly ITimer _timer;
    private int _tick;
    private int _armed;     // 1 while the timer is running
    private int _activity;  // 1 once a section began since the last tick
    private int _disposed;

    /// <param name="checkAll">
    /// Called on each tick with its number: checks every read loop the monitor watches
    /// (<see cref="FramedConnection.CheckHandOff"/>), true while any is inside a section.
    /// </param>
    public HandOffMonitor(Func<int, bool> checkAll)
    {
        _checkAll = checkAll;
        // The real clock, not the server's TimeProvider: this is about threads, not call timing (a manual test clock
        // must not keep a blocked loop from being handed off).
        _timer = TimeProvider.System.CreateTimer(static s => ((HandOffMonitor)s!).OnTick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True while the timer runs (tests: it stops when no handler runs inline).</summary>
    internal bool IsArmed => Volatile.Read(ref _armed) == 1;

    /// <summary>Ticks so far.</summary>
    internal int TickCount => Volatile.Read(ref _tick);

    /// <summary>Called when a section begins on a read loop: the current tick, with the timer running.</summary>
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
            _timer.Change(TickInterval, TickInterval);
        }
    }

    private void OnTick()
    {
        int tick = Interlocked.Increment(ref _tick);
        bool active = Interlocked.Exchange(ref _activity, 0) == 1;
        active |= _checkAll(tick);
        if (active)
        {
            return;
        }

        // Stop the timer first, then say so: a section that begins in between sees the timer armed and marks activity,
        // which the check below finds; one that begins after arms it again itself.
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Interlocked.Exchange(ref _armed, 0);
        if (Volatile.Read(ref _activity) == 1)
        {
            Arm(); // a section began while the timer was being stopped
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        _timer.Dispose();
    }
}
