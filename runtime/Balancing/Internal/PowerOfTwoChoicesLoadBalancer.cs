using System;

namespace RpcGen.Balancing.Internal;

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
        if (!LoadMath.TryPickTwo(_random, context.Candidates, out RpcEndpointState? only, out RpcEndpointState a, out RpcEndpointState b))
        {
            return only;
        }

        return LoadMath.Cost(b, context.Timestamp) < LoadMath.Cost(a, context.Timestamp) ? b : a;
    }
}
