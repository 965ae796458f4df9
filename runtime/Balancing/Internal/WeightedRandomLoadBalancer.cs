using System;

namespace RpcGen.Balancing.Internal;

/// <summary>A random candidate with probability proportional to its weight (slow start included). O(n), no allocation.</summary>
internal sealed class WeightedRandomLoadBalancer : ILoadBalancer
{
    private readonly Random _random;

    public WeightedRandomLoadBalancer(Random random) => _random = random;

    public string Name => nameof(LoadBalanceStrategy.WeightedRandom);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        ReadOnlySpan<RpcEndpointState> candidates = context.Candidates;
        if (candidates.Length == 0)
        {
            return null;
        }

        double total = 0;
        foreach (RpcEndpointState candidate in candidates)
        {
            total += candidate.GetWeight(context.Timestamp);
        }

        if (total <= 0)
        {
            return candidates[_random.Next(candidates.Length)];
        }

        double point = _random.NextDouble() * total;
        foreach (RpcEndpointState candidate in candidates)
        {
            point -= candidate.GetWeight(context.Timestamp);
            if (point < 0)
            {
                return candidate;
            }
        }

        return candidates[^1];
    }
}
