using System;
using System.Collections.Generic;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace RpcGen.Server;

/// <summary>How an <see cref="RpcServer"/> listens and serves.</summary>
public sealed class RpcServerOptions
{
    /// <summary>
    /// The addresses to listen on; port 0 picks a free port (read it back from <see cref="RpcServer.Endpoints"/>).
    /// The default value is 127.0.0.1 port 0.
    /// </summary>
    public IList<IPEndPoint> Listen { get; } = new List<IPEndPoint>();

    /// <summary>
    /// Serializer options for arguments and results; use the same settings as the clients. The default value is
    /// <see cref="JsonSerializerDefaults.Web"/> options.
    /// </summary>
    public JsonSerializerOptions? SerializerOptions { get; set; }

    /// <summary>The largest frame accepted or sent, in bytes. The default value is 4 MiB.</summary>
    public int MaxFrameSize { get; set; } = Protocol.ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>
    /// The most bytes of metadata a request may carry (refused with ResourceExhausted, not processed) and a response
    /// may send (the call fails with ResourceExhausted). The default value is 8 KiB, gRPC's default.
    /// </summary>
    public int MaxMetadataSize { get; set; } = Protocol.ProtocolConstants.DefaultMaxMetadataSize;

    /// <summary>
    /// Code run around every handler, in this order (the first outermost), fixed when the server starts. None by
    /// default, and then a call pays nothing for the feature.
    /// </summary>
    public IList<RpcServerInterceptor> Interceptors { get; } = new List<RpcServerInterceptor>();

    /// <summary>
    /// Identifies the caller of every call before it runs (a client certificate, a bearer token: see
    /// <see cref="RpcAuthenticators"/>); <c>[RpcAuthorize]</c> is checked against it. The default value is none: every
    /// caller is anonymous, and methods with <c>[RpcAuthorize]</c> refuse them all.
    /// </summary>
    public IRpcAuthenticator? Authenticator { get; set; }

    /// <summary>TLS (and mutual TLS) for every TCP connection; in-process connections are unaffected. The default value is none: plain TCP.</summary>
    public RpcServerTlsOptions? Tls { get; set; }

    /// <summary>
    /// When true, an exception from a handler reaches the client with its type, message and stack trace; when false,
    /// the client sees only that the handler failed. For development only. The default value is false.
    /// </summary>
    public bool IncludeExceptionDetails { get; set; }

    /// <summary>
    /// When true, a handler starts on the connection's read loop and runs there until its first <c>await</c>: the
    /// fastest path for asynchronous handlers. A handler that keeps the loop's thread for 2–4 ms (it blocks in sync
    /// I/O or a lock, or computes) loses the loop to another thread, so the connection's other calls, cancels and pings
    /// go on. When false, each handler starts on the thread pool (arguments copied into a pooled buffer first). The
    /// default value is true.
    /// </summary>
    public bool RunHandlersInline { get; set; } = true;

    /// <summary>
    /// How many recent call ids of <c>[Deduplicate]</c> methods the server remembers, with their answers. The default
    /// value is 10000.
    /// </summary>
    public int DeduplicationCapacity { get; set; } = 10_000;

    /// <summary>
    /// The most bytes of stored results the deduplication window keeps; the oldest answers are dropped beyond it. The
    /// default value is 64 MiB.
    /// </summary>
    public long DeduplicationMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>How long a finished deduplicated call's answer is kept for its retries. The default value is 5 minutes.</summary>
    public TimeSpan DeduplicationWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// After a graceful shutdown's GoAway, once its calls are done, how long a connection waits for the client to close
    /// it, refusing (as not processed) any request that crossed the GoAway. The default value is 1 second.
    /// </summary>
    public TimeSpan GoAwayLinger { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a new connection may take to send its preface. The default value is 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The most TCP connections served at once; a connection accepted beyond it is closed at once (and counted in
    /// <c>rpcgen.server.refused</c>). Bounds what idle or hostile clients can hold (each connection costs a socket, its
    /// buffers and a read loop). <c>0</c> means no limit. The default value is 10,000.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// The most calls one connection may have running at once, like HTTP/2's MAX_CONCURRENT_STREAMS (Kestrel's default
    /// is also 100). The server announces it in its preface and RpcGen clients queue calls beyond it; a request over it
    /// (from another client) is refused with <see cref="Protocol.RpcStatusCode.ResourceExhausted"/>, marked not processed. At most
    /// 65,535. The default value is 100.
    /// </summary>
    public int MaxConcurrentCallsPerConnection { get; set; } = 100;

    /// <summary>
    /// The most calls running at once on the whole server; requests beyond it are refused with
    /// <see cref="Protocol.RpcStatusCode.ResourceExhausted"/>, marked not processed, with a pushback, so clients take them to
    /// another server (load shedding). <c>0</c> means no limit. The default value is 10,000.
    /// </summary>
    public int MaxConcurrentCalls { get; set; } = 10_000;

    /// <summary>
    /// A connection with no call running and no request for this long is closed gracefully (GoAway, then close); the
    /// client reconnects when it next calls. Pings do not count as activity. Like Kestrel's KeepAliveTimeout (130 s).
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> keeps idle connections open. The default value is 2 minutes.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a frame may take to arrive once its first byte has: a peer that stalls in the middle of a frame (a
    /// slowloris) is disconnected after it. Like Kestrel's RequestHeadersTimeout (30 s); at the default 4 MiB frame size
    /// it asks for about 140 KB/s from a sender of the largest frames. The default value is 30 seconds.
    /// </summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most bytes of responses (and pongs) a connection may have waiting to be sent before the server stops reading
    /// its requests, until the queue is down to half: back-pressure on a client that asks faster than it reads, as
    /// HTTP/2 flow control gives. What one such client costs is this, plus the responses of calls already running (at
    /// most <see cref="MaxConcurrentCallsPerConnection"/>); one response larger than it is still sent. At least 64 KiB.
    /// The default value is 1 MiB.
    /// </summary>
    public long MaxResponseBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// How long a connection's queued responses may go without any of them being taken by the peer before the
    /// connection is closed (a client that never reads). A reading client takes each write of up to 1 MiB (or one
    /// larger frame) well within it. The default value is 30 seconds.
    /// </summary>
    public TimeSpan ResponseDrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock for deadlines. The default value is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where connection events and handler failures are logged. The default value is none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// Checks every setting as <see cref="RpcServer"/>'s constructor does; throws an <see cref="ArgumentException"/>
    /// that names the first invalid one.
    /// </summary>
    public void Validate()
    {
        Tls?.Validate();
        if (MaxMetadataSize is < 64 or > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMetadataSize), MaxMetadataSize, "MaxMetadataSize must be between 64 and 65535 bytes.");
        }

        if (MaxFrameSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameSize), MaxFrameSize, "MaxFrameSize must be at least 1024 bytes.");
        }

        if (DeduplicationCapacity < 1 || DeduplicationMaxBytes < 0 || DeduplicationWindow <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(DeduplicationCapacity), "DeduplicationCapacity must be at least 1, DeduplicationMaxBytes 0 or more, and DeduplicationWindow positive.");
        }

        if (GoAwayLinger < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(GoAwayLinger), GoAwayLinger, "GoAwayLinger must be zero or positive.");
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), HandshakeTimeout, "HandshakeTimeout must be positive.");
        }

        if (MaxConnections < 0 || MaxConcurrentCalls < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), "MaxConnections and MaxConcurrentCalls must be 0 (no limit) or positive.");
        }

        if (MaxConcurrentCallsPerConnection is < 1 or > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConcurrentCallsPerConnection), MaxConcurrentCallsPerConnection, "MaxConcurrentCallsPerConnection must be between 1 and 65535.");
        }

        if (MaxResponseBufferSize < 64 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxResponseBufferSize), MaxResponseBufferSize, "MaxResponseBufferSize must be at least 64 KiB (65536 bytes).");
        }

        if (ResponseDrainTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ResponseDrainTimeout), ResponseDrainTimeout, "ResponseDrainTimeout must be positive.");
        }

        if ((IdleTimeout <= TimeSpan.Zero && IdleTimeout != System.Threading.Timeout.InfiniteTimeSpan) || FrameTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), "IdleTimeout must be positive (or infinite) and FrameTimeout positive.");
        }
    }
}
