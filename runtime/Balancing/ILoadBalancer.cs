using System;
using RpcGen.Balancing.Internal;
using RpcGen.Descriptors;

namespace RpcGen.Balancing;

/// <summary>
/// Picks the endpoint for one call. Implementations are called concurrently from many threads and must not block;
/// built-in ones take no locks and allocate nothing per pick.
/// </summary>
public interface ILoadBalancer
{
    /// <summary>The strategy's name, for logs and diagnostics.</summary>
    string Name { get; }

    /// <summary>Returns an endpoint from <see cref="LoadBalancingContext.Candidates"/>, or null when none is acceptable.</summary>
    RpcEndpointState? Pick(in LoadBalancingContext context);
}

/// <summary>What a balancer picks from, for one call.</summary>
public readonly ref struct LoadBalancingContext
{
    /// <summary>Creates a context (the runtime does; tests of custom balancers may).</summary>
    public LoadBalancingContext(ReadOnlySpan<RpcEndpointState> candidates, RpcMethodDescriptor? method, ulong hashKey, bool hasHashKey, long timestamp)
    {
        Candidates = candidates;
        Method = method;
        HashKey = hashKey;
        HasHashKey = hasHashKey;
        Timestamp = timestamp;
        Set = null;
        Tried = default;
        TotalInFlight = -1;
    }

    internal LoadBalancingContext(EndpointSet set, ReadOnlySpan<RpcEndpointState> candidates, RpcMethodDescriptor? method, ulong hashKey, bool hasHashKey, long timestamp, TriedEndpoints tried, long totalInFlight)
    {
        Candidates = candidates;
        Method = method;
        HashKey = hashKey;
        HasHashKey = hasHashKey;
        Timestamp = timestamp;
        Set = set;
        Tried = tried;
        TotalInFlight = totalInFlight;
    }

    /// <summary>The client's endpoint set the candidates come from (null when a test built the context).</summary>
    internal EndpointSet? Set { get; }

    internal TriedEndpoints Tried { get; }

    /// <summary>All calls this client has in flight, or -1 when unknown.</summary>
    internal long TotalInFlight { get; }

    /// <summary>True when <paramref name="endpoint"/> may take this call (O(1) when the runtime built the context).</summary>
    internal bool IsCandidate(RpcEndpointState endpoint)
    {
        if (Set is null)
        {
            foreach (RpcEndpointState candidate in Candidates)
            {
                if (ReferenceEquals(candidate, endpoint))
                {
                    return true;
                }
            }

            return false;
        }

        return !endpoint.IsRemoved &&
               (Set.Panic || (!endpoint.Health.IsEjected && endpoint.Endpoint.Weight > 0)) &&
               !Tried.Contains(endpoint.Id);
    }

    /// <summary>
    /// The endpoints that may take the call: healthy ones (or all of them when too many are unhealthy, the panic
    /// threshold), minus those a retry of this call already tried. Never empty.
    /// </summary>
    public ReadOnlySpan<RpcEndpointState> Candidates { get; }

    /// <summary>The method being called, when known.</summary>
    public RpcMethodDescriptor? Method { get; }

    /// <summary>The stable 64-bit hash of the call's <c>[HashKey]</c> arguments.</summary>
    public ulong HashKey { get; }

    /// <summary>True when the method has <c>[HashKey]</c> parameters.</summary>
    public bool HasHashKey { get; }

    /// <summary>The client clock's timestamp at the pick (<see cref="System.TimeProvider.GetTimestamp"/>).</summary>
    public long Timestamp { get; }
}
