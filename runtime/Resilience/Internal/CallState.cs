using System;
using System.Threading;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// What the resilience layer reads and writes of one call across its attempts: deadline, cancellation, endpoints tried,
/// attempt count, delay chosen, call id. The client's per-call context (<c>Client/Internal/ClientCall</c>) extends it with what
/// only the client knows (method, arguments' hash key, interceptors' view) and pools it; hedged and broadcast calls,
/// whose attempts run at once, take its lock.
/// </summary>
internal abstract class CallState
{
    private TriedEndpoints _tried;

    /// <summary>The method's policies, or null for a method without any (its calls take the direct path).</summary>
    public MethodResilience? Resilience { get; private set; }

    public CancellationToken CancellationToken { get; private set; }

    /// <summary>The call's deadline on the client's clock, or <see cref="long.MaxValue"/> for none.</summary>
    public long Deadline { get; private set; }

    /// <summary>The handler making this call serves a retry attempt: this call must not retry again (no amplification).</summary>
    public bool ServingRetry { get; private set; }

    /// <summary>Attempts run at once (hedging, broadcast): the state is shared between threads.</summary>
    public bool Concurrent { get; private set; }

    public Guid CallId { get; private set; }

    public int Attempts;

    public TimeSpan NextDelay;

    /// <summary>The latest failure of an attempt that was sent, for the caller when a skipped hedge ends the call.</summary>
    public Exception? LastError;

    /// <summary>
    /// For a deduplicated method that is not idempotent: the endpoint whose server got the request. Its retries go back
    /// there, because only that server's window knows the call id.
    /// </summary>
    public RpcEndpointState? Sticky;

    /// <summary>The first attempt's failure, which the retry pipeline returns as its own first outcome.</summary>
    public Exception? ReplayFirst;

    /// <summary>
    /// Set once a stream's first item crossed (gRPC's commit): from then on the call is never retried, since a retry
    /// would repeat what the caller has already seen (or take from its source again).
    /// </summary>
    public volatile bool Committed;

    /// <summary>Starts the state of a new call; a deduplicated method's call gets its id (not a broadcast's: one per server).</summary>
    protected void Begin(MethodResilience? resilience, long deadline, bool servingRetry, CancellationToken cancellationToken, bool concurrent)
    {
        Resilience = resilience;
        Deadline = deadline;
        ServingRetry = servingRetry;
        CancellationToken = cancellationToken;
        Concurrent = concurrent;
        CallId = resilience is { Deduplicate: true, Broadcast: false } ? CallIds.Next() : Guid.Empty;
    }

    /// <summary>Forgets the call, for the next one that reuses this state.</summary>
    protected void Clear()
    {
        _tried = default;
        Attempts = 0;
        NextDelay = default;
        ReplayFirst = null;
        Committed = false;
        LastError = null;
        Sticky = null;
        Resilience = null;
        CancellationToken = default;
        CallId = Guid.Empty;
    }

    public TriedEndpoints Tried
    {
        get
        {
            if (!Concurrent)
            {
                return _tried;
            }

            lock (this)
            {
                return _tried;
            }
        }
    }

    public void AddTried(int endpointId)
    {
        if (!Concurrent)
        {
            _tried = _tried.Add(endpointId);
            return;
        }

        lock (this)
        {
            _tried = _tried.Add(endpointId);
        }
    }

    public void ClearTried()
    {
        if (!Concurrent)
        {
            _tried = default;
            return;
        }

        lock (this)
        {
            _tried = default;
        }
    }

    /// <summary>Takes the next attempt number (0 for the first).</summary>
    public int NextAttempt() => Concurrent ? Interlocked.Increment(ref Attempts) - 1 : Attempts++;
}
