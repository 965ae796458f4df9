using System;

namespace RpcGen.Balancing.Internal;

/// <summary>A uniformly random candidate.</summary>
internal sealed class RandomLoadBalancer : ILoadBalancer
{
    private readonly Random _random;

    public RandomLoadBalancer(Random random) => _random = random;

    public string Name => nameof(LoadBalanceStrategy.Random);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        int count = context.Candidates.Length;
        return count == 0 ? null : context.Candidates[_random.Next(count)];
    }
}
