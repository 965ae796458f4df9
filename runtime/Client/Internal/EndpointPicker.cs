using System;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;
using RpcGen.Resilience.Internal;

namespace RpcGen.Client.Internal;

/// <summary>
/// The pick of an attempt: the method's balancer over the client's candidates, minus the endpoints this call already
/// tried and those whose circuit is open. No lock, no allocation (filtered candidates live in a pooled array).
/// </summary>
internal sealed class EndpointPicker
{
    private readonly RpcClient _client;

    public EndpointPicker(RpcClient client) => _client = client;

    /// <summary>
    /// Asks the method's balancer for an endpoint among the candidates this call has not tried and whose circuits let
    /// calls through. A retry that has tried every candidate may go back to one (<paramref name="allowRepeat"/>).
    /// </summary>
    /// <summary>
    /// <see cref="Pick"/>, with the one refusal it can make (every circuit open) returned rather than thrown. False
    /// with <paramref name="refused"/> set on that refusal; true otherwise, with a null endpoint when none is left.
    /// </summary>
    public bool TryPick(
        RpcClientMethod method, ulong hashKey, ref TriedEndpoints tried, long timestamp, bool allowRepeat, CircuitBreakerGroup? breaker,
        out RpcEndpointState? endpoint, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out RpcException? refused)
    {
        refused = null;
        endpoint = Pick(method, hashKey, ref tried, timestamp, allowRepeat, breaker, ref refused);
        return refused is null;
    }

    private RpcEndpointState? Pick(RpcClientMethod method, ulong hashKey, ref TriedEndpoints tried, long timestamp, bool allowRepeat, CircuitBreakerGroup? breaker, ref RpcException? refused)
    {
        EndpointSet set = _client.EndpointSet;
        // Priority groups: the call goes to one group, drawn by the groups' shares (by its hash key, so a key stays put).
        ReadOnlySpan<RpcEndpointState> candidates = set.Levels is null
            ? set.Candidates
            : set.CandidatesFor(method.HasHashKey ? (int)(hashKey % 10_000) : (_client.Options.Balancing.Random ?? Random.Shared).Next(10_000));
        bool filterBreaker = breaker is { AnyNotClosed: true };
        if (tried.IsEmpty && !filterBreaker)
        {
            return candidates.IsEmpty ? null : method.Balancer.Pick(Context(method, set, candidates, hashKey, timestamp, tried));
        }

        // Retries and open circuits: the balancer sees the remaining candidates, in a pooled array (no allocation).
        RpcEndpointState[] pooled = System.Buffers.ArrayPool<RpcEndpointState>.Shared.Rent(Math.Max(1, set.Candidates.Length)); // room for a failover to every group
        try
        {
            int remaining = 0, open = 0;
            foreach (RpcEndpointState candidate in candidates)
            {
                if (filterBreaker && breaker!.IsBlocked(candidate.Id, timestamp))
                {
                    open++;
                }
                else if (!tried.Contains(candidate.Id))
                {
                    pooled[remaining++] = candidate;
                }
            }

            if (remaining == 0 && candidates.Length < set.Candidates.Length)
            {
                // The call's priority group is used up (tried, or behind open circuits): fail over to every group.
                foreach (RpcEndpointState candidate in set.Candidates)
                {
                    if (!(filterBreaker && breaker!.IsBlocked(candidate.Id, timestamp)) && !tried.Contains(candidate.Id))
                    {
                        pooled[remaining++] = candidate;
                    }
                }

                if (remaining > 0)
                {
                    open = 0;
                }
            }

            if (remaining == 0 && allowRepeat && !tried.IsEmpty && open < candidates.Length)
            {
                // Every candidate was tried by earlier attempts: failover prefers new endpoints but does not require one.
                tried = default;
                return Pick(method, hashKey, ref tried, timestamp, allowRepeat: false, breaker, ref refused);
            }

            if (open > 0 && open == candidates.Length)
            {
                refused = new RpcException(RpcStatusCode.Unavailable,
                    $"Every endpoint's circuit is open for '{method.Descriptor.FullName}' ([CircuitBreaker]); failing fast until a break time passes.")
                {
                    NotProcessed = true,
                };
                return null;
            }

            return remaining == 0 ? null : method.Balancer.Pick(Context(method, set, pooled.AsSpan(0, remaining), hashKey, timestamp, tried));
        }
        finally
        {
            System.Buffers.ArrayPool<RpcEndpointState>.Shared.Return(pooled, clearArray: true);
        }
    }

    private LoadBalancingContext Context(
        RpcClientMethod method, EndpointSet set, ReadOnlySpan<RpcEndpointState> candidates, ulong hashKey, long timestamp, TriedEndpoints tried) =>
        new(set, candidates, method.Descriptor, hashKey, method.HasHashKey, timestamp, tried, _client.TotalInFlight);
}
