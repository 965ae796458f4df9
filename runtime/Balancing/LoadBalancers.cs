using System;
using RpcGen.Balancing.Internal;

namespace RpcGen.Balancing;

/// <summary>Creates the built-in strategies (for custom balancers that delegate, and for tests).</summary>
public static class LoadBalancers
{
    /// <summary>
    /// A new instance of <paramref name="strategy"/>. <paramref name="random"/> defaults to <see cref="Random.Shared"/>;
    /// pass a seeded <see cref="Random"/> only from one thread (tests).
    /// </summary>
    public static ILoadBalancer Create(LoadBalanceStrategy strategy, Random? random = null, string? zone = null, double consistentHashLoadFactor = 1.25)
    {
        random ??= Random.Shared;
        return strategy switch
        {
            LoadBalanceStrategy.RoundRobin => new RoundRobinLoadBalancer(),
            LoadBalanceStrategy.Random => new RandomLoadBalancer(random),
            LoadBalanceStrategy.WeightedRoundRobin => new WeightedRoundRobinLoadBalancer(),
            LoadBalanceStrategy.WeightedRandom => new WeightedRandomLoadBalancer(random),
            LoadBalanceStrategy.LeastOutstanding => new LeastOutstandingLoadBalancer(random),
            LoadBalanceStrategy.PowerOfTwoChoices => new PowerOfTwoChoicesLoadBalancer(random),
            LoadBalanceStrategy.PeakEwma => new PeakEwmaLoadBalancer(random),
            LoadBalanceStrategy.ConsistentHash => new ConsistentHashLoadBalancer(consistentHashLoadFactor),
            LoadBalanceStrategy.LocalityAware => new LocalityAwareLoadBalancer(random, zone),
            _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Not a load-balancing strategy."),
        };
    }
}
