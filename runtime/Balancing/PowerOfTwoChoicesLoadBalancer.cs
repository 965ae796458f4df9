using System;

namespace RpcGen.Balancing;

/// <summary>
/// Two distinct random candidates; the one with less load per unit of weight wins (Mitzenmacher's power of two choices).
/// Nearly as good as least-outstanding, in O(1), and it does not herd every client onto the same least-loaded endpoint.
/// </summary>
internal sealed class PowerOfTwoChoicesLoadBalancer : ILoadBalancer
{
    private readonly Random _random;

    public PowerOfTwoChoicesLoadBalancer(Random random) => _random = random;

    public string Name => nameof(LoadBalanceStrategy.PowerOfTwoChoices);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        ReadOnlySpan<RpcEndpointState> candidates = context.Candidates;
        if (candidates.Length < 2)
        {
            return candidates.Length == 0 ? null : candidates[0];
        }

        (int first, int second) = LoadMath.TwoIndexes(_random, candidates.Length);
        RpcEndpointState a = candidates[first];
        RpcEndpointState b = candidates[second];
        return LoadMath.Cost(b, context.Timestamp) < LoadMath.Cost(a, context.Timestamp) ? b : a;
    }
}
