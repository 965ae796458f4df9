using System;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// Prefers candidates in the client's zone (<see cref="LoadBalancingOptions.Zone"/>): power of two choices among them while
/// there are any and their average load per unit of weight stays within <see cref="OverloadFactor"/> of the others';
/// otherwise (local endpoints ejected, or overloaded) power of two choices over every candidate.
/// </summary>
internal sealed class LocalityAwareLoadBalancer : ILoadBalancer
{
    public const double OverloadFactor = 2.0;

    private readonly Random _random;
    private readonly string? _zone;
    private readonly PowerOfTwoChoicesLoadBalancer _anywhere;

    public LocalityAwareLoadBalancer(Random random, string? zone)
    {
        _random = random;
        _zone = zone;
        _anywhere = new PowerOfTwoChoicesLoadBalancer(random);
    }

    public string Name => nameof(LoadBalanceStrategy.LocalityAware);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        ReadOnlySpan<RpcEndpointState> candidates = context.Candidates;
        if (_zone is null || candidates.Length == 0)
        {
            return _anywhere.Pick(context);
        }

        int local = 0;
        double localCost = 0;
        double remoteCost = 0;
        foreach (RpcEndpointState candidate in candidates)
        {
            double cost = LoadMath.Cost(candidate, context.Timestamp);
            if (string.Equals(candidate.Endpoint.Zone, _zone, StringComparison.Ordinal))
            {
                local++;
                localCost += cost;
            }
            else
            {
                remoteCost += cost;
            }
        }

        int remote = candidates.Length - local;
        bool spill = local == 0 || (remote > 0 && localCost / local > OverloadFactor * (remoteCost / remote));
        if (spill)
        {
            return _anywhere.Pick(context);
        }

        // Power of two choices among the local candidates, without building a list: sample by rank.
        int first = _random.Next(local);
        int second = local > 1 ? _random.Next(local - 1) : first;
        if (local > 1 && second >= first)
        {
            second++;
        }

        RpcEndpointState? a = null;
        RpcEndpointState? b = null;
        int rank = 0;
        foreach (RpcEndpointState candidate in candidates)
        {
            if (!string.Equals(candidate.Endpoint.Zone, _zone, StringComparison.Ordinal))
            {
                continue;
            }

            if (rank == first)
            {
                a = candidate;
            }

            if (rank == second)
            {
                b = candidate;
            }

            rank++;
        }

        return LoadMath.Cost(b!, context.Timestamp) < LoadMath.Cost(a!, context.Timestamp) ? b : a;
    }
}
