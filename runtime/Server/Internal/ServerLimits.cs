using System;

namespace RpcGen.Server.Internal;

/// <summary>Fixed values of the server's limits (the adjustable ones are in <see cref="RpcServerOptions"/>).</summary>
internal static class ServerLimits
{
    /// <summary>
    /// The pushback sent with a request refused over a limit: a client's retry policy waits this long before its next
    /// attempt (which fails over to another endpoint). Short, because the refused request never ran; not zero, so that a
    /// cluster that is full everywhere is not hammered in a loop.
    /// </summary>
    public const int PushbackMilliseconds = 25;

    /// <summary>
    /// The most pings a connection may send in a second; one more closes it with a GoAway that says so (gRPC servers
    /// answer a ping flood with GOAWAY ENHANCE_YOUR_CALM). An RpcGen client pings once per keepalive interval.
    /// </summary>
    public const int MaxPingsPerSecond = 100;

    /// <summary>
    /// Handlers one connection may have running, those of calls its client cancelled included: twice the calls it
    /// may have at once, at least 100 (Kestrel tracks HTTP/2 streams the same way against rapid reset).
    /// </summary>
    public static int MaxRunningPerConnection(RpcServerOptions options) => Math.Max(2 * options.Limits.MaxConcurrentCallsPerConnection, 100);

    /// <summary>Requests refused over <see cref="MaxRunningPerConnection"/> within <see cref="StrikeWindow"/> before the connection is closed.</summary>
    public const int MaxStrikes = 100;

    /// <summary>The window <see cref="MaxStrikes"/> counts over (Kestrel: 5 ticks of a second).</summary>
    public static readonly TimeSpan StrikeWindow = TimeSpan.FromSeconds(5);

    /// <summary>How long a connection refused over MaxConnections lingers for its client to read why.</summary>
    public static readonly TimeSpan RefusalLinger = TimeSpan.FromMilliseconds(250);

    /// <summary>Refused connections that may linger at once; beyond it they are closed without a word.</summary>
    public const int MaxLingeringRefusals = 64;

    /// <summary>How often the heartbeat looks for idle, stalled and silent connections: a quarter of the shortest timeout (10 ms–1 s).</summary>
    public static TimeSpan HeartbeatInterval(RpcServerOptions options)
    {
        TimeSpan shortest = options.Limits.FrameTimeout < options.Limits.ResponseDrainTimeout ? options.Limits.FrameTimeout : options.Limits.ResponseDrainTimeout;
        if (options.Limits.IdleTimeout != System.Threading.Timeout.InfiniteTimeSpan && options.Limits.IdleTimeout < shortest)
        {
            shortest = options.Limits.IdleTimeout;
        }

        if (options.Limits.KeepAliveInterval != System.Threading.Timeout.InfiniteTimeSpan)
        {
            TimeSpan interval = options.Limits.KeepAliveInterval, timeout = options.Limits.KeepAliveTimeout;
            TimeSpan keepAlive = interval < timeout ? interval : timeout;
            shortest = keepAlive < shortest ? keepAlive : shortest;
        }

        long ticks = Math.Clamp(shortest.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond);
        return TimeSpan.FromTicks(ticks);
    }
}
