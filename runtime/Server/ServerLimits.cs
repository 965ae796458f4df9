using System;

namespace RpcGen.Server;

/// <summary>Fixed values of the server's limits (the adjustable ones are in <see cref="RpcServerOptions"/>).</summary>
internal static class ServerLimits
{
    /// <summary>
    /// The pushback sent with a request refused over a limit: a client's retry policy waits this long before its next
    /// attempt (which fails over to another endpoint). Short, because the refused request never ran; not zero, so that a
    /// cluster that is full everywhere is not hammered in a loop.
    /// </summary>
    public const int PushbackMilliseconds = 25;

    /// <summary>How often the heartbeat looks for idle and stalled connections: a quarter of the shortest timeout, within 10 ms to 1 s.</summary>
    public static TimeSpan HeartbeatInterval(RpcServerOptions options)
    {
        TimeSpan shortest = options.FrameTimeout;
        if (options.IdleTimeout != System.Threading.Timeout.InfiniteTimeSpan && options.IdleTimeout < shortest)
        {
            shortest = options.IdleTimeout;
        }

        long ticks = Math.Clamp(shortest.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond);
        return TimeSpan.FromTicks(ticks);
    }
}
