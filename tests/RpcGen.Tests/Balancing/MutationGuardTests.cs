using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>Always the first candidate: with it, only the client's "skip what this call tried" rule can move a retry.</summary>
public sealed class FirstCandidateBalancer : ILoadBalancer
{
    public string Name => "first";

    public RpcEndpointState? Pick(in LoadBalancingContext context) => context.Candidates.Length == 0 ? null : context.Candidates[0];
}

[RpcService("failover"), Idempotent, Retry(MaxAttempts = 2, InitialBackoffMs = 1, MaxBackoffMs = 1), LoadBalance(typeof(FirstCandidateBalancer))]
public interface IFailover
{
    Task<string> WhoAsync(CancellationToken cancellationToken = default);
}

public sealed class Failover(string name, bool broken) : IFailover
{
    public int Calls;

    public Task<string> WhoAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        return broken ? throw new RpcException(RpcStatusCode.Unavailable, name + " is broken") : Task.FromResult(name);
    }
}

/// <summary>
/// Rules that mutation testing found unguarded (removing them left every test green): each test here fails when its
/// rule is removed.
/// </summary>
public sealed class MutationGuardTests
{
    [Fact]
    public async Task Retry_GoesToAnEndpointThisCallHasNotTried()
    {
        var broken = new Failover("broken", broken: true);
        var healthy = new Failover("healthy", broken: false);
        await using var first = new RpcServer();
        first.Map<IFailover>(broken);
        await first.StartAsync();
        await using var second = new RpcServer();
        second.Map<IFailover>(healthy);
        await second.StartAsync();

        // The balancer always names the first candidate, the broken server: only the failover rule sends the retry
        // to the other one.
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { first.InProcessEndpoint, second.InProcessEndpoint } });
        IFailover proxy = client.CreateProxy<IFailover>();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("healthy", await proxy.WhoAsync());
        }

        Assert.Equal(3, broken.Calls);
        Assert.Equal(3, healthy.Calls);
    }

    [Fact]
    public async Task PeakEwma_AtEqualLoad_AvoidsTheEndpointWithTheHigherLatency()
    {
        var options = new RpcClientOptions();
        for (int i = 0; i < 3; i++)
        {
            options.Endpoints.Add(new RpcEndpoint("10.0.0." + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 7000));
        }

        options.Balancing.OutlierDetection.Enabled = false;
        await using var client = new RpcClient(options);
        RpcEndpointState[] c = client.Endpoints.ToArray();
        long frequency = TimeProvider.System.TimestampFrequency;
        c[0].ObserveLatency(frequency / 1000, 0);  // 1 ms
        c[1].ObserveLatency(frequency / 20, 0);    // 50 ms
        c[2].ObserveLatency(frequency / 1000, 0);  // 1 ms

        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.PeakEwma, new Random(5));
        int slow = 0;
        for (int i = 0; i < 30_000; i++)
        {
            if (balancer.Pick(new LoadBalancingContext(c, null, 0, false, 0)) == c[1])
            {
                slow++;
            }
        }

        // Every pair that includes the slow endpoint prefers the other one; only load could make it win, and none is in flight.
        Assert.Equal(0, slow);
    }

    [Fact]
    public void TriedEndpoints_RemembersExactlyTheIdsAdded_BelowAndAbove64()
    {
        var tried = default(TriedEndpoints);
        Assert.True(tried.IsEmpty);
        int[] added = { 0, 1, 5, 63, 64, 65, 130 };
        foreach (int id in added)
        {
            TriedEndpoints before = tried;
            tried = tried.Add(id);
            Assert.False(before.Contains(id), $"{id} was there before it was added"); // Add returns a copy
        }

        Assert.False(tried.IsEmpty);
        for (int id = 0; id < 200; id++)
        {
            Assert.Equal(added.Contains(id), tried.Contains(id));
        }

        Assert.False(default(TriedEndpoints).Add(70).IsEmpty);
    }
}
