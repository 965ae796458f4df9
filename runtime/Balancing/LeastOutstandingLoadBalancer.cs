using System;

namespace RpcGen.Balancing;

/// <summary>
/// The candidate with the least load per unit of weight, (load + 1) / weight, where load is the larger of this client's
/// calls in flight and the server's own report. Ties are broken uniformly at random (reservoir sampling), never by list
/// order. O(n), no allocation.
/// </summary>
internal sealed class LeastOutstandingLoadBalancer : ILoadBalancer
{
    private readonly Random _random;

    public LeastOutstandingLoadBalancer(Random random) => _random = random;

    public string Name => nameof(LoadBalanceStrategy.LeastOutstanding);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        RpcEndpointState? chosen = null;
        double best = double.MaxValue;
        int ties = 0;
        foreach (RpcEndpointState candidate in context.Candidates)
        {
            double cost = LoadMath.Cost(candidate, context.Timestamp);
            if (cost < best)
            {
                best = cost;
                chosen = candidate;
                ties = 1;
            }
            else if (cost == best && _random.Next(++ties) == 0)
            {
                chosen = candidate;
            }
        }

        return chosen;
    }
}

/// <summary>Shared arithmetic of the load-aware strategies.</summary>
internal static class LoadMath
{
    /// <summary>(load + 1) / weight: an endpoint with twice the weight is as attractive with twice the calls.</summary>
    public static double Cost(RpcEndpointState endpoint, long timestamp)
    {
        double weight = endpoint.GetWeight(timestamp);
        return weight <= 0 ? double.MaxValue : (endpoint.Load + 1) * 100 / weight;
    }

    /// <summary>
    /// Two distinct random candidates for a power-of-two-choices pick. With fewer than two candidates, returns false
    /// and the only one (or null) in <paramref name="only"/>.
    /// </summary>
    public static bool TryPickTwo(Random random, ReadOnlySpan<RpcEndpointState> candidates, out RpcEndpointState? only, out RpcEndpointState first, out RpcEndpointState second)
    {
        if (candidates.Length < 2)
        {
            only = candidates.Length == 0 ? null : candidates[0];
            first = second = null!;
            return false;
        }

        int a = random.Next(candidates.Length);
        int b = random.Next(candidates.Length - 1);
        if (b >= a)
        {
            b++;
        }

        only = null;
        first = candidates[a];
        second = candidates[b];
        return true;
    }
}
