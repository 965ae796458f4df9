using System;
using System.Collections.Generic;

namespace RpcGen.Balancing;

/// <summary>The endpoints as balancers see them, rebuilt when the set or an endpoint's health changes.</summary>
internal sealed class EndpointSet
{
    public static readonly EndpointSet Empty = new(Array.Empty<RpcEndpointState>(), Array.Empty<RpcEndpointState>(), panic: false);

    public EndpointSet(RpcEndpointState[] all, RpcEndpointState[] candidates, bool panic)
    {
        All = all;
        Candidates = candidates;
        Panic = panic;
    }

    /// <summary>Every endpoint that has not been removed.</summary>
    public RpcEndpointState[] All { get; }

    /// <summary>The healthy endpoints with a weight above zero, or all of them in panic.</summary>
    public RpcEndpointState[] Candidates { get; }

    public bool Panic { get; }

    public static EndpointSet Build(IReadOnlyList<RpcEndpointState> endpoints, int panicThresholdPercent)
    {
        var all = new List<RpcEndpointState>(endpoints.Count);
        var healthy = new List<RpcEndpointState>(endpoints.Count);
        foreach (RpcEndpointState endpoint in endpoints)
        {
            if (endpoint.IsRemoved)
            {
                continue;
            }

            all.Add(endpoint);
            if (!endpoint.Health.IsEjected && endpoint.Endpoint.Weight > 0)
            {
                healthy.Add(endpoint);
            }
        }

        bool panic = all.Count > 0 && (healthy.Count == 0 || healthy.Count * 100 < all.Count * panicThresholdPercent);
        return new EndpointSet(all.ToArray(), panic ? all.ToArray() : healthy.ToArray(), panic);
    }
}
