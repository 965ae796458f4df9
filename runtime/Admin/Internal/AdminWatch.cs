using System;
using System.Threading;
using RpcGen.Telemetry;

namespace RpcGen.Admin.Internal;

/// <summary>
/// Keeps the live figures on while someone reads the admin JSON, and turns them off when nobody has for
/// <see cref="IdleTimeout"/>: each request calls <see cref="Touch"/>; a timer (only while on) checks every few seconds.
/// With the page closed, the call paths pay one volatile read.
/// </summary>
internal sealed class AdminWatch
{
    /// <summary>How long the figures stay on after the last request.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);

    public static readonly AdminWatch Default = new(TimeProvider.System);

    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private long _lastTouch;
    private ITimer? _timer;

    public AdminWatch(TimeProvider time) => _time = time;

    /// <summary>True while the timer runs (the figures are on).</summary>
    public bool Watching
    {
        get
        {
            lock (_lock)
            {
                return _timer is not null;
            }
        }
    }

    public void Touch()
    {
        lock (_lock)
        {
            _lastTouch = _time.GetTimestamp();
            if (_timer is null)
            {
                LiveStats.Enable();
                TimeSpan period = IdleTimeout / 6;
                _timer = _time.CreateTimer(static state => ((AdminWatch)state!).Check(), this, period, period);
            }
        }
    }

    /// <summary>Turns the figures off now (tests that count allocations per call must not run with them on).</summary>
    internal void StopForTests()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
            LiveStats.Disable();
        }
    }

    private void Check()
    {
        lock (_lock)
        {
            if (_timer is null || _time.GetElapsedTime(_lastTouch) < IdleTimeout)
            {
                return;
            }

            _timer.Dispose();
            _timer = null;
            LiveStats.Disable();
        }
    }
}
