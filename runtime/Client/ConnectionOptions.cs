using System;
using System.Threading;

namespace RpcGen.Client;

/// <summary>
/// How a client's connections are made and kept: frame size, connect timeout, reconnection backoff and keepalive
/// (configuration section <c>Connection</c>).
/// </summary>
public sealed class ConnectionOptions
{
    /// <summary>The largest frame sent or accepted, in bytes. The default value is 4 MiB.</summary>
    public int MaxFrameSize { get; set; } = Protocol.ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>
    /// The most bytes of metadata a request may carry; a call over it fails with ResourceExhausted before anything is
    /// sent. The default value is 8 KiB, gRPC's default (a server refuses more than its own limit).
    /// </summary>
    public int MaxMetadataSize { get; set; } = Protocol.ProtocolConstants.DefaultMaxMetadataSize;

    /// <summary>How long connecting and the protocol handshake may take. The default value is 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The first wait before reconnecting to an endpoint that could not be reached. The default value is 100 ms.</summary>
    public TimeSpan ReconnectBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between reconnection attempts. The default value is 5 seconds.</summary>
    public TimeSpan MaxReconnectBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A connection from which nothing has arrived for this long is pinged; <see cref="Timeout.InfiniteTimeSpan"/> turns
    /// keepalive off. The default value is 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a keepalive ping may wait for its pong before the connection is judged dead and closed (its calls fail
    /// with Unavailable and the next call reconnects). The default value is 10 seconds.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many of the client's TCP connections receive on a thread of their own at once: the thread waits for the socket
    /// and resumes the callers of each response itself, with no hand-over to the thread pool (the fastest way;
    /// docs/benchmarks.md). Connections beyond it receive asynchronously on the thread pool; 0 makes every connection do
    /// so. TLS connections never use one. The default value is 4 per processor, at least 8.
    /// </summary>
    public int MaxReceiveThreads { get; set; } = Transport.ReceiveThreadBudget.DefaultLimit;

    internal void Validate()
    {
        if (MaxFrameSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameSize), MaxFrameSize, "Connection.MaxFrameSize must be at least 1024 bytes.");
        }

        if (MaxReceiveThreads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxReceiveThreads), MaxReceiveThreads, "Connection.MaxReceiveThreads must be zero or positive.");
        }

        if (MaxMetadataSize is < 64 or > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMetadataSize), MaxMetadataSize, "Connection.MaxMetadataSize must be between 64 and 65535 bytes.");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "Connection.ConnectTimeout must be positive.");
        }

        if (ReconnectBackoff <= TimeSpan.Zero || MaxReconnectBackoff < ReconnectBackoff)
        {
            throw new ArgumentOutOfRangeException(nameof(ReconnectBackoff), ReconnectBackoff, "Connection.ReconnectBackoff must be positive and not above MaxReconnectBackoff.");
        }

        if ((KeepAliveInterval <= TimeSpan.Zero && KeepAliveInterval != Timeout.InfiniteTimeSpan) || KeepAliveTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAliveInterval), KeepAliveInterval, "Connection.KeepAliveInterval must be positive (or infinite) and KeepAliveTimeout positive.");
        }
    }
}
