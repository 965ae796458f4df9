using System;
using System.Threading;
using RpcGen.Balancing;

namespace RpcGen.Resilience;

/// <summary>
/// The mutable state of one call across its attempts: endpoints tried, attempt count, delay chosen, call id. Pooled per
/// thread for sequential calls; hedged calls (whose attempts run at once) get their own and take its lock.
/// </summary>
internal sealed class CallState
{
    [ThreadStatic]
    private static CallState? t_cached;

    private TriedEndpoints _tried;

    public MethodResilience Resilience { get; private set; } = null!;

    public CancellationToken CancellationToken { get; private set; }

    public long Deadline { get; private set; }

    public bool ServingRetry { get; private set; }

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

    public static CallState Rent(MethodResilience resilience, long deadline, bool servingRetry, CancellationToken cancellationToken, bool concurrent)
    {
        CallState? state = concurrent ? null : t_cached;
        if (state is not null)
        {
            t_cached = null;
        }
        else
        {
            state = new CallState();
        }

        state.Resilience = resilience;
        state.Deadline = deadline;
        state.ServingRetry = servingRetry;
        state.CancellationToken = cancellationToken;
        state.Concurrent = concurrent;
        state.CallId = resilience.Deduplicate ? Guid.NewGuid() : Guid.Empty;
        return state;
    }

    public static void Return(CallState state)
    {
        if (state.Concurrent)
        {
            return; // a losing hedge may still hold it
        }

        state._tried = default;
        state.Attempts = 0;
        state.NextDelay = default;
        state.ReplayFirst = null;
        state.LastError = null;
        state.Sticky = null;
        state.Resilience = null!;
        state.CancellationToken = default;
        t_cached = state;
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
