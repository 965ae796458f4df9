using System;

namespace RpcGen.Balancing.Internal;

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
