using System;
using System.Threading;

namespace RpcGen.Transport;

/// <summary>
/// What the deadline timers of pooled calls share (the client's <c>PendingCall</c>, the server's
/// <c>RpcServerCall</c>): how long until a deadline, and a timer made for one.
/// </summary>
internal static class DeadlineTimer
{
    /// <summary>
    /// A one-shot timer for a pooled object's deadlines, made without the current execution context: the object outlives
    /// the call it was made in, and a timer would otherwise keep that call's ambient state (its activity, its call context)
    /// alive and run every later fire in it.
    /// </summary>
    public static ITimer Create(TimeProvider time, TimerCallback callback, object state, TimeSpan due)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return time.CreateTimer(callback, state, due, Timeout.InfiniteTimeSpan);
        }

        AsyncFlowControl suppressed = ExecutionContext.SuppressFlow();
        try
        {
            return time.CreateTimer(callback, state, due, Timeout.InfiniteTimeSpan);
        }
        finally
        {
            suppressed.Undo();
        }
    }

    /// <summary>The time from <paramref name="now"/> to <paramref name="deadline"/>, rounded up to whole milliseconds.</summary>
    public static TimeSpan DueIn(TimeProvider time, long now, long deadline)
    {
        double ms = (deadline - now) * 1000.0 / time.TimestampFrequency;
        return TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(ms)));
    }
}
