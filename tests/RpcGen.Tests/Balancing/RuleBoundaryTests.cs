using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>
/// The boundaries of the balancing and health rules, written after mutation testing showed that moving them (a
/// <c>&lt;</c> becoming <c>&lt;=</c>, a product becoming a quotient, a check removed) left every other test green.
/// </summary>
public sealed class RuleBoundaryTests
{
    private static RpcEndpoint Endpoint(int i, int weight = 100, string? zone = null) =>
        new("10.0.1." + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 7000) { Weight = weight, Zone = zone };

    private static RpcClient Client(Action<RpcClientOptions>? configure, params RpcEndpoint[] endpoints)
    {
        var options = new RpcClientOptions();
        foreach (RpcEndpoint endpoint in endpoints)
        {
            options.Endpoints.Add(endpoint);
        }

        options.Balancing.OutlierDetection.Enabled = false;
        configure?.Invoke(options);
        return new RpcClient(options);
    }

    private static void Load(RpcEndpointState endpoint, int calls)
    {
        for (int i = 0; i < calls; i++)
        {
            endpoint.CallStarted();
        }
    }

    private static RpcEndpointState Pick(ILoadBalancer balancer, RpcEndpointState[] candidates, ulong key = 0, bool hasKey = false) =>
        balancer.Pick(new LoadBalancingContext(candidates, null, key, hasKey, 0))!;

    [Fact]
    public async Task LeastOutstanding_DividesLoadByWeight()
    {
        // Cost = (calls + 1) × 100 / weight: 1 call on weight 300 (0.67) is cheaper than none on weight 100 (1).
        await using RpcClient client = Client(null, Endpoint(0, 300), Endpoint(1, 100));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        Load(c[0], 1);
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.LeastOutstanding, new Random(1));
        for (int i = 0; i < 10; i++)
        {
            Assert.Same(c[0], Pick(balancer, c));
        }
    }

    [Fact]
    public async Task ConsistentHash_BoundedLoad_KeepsTheOwnerBelowCapacity_AndSpillsAtIt()
    {
        await using RpcClient client = Client(null, Endpoint(0), Endpoint(1), Endpoint(2));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: 1.25);
        ulong key = RpcGen.Balancing.RpcHash.String("warm");
        RpcEndpointState owner = Pick(balancer, c, key, true);

        // Capacity is ⌈1.25 × (calls in flight + 1) / 3⌉. One call on each: ⌈1.25 × 4 / 3⌉ = 2, and the owner's 1 is below it.
        foreach (RpcEndpointState endpoint in c)
        {
            Load(endpoint, 1);
        }

        Assert.Same(owner, Pick(balancer, c, key, true));

        // Two calls on the owner and one on each other: ⌈1.25 × 5 / 3⌉ = 3, still below.
        Load(owner, 1);
        Assert.Same(owner, Pick(balancer, c, key, true));

        // Three on the owner, one on each other: ⌈1.25 × 6 / 3⌉ = 3, reached: the key goes to the next endpoint on the ring.
        Load(owner, 1);
        Assert.NotSame(owner, Pick(balancer, c, key, true));
    }

    [Fact]
    public async Task LocalityAware_StaysLocalUpToTwiceTheRemoteLoad_ThenSpills()
    {
        await using RpcClient client = Client(o => o.Balancing.Zone = "a", Endpoint(0, zone: "a"), Endpoint(1, zone: "a"), Endpoint(2, zone: "b"), Endpoint(3, zone: "b"));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.LocalityAware, new Random(7), zone: "a");

        // Local costs 2 and 3 (average 2.5), remote 1 and 2 (average 1.5): within 2× — every pick stays local, and
        // of the two local endpoints (both sampled, since there are two) the cheaper one wins.
        Load(c[0], 1);
        Load(c[1], 2);
        Load(c[3], 1);
        for (int i = 0; i < 200; i++)
        {
            Assert.Same(c[0], Pick(balancer, c));
        }

        // Local average 3.5 against remote 1.5: over 2×, so the pick spills to the least loaded of all.
        Load(c[0], 2);
        Load(c[1], 1);
        int remote = 0;
        for (int i = 0; i < 200; i++)
        {
            if (Pick(balancer, c).Endpoint.Zone == "b")
            {
                remote++;
            }
        }

        Assert.True(remote > 100, $"only {remote} of 200 picks spilled to the other zone");
    }

    [Fact]
    public async Task WeightedRandom_NeverPicksAZeroWeight_AndFallsBackWhenAllAreZero()
    {
        await using RpcClient client = Client(null, Endpoint(0, 0), Endpoint(1, 100));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.WeightedRandom, new Random(8));
        for (int i = 0; i < 1000; i++)
        {
            Assert.Same(c[1], Pick(balancer, c));
        }

        await using RpcClient zero = Client(null, Endpoint(0, 0), Endpoint(1, 0));
        RpcEndpointState[] z = zero.Endpoints.ToArray();
        var seen = new HashSet<RpcEndpointState>();
        for (int i = 0; i < 200; i++)
        {
            seen.Add(Pick(balancer, z));
        }

        Assert.Equal(2, seen.Count); // no weights at all: every endpoint is as good as another
    }

    public static TheoryData<string, Action<OutlierDetectionOptions>> InvalidOutlierOptions => new()
    {
        { "ConsecutiveFailures 0", o => o.ConsecutiveFailures = 0 },
        { "MaxEjectionPercent -1", o => o.MaxEjectionPercent = -1 },
        { "MaxEjectionPercent 101", o => o.MaxEjectionPercent = 101 },
        { "PanicThresholdPercent -1", o => o.PanicThresholdPercent = -1 },
        { "PanicThresholdPercent 101", o => o.PanicThresholdPercent = 101 },
        { "BaseEjectionTime 0", o => o.BaseEjectionTime = TimeSpan.Zero },
        { "MaxEjectionTime < BaseEjectionTime", o => o.MaxEjectionTime = o.BaseEjectionTime - TimeSpan.FromTicks(1) },
        { "Interval 0", o => o.Interval = TimeSpan.Zero },
        { "SuccessRateInterval < Interval", o => o.SuccessRateInterval = o.Interval - TimeSpan.FromTicks(1) },
        { "SuccessRateMinimumRequests 0", o => o.SuccessRateMinimumRequests = 0 },
        { "SuccessRateStdevFactor 0", o => o.SuccessRateStdevFactor = 0 },
    };

    [Theory]
    [MemberData(nameof(InvalidOutlierOptions))]
    public void OutlierDetectionOptions_RejectEachValueOutsideItsRange(string what, Action<OutlierDetectionOptions> spoil)
    {
        var options = new RpcClientOptions { Endpoints = { Endpoint(0) } };
        spoil(options.Balancing.OutlierDetection);
        Assert.True(Assert.Throws<ArgumentException>(() => new RpcClient(options)).Message.Contains("OutlierDetectionOptions", StringComparison.Ordinal), what);
    }

    [Fact]
    public async Task OutlierDetectionOptions_AcceptTheLimitsOfEachRange()
    {
        var options = new RpcClientOptions { Endpoints = { Endpoint(0) } };
        OutlierDetectionOptions o = options.Balancing.OutlierDetection;
        o.ConsecutiveFailures = 1;
        o.MaxEjectionPercent = 100;
        o.PanicThresholdPercent = 0;
        o.BaseEjectionTime = TimeSpan.FromTicks(1);
        o.MaxEjectionTime = o.BaseEjectionTime;
        o.Interval = TimeSpan.FromTicks(1);
        o.SuccessRateInterval = o.Interval;
        o.SuccessRateMinimumRequests = 1;
        o.SuccessRateStdevFactor = 0.001;
        Assert.Null(Record.Exception(options.Validate));
        await using (var client = new RpcClient(options))
        {
            Assert.Equal(1, client.Options.Balancing.OutlierDetection.ConsecutiveFailures); // taken as given, not clamped
        }

        o.MaxEjectionPercent = 0;
        o.PanicThresholdPercent = 100;
        Assert.Null(Record.Exception(options.Validate));
        await using var other = new RpcClient(options);
        Assert.Equal(100, other.Options.Balancing.OutlierDetection.PanicThresholdPercent);
    }

    public static TheoryData<string, Action<SlowStartOptions>> InvalidSlowStartOptions => new()
    {
        { "Window -1 tick", o => o.Window = TimeSpan.FromTicks(-1) },
        { "Aggression 0", o => o.Aggression = 0 },
        { "MinimumWeightPercent 0", o => o.MinimumWeightPercent = 0 },
        { "MinimumWeightPercent 100.5", o => o.MinimumWeightPercent = 100.5 },
    };

    [Theory]
    [MemberData(nameof(InvalidSlowStartOptions))]
    public void SlowStartOptions_RejectEachValueOutsideItsRange(string what, Action<SlowStartOptions> spoil)
    {
        var options = new RpcClientOptions { Endpoints = { Endpoint(0) } };
        spoil(options.Balancing.SlowStart);
        Assert.True(Assert.Throws<ArgumentException>(() => new RpcClient(options)).Message.Contains("SlowStartOptions", StringComparison.Ordinal), what);
    }

    [Fact]
    public async Task SlowStartOptions_AcceptTheLimitsOfEachRange()
    {
        var options = new RpcClientOptions { Endpoints = { Endpoint(0) } };
        options.Balancing.SlowStart.Window = TimeSpan.Zero;
        options.Balancing.SlowStart.Aggression = 0.001;
        options.Balancing.SlowStart.MinimumWeightPercent = 100;
        Assert.Null(Record.Exception(options.Validate));
        await using var client = new RpcClient(options);
        Assert.Equal(100, client.Options.Balancing.SlowStart.MinimumWeightPercent); // taken as given, not clamped
    }
}
