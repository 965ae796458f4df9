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
    /// When true, the server also serves <c>rpcgen.describe</c> (docs/describe.md): the services it maps, their methods,
    /// streaming shapes, policies and the JSON schemas of their arguments and results, for tools such as <c>rpcgen</c>.
    /// With an <see cref="Authenticator"/>, only authenticated callers get an answer. The default value is false: a
    /// server says nothing about itself unless asked to.
    /// </summary>
    public bool EnableDescribe { get; set; }

    /// <summary>
    /// When true, a handler starts on the connection's read loop and runs there until its first <c>await</c>: the
    /// fastest path for asynchronous handlers. A handler that keeps the loop's thread for 2–4 ms (it blocks in sync
    /// I/O or a lock, or computes) loses the loop to another thread, so the connection's other calls, cancels and pings
    /// go on. When false, each handler starts on the thread pool (arguments copied into a pooled buffer first). The
    /// default value is true.
    /// </summary>
    public bool RunHandlersInline { get; set; } = true;

    /// <summary>
    /// What one server, one connection and one frame may cost: connections, calls, frame and metadata sizes, queued
    /// responses, and the handshake, idle, frame and drain timeouts. Configuration key: <c>Limits</c>.
    /// </summary>
    public RpcServerLimits Limits { get; } = new();

    /// <summary>The window of <c>[Deduplicate]</c> calls. Configuration key: <c>Deduplication</c>.</summary>
    public DeduplicationOptions Deduplication { get; } = new();

    /// <summary>The clock for deadlines. The default value is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where connection events and handler failures are logged. The default value is none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// Checks the settings as <see cref="RpcServer"/>'s constructor does; throws an <see cref="ArgumentException"/> that
    /// names the first invalid one.
    /// </summary>
    public void Validate()
    {
        // Limits and Deduplication check each value in its setter; what is left is what spans settings.
        Tls?.Validate();
    }
}
