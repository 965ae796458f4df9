using System;
using System.Threading;
using RpcGen.Descriptors;
using RpcGen.Protocol;

namespace RpcGen.Server;

/// <summary>
/// The call a handler is serving, available to the code it runs (and everything it awaits) through
/// <see cref="Current"/>: its method, deadline and cancellation, the request's headers, and the headers and trailers
/// to send back. RpcGen also uses it for deadline propagation: a call made from inside a handler gets at most the time
/// left of the call being served, as gRPC does. Valid while the call runs: kept after it ended, it reads as empty
/// (no headers, no user) and its token as cancelled, never as a later call's.
/// </summary>
public sealed class RpcCallContext : IPropagatedCall
{
    private readonly TimeProvider _time;
    private readonly long _deadline;
    private readonly Server.RpcServerCall _call;
    private readonly int _generation;

    internal RpcCallContext(RpcMethodDescriptor method, TimeProvider time, long deadlineTimestamp, Server.RpcServerCall call, int generation, bool isRetryAttempt)
    {
        Method = method;
        IsRetryAttempt = isRetryAttempt;
        _time = time;
        _deadline = deadlineTimestamp;
        _call = call;
        _generation = generation;
    }

    /// <summary>The call being served on this logical flow, or null outside a handler.</summary>
    public static RpcCallContext? Current => CallPropagation.Current as RpcCallContext;

    /// <summary>The method being served.</summary>
    public RpcMethodDescriptor Method { get; }

    /// <summary>
    /// The token that fires at the deadline or when the client cancels (already cancelled once the call has finished).
    /// Created when first asked for, so a handler that never reads it pays nothing for it.
    /// </summary>
    public CancellationToken CancellationToken => _call.TokenFor(_generation);

    /// <summary>True when the call carries a deadline; <see cref="Remaining"/> is meaningful only then.</summary>
    public bool HasDeadline => _deadline != long.MaxValue;

    /// <summary>
    /// True when the request being served is a retry or hedge of an earlier attempt (it carried the retry marker).
    /// Calls the handler makes then are not retried (only transparently, when they never reached a server), so that
    /// retries do not multiply down a chain of services.
    /// </summary>
    public bool IsRetryAttempt { get; }

    /// <summary>The time left until the deadline (zero once it has passed; <see cref="TimeSpan.MaxValue"/> without one).</summary>
    public TimeSpan Remaining => CallPropagation.TimeLeft(_time, _deadline);

    /// <summary>The certificate the caller presented in the TLS handshake (mutual TLS), or null: its identity.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate => _call.ConnectionFor(_generation)?.ClientCertificate;

    /// <summary>
    /// The caller as <see cref="RpcServerOptions.Authenticator"/> identified it, or null (anonymous, or no authenticator).
    /// Set before interceptors you registered and the handler run.
    /// </summary>
    public System.Security.Claims.ClaimsPrincipal? User
    {
        get => _call.UserFor(_generation);
        internal set => _call.SetUser(_generation, value);
    }

    /// <summary>True when the call came over TLS.</summary>
    public bool IsEncrypted => _call.ConnectionFor(_generation)?.IsEncrypted ?? false;

    /// <summary>The headers the client sent (read-only; empty when it sent none).</summary>
    public RpcMetadata RequestHeaders => _call.RequestHeadersFor(_generation);

    /// <summary>
    /// Headers to send back with the response (or the error), for the caller to read. Write them before the handler
    /// completes; once the response is sent they are read-only.
    /// </summary>
    public RpcMetadata ResponseHeaders => _call.ResponseHeadersFor(_generation);

    /// <summary>
    /// Trailers to send after the result, or with the error (an <see cref="RpcException"/>'s own
    /// <see cref="RpcException.Trailers"/> are added to them). Read-only once the response is sent.
    /// </summary>
    public RpcMetadata ResponseTrailers => _call.ResponseTrailersFor(_generation);

    /// <summary>
    /// The claim this run of a <c>[Deduplicate]</c> method holds in its store, or null (another method, or a call that
    /// carried no call id). A handler that writes to the store's own database stores its answer in the same transaction
    /// with it (for SQLite, <c>SqliteDeduplicationStore.CompleteInTransaction</c>; docs/resilience.md).
    /// </summary>
    public Deduplication.RpcDeduplicationClaim? Deduplication => _call.DeduplicationFor(_generation);

    /// <summary>
    /// Disposes <paramref name="disposable"/> once the call has ended (after its response or error was sent), like
    /// ASP.NET Core's <c>HttpResponse.RegisterForDispose</c>: for what a handler or an activator made for this call.
    /// Things registered are disposed last first; a failure is logged, never sent to the caller.
    /// </summary>
    /// <exception cref="InvalidOperationException">The call has already ended.</exception>
    public void RegisterForDispose(IDisposable disposable)
    {
        ArgumentNullException.ThrowIfNull(disposable);
        _call.RegisterForDispose(_generation, disposable);
    }

    /// <inheritdoc cref="RegisterForDispose(IDisposable)"/>
    public void RegisterForDisposeAsync(IAsyncDisposable disposable)
    {
        ArgumentNullException.ThrowIfNull(disposable);
        _call.RegisterForDispose(_generation, disposable);
    }

    internal bool Is(Server.RpcServerCall call, int generation) => ReferenceEquals(_call, call) && _generation == generation;

    /// <summary>Makes <paramref name="context"/> current; returns the previous one, to restore.</summary>
    internal static RpcCallContext? Enter(RpcCallContext? context) => CallPropagation.Enter(context) as RpcCallContext;

    string IPropagatedCall.MethodName => Method.FullName;
}
