using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>RpcClient.UpdatePolicies: what a configuration reload changes in a running client, and what it keeps.</summary>
public sealed class PolicyReloadTests
{
    private static RpcClient Client()
    {
        var options = new RpcClientOptions { TimeProvider = new FakeTimeProvider(), Endpoints = { new RpcEndpoint("10.0.3.1", 7000) } };
        options.Balancing.OutlierDetection.ActiveHealthChecks = false; // the endpoint does not exist: nothing is called
        return new RpcClient(options);
    }

    private static (ResilienceOptions, LoadBalancingOptions) Policies(Action<ResilienceOptions>? resilience = null, Action<LoadBalancingOptions>? balancing = null)
    {
        var r = new ResilienceOptions();
        var b = new LoadBalancingOptions();
        resilience?.Invoke(r);
        balancing?.Invoke(b);
        return (r, b);
    }

    [Fact]
    public async Task AStrategyOverride_AppliesOnReload_AndRemovingIt_ReturnsToTheAttributes()
    {
        await using RpcClient client = Client();
        client.CreateProxy<IWork>();
        RpcClientMethod doWork = client.FindMethod("work/Do")!;
        Assert.Equal("RoundRobin", doWork.Balancer.Name);

        (ResilienceOptions r, LoadBalancingOptions b) = Policies(balancing: o => o.Strategies["work/Do"] = LoadBalanceStrategy.LeastOutstanding);
        client.UpdatePolicies(r, b);
        Assert.Equal("LeastOutstanding", doWork.Balancer.Name);
        Assert.False(doWork.UserOwnsBalancer);

        (r, b) = Policies();
        client.UpdatePolicies(r, b);
        Assert.Equal("RoundRobin", doWork.Balancer.Name); // the attribute (here the default) again, not the last override
    }

    [Fact]
    public async Task AUsersBalancer_KeepsItsInstanceAcrossReloads_UntilAnOverrideReplacesIt_ThenGetsANewOne()
    {
        await using RpcClient client = Client();
        client.CreateProxy<IWork>();
        RpcClientMethod pinned = client.FindMethod("work/Pinned")!;
        ILoadBalancer users = pinned.Balancer;
        Assert.IsType<LastEndpointBalancer>(users);
        Assert.True(pinned.UserOwnsBalancer);

        (ResilienceOptions r, LoadBalancingOptions b) = Policies(resilience: o => o.DefaultTimeout = TimeSpan.FromSeconds(3));
        client.UpdatePolicies(r, b);
        Assert.Same(users, pinned.Balancer); // a reload that does not touch its strategy keeps its state
        Assert.Equal(3000, pinned.TimeoutMilliseconds);

        (r, b) = Policies(balancing: o => o.Strategies["work"] = LoadBalanceStrategy.Random);
        client.UpdatePolicies(r, b);
        Assert.Equal("Random", pinned.Balancer.Name);
        Assert.False(pinned.UserOwnsBalancer);

        (r, b) = Policies();
        client.UpdatePolicies(r, b);
        Assert.IsType<LastEndpointBalancer>(pinned.Balancer);
        Assert.NotSame(users, pinned.Balancer); // made again by the user's factory
        Assert.True(pinned.UserOwnsBalancer);
    }

    [Fact]
    public async Task AnInvalidPolicy_ChangesNothing_AndArgumentsAreChecked()
    {
        await using RpcClient client = Client();
        client.CreateProxy<IWork>();
        RpcClientMethod doWork = client.FindMethod("work/Do")!;
        (ResilienceOptions r, LoadBalancingOptions b) = Policies(resilience: o => o.Policies["work/Do"] = new RpcPolicyOverride { TimeoutMs = 250 });
        client.UpdatePolicies(r, b);
        Assert.Equal(250, doWork.TimeoutMilliseconds);

        (r, b) = Policies(resilience: o =>
        {
            o.Policies["work/Do"] = new RpcPolicyOverride { TimeoutMs = 100 };
            o.Policies["work/ForUser"] = new RpcPolicyOverride { Retry = new RpcRetryPolicy { MaxAttempts = 0 } };
        });
        Assert.Throws<ArgumentException>(() => client.UpdatePolicies(r, b));
        Assert.Equal(250, doWork.TimeoutMilliseconds); // all or nothing: the valid part was not applied either

        (r, b) = Policies(resilience: o => o.DefaultTimeout = TimeSpan.FromSeconds(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => client.UpdatePolicies(r, b));
        (r, b) = Policies(balancing: o => o.Strategies["work"] = (LoadBalanceStrategy)99);
        Assert.Throws<ArgumentOutOfRangeException>(() => client.UpdatePolicies(r, b));
        Assert.Throws<ArgumentNullException>(() => client.UpdatePolicies(null!, new LoadBalancingOptions()));
        Assert.Throws<ArgumentNullException>(() => client.UpdatePolicies(new ResilienceOptions(), null!));
        await client.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => client.UpdatePolicies(new ResilienceOptions(), new LoadBalancingOptions()));
    }
}
