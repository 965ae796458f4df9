using System;
using System.Threading;

namespace RpcGen.Server;

/// <summary>
/// What one server, one connection and one frame may cost: the bounds <see cref="RpcServer"/> holds every peer to,
/// polite or not (docs/security.md, "What one client can cost a server"). Each setter checks its value and throws an
/// <see cref="ArgumentOutOfRangeException"/> naming the setting; <c>null</c> means no limit where a limit is optional.
/// Configuration key: <c>Limits</c>.
/// </summary>
public sealed class RpcServerLimits
{
    private int _maxFrameSize = Protocol.ProtocolConstants.DefaultMaxFrameSize;
    private int _maxMetadataSize = Protocol.ProtocolConstants.DefaultMaxMetadataSize;
    private int? _maxConnections = 10_000;
    private int _maxConcurrentCallsPerConnection = 100;
    private int? _maxConcurrentCalls = 10_000;
    private long? _maxResponseBufferSize = 1024 * 1024;
    private int _maxConcurrentStreamsPerConnection = 100;
    private int? _maxConcurrentStreams = 10_000;
    private TimeSpan _handshakeTimeout = TimeSpan.FromSeconds(10);
    private TimeSpan _idleTimeout = TimeSpan.FromMinutes(2);
    private TimeSpan _frameTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _responseDrainTimeout = TimeSpan.FromSeconds(30);
    private TimeSpan _goAwayLinger = TimeSpan.FromSeconds(1);
    private TimeSpan _keepAliveInterval = TimeSpan.FromSeconds(30);
    private TimeSpan _keepAliveTimeout = TimeSpan.FromSeconds(10);
    private TimeSpan _memoryTrimInterval = TimeSpan.FromSeconds(10);
    private int _maxReceiveThreads = Transport.ReceiveThreadBudget.DefaultLimit;

    /// <summary>
    /// How many TCP connections receive on a thread of their own at once: the thread waits for the socket and runs the
    /// connection's read loop (and handlers that start on it) itself, with no hand-over to the thread pool (the fastest
    /// way; docs/benchmarks.md). Connections beyond it receive asynchronously on the thread pool; 0 makes every
    /// connection do so. Each such connection costs a thread and may buffer one frame (<see cref="MaxFrameSize"/>) ahead
    /// of its read loop. TLS connections never use one. The default value is 4 per processor, at least 8.
    /// </summary>
    public int MaxReceiveThreads
    {
        get => _maxReceiveThreads;
        set => _maxReceiveThreads = Checked(value, value >= 0, nameof(MaxReceiveThreads), "must be zero or positive");
    }

    /// <summary>The largest frame accepted or sent, in bytes; at least 1024. The default value is 4 MiB.</summary>
    public int MaxFrameSize
    {
        get => _maxFrameSize;
        set => _maxFrameSize = Checked(value, value >= 1024, nameof(MaxFrameSize), "must be at least 1024 bytes");
    }

    /// <summary>
    /// The most bytes of metadata a request may carry (refused with ResourceExhausted, not processed) and a response
    /// may send (the call fails with ResourceExhausted); 64 to 65,535. The default value is 8 KiB, gRPC's default.
    /// </summary>
    public int MaxMetadataSize
    {
        get => _maxMetadataSize;
        set => _maxMetadataSize = Checked(value, value is >= 64 and <= ushort.MaxValue,
            nameof(MaxMetadataSize), "must be between 64 and 65535 bytes");
    }

    /// <summary>
    /// The most TCP connections served at once; one accepted beyond it is refused with a GoAway that says why (and
    /// counted in <c>rpcgen.server.refused</c>). Bounds what idle or hostile clients can hold: each connection costs a
    /// socket, its buffers and a read loop. <c>null</c> means no limit. The default value is 10,000.
    /// </summary>
    public int? MaxConnections
    {
        get => _maxConnections;
        set => _maxConnections = Checked(value, value is null or > 0, nameof(MaxConnections), "must be positive, or null for no limit");
    }

    /// <summary>
    /// The most calls one connection may have running at once, like HTTP/2's MAX_CONCURRENT_STREAMS (Kestrel's default
    /// is also 100). The server announces it in its preface and RpcGen clients queue calls beyond it; a request over it
    /// (from another client) is refused with <see cref="RpcStatusCode.ResourceExhausted"/>, marked not
    /// processed. Handlers of cancelled calls count against twice this (at least 100). 1 to 65,535. The default value
    /// is 100.
    /// </summary>
    public int MaxConcurrentCallsPerConnection
    {
        get => _maxConcurrentCallsPerConnection;
        set => _maxConcurrentCallsPerConnection = Checked(value, value is >= 1 and <= ushort.MaxValue,
            nameof(MaxConcurrentCallsPerConnection), "must be between 1 and 65535");
    }

    /// <summary>
    /// The most calls running at once on the whole server; requests beyond it are refused with
    /// <see cref="RpcStatusCode.ResourceExhausted"/>, marked not processed, with a pushback, so clients take
    /// them to another server (load shedding). <c>null</c> means no limit. The default value is 10,000.
    /// </summary>
    public int? MaxConcurrentCalls
    {
        get => _maxConcurrentCalls;
        set => _maxConcurrentCalls = Checked(value, value is null or > 0, nameof(MaxConcurrentCalls), "must be positive, or null for no limit");
    }

    /// <summary>
    /// The most streaming calls one connection may have open at once; a stream request over it is refused with
    /// <see cref="RpcStatusCode.ResourceExhausted"/>, marked not processed. Streams are calls too: they also count
    /// against <see cref="MaxConcurrentCallsPerConnection"/>, so set this below it to keep call slots for unary calls on
    /// a connection full of long streams. What one stream may hold on the server is its window (<c>[Streaming]</c>:
    /// 64 items and 256 KiB by default, plus one item) of the client's unread items. 1 to 65,535. The default value is 100.
    /// </summary>
    public int MaxConcurrentStreamsPerConnection
    {
        get => _maxConcurrentStreamsPerConnection;
        set => _maxConcurrentStreamsPerConnection = Checked(value, value is >= 1 and <= ushort.MaxValue,
            nameof(MaxConcurrentStreamsPerConnection), "must be between 1 and 65535");
    }

    /// <summary>
    /// The most streaming calls open at once on the whole server; stream requests beyond it are refused with
    /// <see cref="RpcStatusCode.ResourceExhausted"/>, marked not processed, with a pushback. <c>null</c> means no limit.
    /// The default value is 10,000.
    /// </summary>
    public int? MaxConcurrentStreams
    {
        get => _maxConcurrentStreams;
        set => _maxConcurrentStreams = Checked(value, value is null or > 0, nameof(MaxConcurrentStreams), "must be positive, or null for no limit");
    }

    /// <summary>
    /// The most bytes of responses (and pongs) a connection may have waiting to be sent before the server stops reading
    /// its requests, until the queue is down to half: back-pressure on a client that asks faster than it reads, as
    /// HTTP/2 flow control gives. What one such client costs is this, plus the responses of calls already running (at
    /// most <see cref="MaxConcurrentCallsPerConnection"/>); one response larger than it is still sent. At least 64 KiB;
    /// <c>null</c> means no limit (a client that never reads can then make the server queue without bound). The default
    /// value is 1 MiB.
    /// </summary>
    public long? MaxResponseBufferSize
    {
        get => _maxResponseBufferSize;
        set => _maxResponseBufferSize = Checked(value, value is null or >= 64 * 1024,
            nameof(MaxResponseBufferSize), "must be at least 64 KiB (65536 bytes), or null for no limit");
    }

    /// <summary>
    /// How long a new connection may take from its accept to its preface, TLS handshake included. The default value is
    /// 10 seconds.
    /// </summary>
    public TimeSpan HandshakeTimeout
    {
        get => _handshakeTimeout;
        set => _handshakeTimeout = Checked(value, value > TimeSpan.Zero, nameof(HandshakeTimeout), "must be positive");
    }

    /// <summary>
    /// A connection with no call running and no request for this long is closed gracefully (GoAway, then close); the
    /// client reconnects when it next calls. Pings do not count as activity. Like Kestrel's KeepAliveTimeout (130 s).
    /// <see cref="Timeout.InfiniteTimeSpan"/> keeps idle connections open. The default value is 2 minutes.
    /// </summary>
    public TimeSpan IdleTimeout
    {
        get => _idleTimeout;
        set => _idleTimeout = Checked(value, value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan,
            nameof(IdleTimeout), "must be positive, or Timeout.InfiniteTimeSpan to keep idle connections");
    }

    /// <summary>
    /// How long a frame may take to arrive once its first byte has: a peer that stalls in the middle of a frame (a
    /// slowloris) is disconnected after it. Like Kestrel's RequestHeadersTimeout (30 s); at the default 4 MiB frame size
    /// it asks for about 140 KB/s from a sender of the largest frames. The default value is 30 seconds.
    /// </summary>
    public TimeSpan FrameTimeout
    {
        get => _frameTimeout;
        set => _frameTimeout = Checked(value, value > TimeSpan.Zero, nameof(FrameTimeout), "must be positive");
    }

    /// <summary>
    /// How long a connection's queued responses may go without any of them being taken by the peer before the
    /// connection is closed (a client that never reads). A reading client takes each write of up to 1 MiB (or one
    /// larger frame) well within it. The default value is 30 seconds.
    /// </summary>
    public TimeSpan ResponseDrainTimeout
    {
        get => _responseDrainTimeout;
        set => _responseDrainTimeout = Checked(value, value > TimeSpan.Zero, nameof(ResponseDrainTimeout), "must be positive");
    }

    /// <summary>
    /// After a graceful shutdown's GoAway, once its calls are done, how long a connection waits for the client to close
    /// it, refusing (as not processed) any request that crossed the GoAway. The default value is 1 second.
    /// </summary>
    public TimeSpan GoAwayLinger
    {
        get => _goAwayLinger;
        set => _goAwayLinger = Checked(value, value >= TimeSpan.Zero, nameof(GoAwayLinger), "must be zero or positive");
    }

    /// <summary>
    /// A connection with streams open from which nothing has arrived for this long is pinged, so that a client that
    /// vanished without closing (its machine died, a network cut) does not hold its streams' handlers for ever, and a
    /// quiet stream keeps its connection alive through proxies. <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// Connections without streams are not pinged (<see cref="IdleTimeout"/> ends those). The default value is 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveInterval
    {
        get => _keepAliveInterval;
        set => _keepAliveInterval = Checked(value, value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan,
            nameof(KeepAliveInterval), "must be positive, or Timeout.InfiniteTimeSpan to send no pings");
    }

    /// <summary>
    /// How long after its keepalive ping a connection may stay silent before it is judged dead and closed (its streams'
    /// handlers see their tokens fire). The default value is 10 seconds.
    /// </summary>
    public TimeSpan KeepAliveTimeout
    {
        get => _keepAliveTimeout;
        set => _keepAliveTimeout = Checked(value, value > TimeSpan.Zero, nameof(KeepAliveTimeout), "must be positive");
    }

    /// <summary>
    /// How often the server looks whether to give memory back after a storm (10,000 connections, many large calls): when
    /// no garbage collection ran for a whole interval (the process is quiet) and the heap is over 64 MiB and twice its
    /// size after the last trim, it runs one aggressive, compacting collection, which returns the storm's memory to the
    /// system. A busy server collects on its own and is never trimmed. One look per interval per process costs nothing
    /// measurable; <see cref="Timeout.InfiniteTimeSpan"/> turns it off (a host that manages the collector itself). The
    /// default value is 10 seconds.
    /// </summary>
    public TimeSpan MemoryTrimInterval
    {
        get => _memoryTrimInterval;
        set => _memoryTrimInterval = Checked(value, value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan,
            nameof(MemoryTrimInterval), "must be positive, or Timeout.InfiniteTimeSpan to leave memory to the collector");
    }

    /// <summary>The value when it keeps its rule; otherwise the error that names the setting and the rule.</summary>
    private static T Checked<T>(T value, bool valid, string name, string rule) =>
        valid ? value : throw new ArgumentOutOfRangeException("value", value, $"RpcServerOptions.Limits.{name} {rule}.");
}
