using System;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// Least expected latency (Finagle's and Linkerd's Peak EWMA): cost = EWMA of response time × (load + 1) / weight, the
/// EWMA jumping up at once on a slow response and decaying otherwise; two random candidates, the cheaper wins. An
/// endpoint with no response yet is costed with the other's latency, so load alone decides until it has one.
/// </summary>
internal sealed class PeakEwmaLoadBalancer : ILoadBalancer
{
    private readonly Random _random;

    public PeakEwmaLoadBalancer(Random random) => _random = random;

    public string Name => nameof(LoadBalanceStrategy.PeakEwma);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        if (!LoadMath.TryPickTwo(_random, context.Candidates, out RpcEndpointState? only, out RpcEndpointState a, out RpcEndpointState b))
        {
            return only;
        }

        double latencyA = a.GetLatencyEwma(context.Timestamp);
        double latencyB = b.GetLatencyEwma(context.Timestamp);
        if (latencyA == 0)
        {
            latencyA = latencyB;
        }

        if (latencyB == 0)
        {
            latencyB = latencyA;
        }

        if (latencyA == 0)
        {
            latencyA = latencyB = 1; // neither measured yet: load decides
        }

        return latencyB * LoadMath.Cost(b, context.Timestamp) < latencyA * LoadMath.Cost(a, context.Timestamp) ? b : a;
    }
}
