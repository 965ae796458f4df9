using System.Threading;

namespace RpcGen.Balancing.Internal;

/// <summary>Each candidate in turn. One interlocked increment per pick.</summary>
internal sealed class RoundRobinLoadBalancer : ILoadBalancer
{
    private int _next = -1;

    public string Name => nameof(LoadBalanceStrategy.RoundRobin);

    public RpcEndpointState? Pick(in LoadBalancingContext context)
    {
        int count = context.Candidates.Length;
        return count == 0 ? null : context.Candidates[(int)((uint)Interlocked.Increment(ref _next) % (uint)count)];
    }
}
