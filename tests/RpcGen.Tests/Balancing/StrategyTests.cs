using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>Each built-in strategy on its own, with a seeded random source and endpoints that never connect.</summary>
public sealed class StrategyTests
{
    private const int Picks = 100_000;

    private static RpcClient Client(params RpcEndpoint[] endpoints)
    {
        var options = new RpcClientOptions();
        foreach (RpcEndpoint endpoint in endpoints)
        {
            options.Endpoints.Add(endpoint);
        }

        options.Balancing.OutlierDetection.Enabled = false;
        return new RpcClient(options);
    }

    private static RpcEndpoint Endpoint(int i, int weight = 100, string? zone = null) =>
        new RpcEndpoint("10.0.0." + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 7000) { Weight = weight, Zone = zone };

    private static Dictionary<RpcEndpointState, int> Count(ILoadBalancer balancer, RpcEndpointState[] candidates, int picks = Picks, Func<int, ulong>? key = null)
    {
        var counts = candidates.ToDictionary(c => c, _ => 0);
        for (int i = 0; i < picks; i++)
        {
            ulong hash = key?.Invoke(i) ?? 0;
            RpcEndpointState picked = balancer.Pick(new LoadBalancingContext(candidates, null, hash, key is not null, 0))!;
            counts[picked]++;
        }

        return counts;
    }

    private static void AssertShares(Dictionary<RpcEndpointState, int> counts, double[] expected, double tolerance)
    {
        int total = counts.Values.Sum();
        RpcEndpointState[] keys = counts.Keys.ToArray();
        for (int i = 0; i < keys.Length; i++)
        {
            double share = (double)counts[keys[i]] / total;
            Assert.InRange(share, expected[i] - tolerance, expected[i] + tolerance);
        }
    }

    [Fact]
    public async Task RoundRobin_VisitsEachInTurn()
    {
        await using RpcClient client = Client(Endpoint(0), Endpoint(1), Endpoint(2));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.RoundRobin);
        var sequence = Enumerable.Range(0, 6).Select(_ => balancer.Pick(new LoadBalancingContext(c, null, 0, false, 0))).ToArray();
        Assert.Equal(new[] { c[0], c[1], c[2], c[0], c[1], c[2] }, sequence);
    }

    [Fact]
    public async Task Random_IsUniform()
    {
        await using RpcClient client = Client(Endpoint(0), Endpoint(1), Endpoint(2), Endpoint(3));
        AssertShares(Count(LoadBalancers.Create(LoadBalanceStrategy.Random, new Random(1)), client.Endpoints.ToArray()), new[] { 0.25, 0.25, 0.25, 0.25 }, 0.01);
    }

    [Theory]
    [InlineData(LoadBalanceStrategy.WeightedRandom)]
    [InlineData(LoadBalanceStrategy.WeightedRoundRobin)]
    public async Task Weighted_MatchesWeights(LoadBalanceStrategy strategy)
    {
        await using RpcClient client = Client(Endpoint(0, 500), Endpoint(1, 100), Endpoint(2, 100), Endpoint(3, 300));
        var counts = Count(LoadBalancers.Create(strategy, new Random(2)), client.Endpoints.ToArray());
        AssertShares(counts, new[] { 0.5, 0.1, 0.1, 0.3 }, 0.01);
    }

    [Fact]
    public async Task WeightedRoundRobin_IsSmooth()
    {
        await using RpcClient client = Client(Endpoint(0, 500), Endpoint(1, 100), Endpoint(2, 100));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.WeightedRoundRobin);
        string order = string.Concat(Enumerable.Range(0, 7).Select(_ => (char)('a' + Array.IndexOf(c, balancer.Pick(new LoadBalancingContext(c, null, 0, false, 0))))));
        Assert.Equal("aabacaa", order); // nginx's smooth sequence for 5:1:1, not "aaaaabc"
    }

    [Theory]
    [InlineData(LoadBalanceStrategy.LeastOutstanding)]
    [InlineData(LoadBalanceStrategy.PowerOfTwoChoices)]
    [InlineData(LoadBalanceStrategy.PeakEwma)]
    public async Task LoadAware_AvoidsTheBusyEndpoint(LoadBalanceStrategy strategy)
    {
        await using RpcClient client = Client(Endpoint(0), Endpoint(1), Endpoint(2));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        for (int i = 0; i < 10; i++)
        {
            c[1].CallStarted(); // endpoint 1 has 10 calls in flight
        }

        var counts = Count(LoadBalancers.Create(strategy, new Random(3)), c, picks: 30_000);
        Assert.True(counts[c[1]] < 30_000 / 3 / 2, $"{strategy} sent {counts[c[1]]} of 30000 picks to the busy endpoint");
    }

    [Theory]
    [InlineData(LoadBalanceStrategy.LeastOutstanding)]
    [InlineData(LoadBalanceStrategy.PowerOfTwoChoices)]
    public async Task LoadAware_TiesDoNotFavourTheFirst(LoadBalanceStrategy strategy)
    {
        await using RpcClient client = Client(Endpoint(0), Endpoint(1), Endpoint(2), Endpoint(3));
        AssertShares(Count(LoadBalancers.Create(strategy, new Random(4)), client.Endpoints.ToArray()), new[] { 0.25, 0.25, 0.25, 0.25 }, 0.01);
    }

    [Fact]
    public async Task LeastOutstanding_RespectsWeights()
    {
        await using RpcClient client = Client(Endpoint(0, 200), Endpoint(1, 100));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        c[0].CallStarted(); // 1 call on weight 200 costs the same as 0 calls... (1+1)/200 = (0+1)/100
        c[0].CallStarted(); // ...2 calls cost more: endpoint 1 must win
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.LeastOutstanding, new Random(5));
        Assert.Same(c[1], balancer.Pick(new LoadBalancingContext(c, null, 0, false, 0)));
    }

    [Fact]
    public async Task ConsistentHash_SameKeySameEndpoint_AndKeysSpreadByWeight()
    {
        await using RpcClient client = Client(Endpoint(0), Endpoint(1), Endpoint(2, 200));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        ulong key = RpcGen.Balancing.RpcHash.String("user-42");
        RpcEndpointState first = balancer.Pick(new LoadBalancingContext(c, null, key, true, 0))!;
        for (int i = 0; i < 100; i++)
        {
            Assert.Same(first, balancer.Pick(new LoadBalancingContext(c, null, key, true, 0)));
        }

        var counts = Count(balancer, c, 40_000, i => RpcGen.Balancing.RpcHash.String("user-" + i));
        AssertShares(counts, new[] { 0.25, 0.25, 0.5 }, 0.05);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(5000)]
    public async Task ConsistentHash_AWeightMeansTheSameAtAnyScale(int unit)
    {
        // SRV records carry weights like 1 and 2, configuration like 100 and 200: a key spread must not depend on it.
        await using RpcClient equal = Client(Endpoint(0, unit), Endpoint(1, unit), Endpoint(2, unit));
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        AssertShares(Count(balancer, equal.Endpoints.ToArray(), 40_000, i => RpcGen.Balancing.RpcHash.String("user-" + i)), new[] { 1 / 3.0, 1 / 3.0, 1 / 3.0 }, 0.05);

        await using RpcClient skewed = Client(Endpoint(0, unit), Endpoint(1, unit), Endpoint(2, 2 * unit));
        ILoadBalancer other = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        AssertShares(Count(other, skewed.Endpoints.ToArray(), 40_000, i => RpcGen.Balancing.RpcHash.String("user-" + i)), new[] { 0.25, 0.25, 0.5 }, 0.05);
    }

    private const ulong PinnedUser42 = 7095089167748349013UL;
    private const ulong Pinned42 = 2392174772787195229UL;

    [Fact]
    public void RpcHash_IsStableAcrossProcesses()
    {
        // Fixed values: a change here would remap every key of every deployed client.
        Assert.Equal(RpcGen.Balancing.RpcHash.String("user-42"), RpcGen.Balancing.RpcHash.Of("user-42", null!));
        Assert.Equal(PinnedUser42, RpcGen.Balancing.RpcHash.String("user-42"));
        Assert.Equal(Pinned42, RpcGen.Balancing.RpcHash.Of(42, null!));
        // What the docs promise: XXH3, seed 0, over UTF-16LE code units / the value's little-endian bytes.
        Assert.Equal(PinnedUser42, System.IO.Hashing.XxHash3.HashToUInt64(System.Text.Encoding.Unicode.GetBytes("user-42")));
        Assert.Equal(Pinned42, System.IO.Hashing.XxHash3.HashToUInt64(BitConverter.GetBytes(42)));
        Assert.NotEqual(RpcGen.Balancing.RpcHash.Of(42, null!), RpcGen.Balancing.RpcHash.Of(43, null!));
        Assert.NotEqual(RpcGen.Balancing.RpcHash.String("ab"), RpcGen.Balancing.RpcHash.String("ba"));
        Assert.NotEqual(RpcGen.Balancing.RpcHash.Combine(1, 2), RpcGen.Balancing.RpcHash.Combine(2, 1));
        Guid id = Guid.Parse("6f9619ff-8b86-d011-b42d-00cf4fc964ff");
        Assert.Equal(RpcGen.Balancing.RpcHash.Of(id, null!), RpcGen.Balancing.RpcHash.Of(Guid.Parse(id.ToString()), null!));
    }

    public struct Padded
    {
        public byte Small;
        public long Large; // 7 padding bytes sit between the two fields
    }

    [Fact]
    public void RpcHash_OfAStructWithPadding_DependsOnlyOnItsFields()
    {
        // Two equal values whose padding bytes differ (one built over memory full of 0xFF) hash the same: such structs
        // hash through their JSON, not their raw memory.
        byte[] dirty = Enumerable.Repeat((byte)0xFF, System.Runtime.CompilerServices.Unsafe.SizeOf<Padded>()).ToArray();
        ref Padded overDirty = ref System.Runtime.CompilerServices.Unsafe.As<byte, Padded>(ref dirty[0]);
        overDirty.Small = 1;
        overDirty.Large = 2;
        var clean = new Padded { Small = 1, Large = 2 };
        var info = (System.Text.Json.Serialization.Metadata.JsonTypeInfo<Padded>)new System.Text.Json.JsonSerializerOptions { IncludeFields = true, TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() }.GetTypeInfo(typeof(Padded));
        Assert.Equal(RpcGen.Balancing.RpcHash.Of(clean, info), RpcGen.Balancing.RpcHash.Of(overDirty, info));
        Assert.NotEqual(RpcGen.Balancing.RpcHash.Of(clean, info), RpcGen.Balancing.RpcHash.Of(new Padded { Small = 1, Large = 3 }, info));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(10)]
    [InlineData(20)]
    public async Task ConsistentHash_OneJoiningEndpointMovesAboutOneNthOfKeys(int n)
    {
        await using RpcClient before = Client(Enumerable.Range(0, n).Select(i => Endpoint(i)).ToArray());
        await using RpcClient after = Client(Enumerable.Range(0, n + 1).Select(i => Endpoint(i)).ToArray());
        ILoadBalancer a = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        ILoadBalancer b = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        RpcEndpointState[] ca = before.Endpoints.ToArray();
        RpcEndpointState[] cb = after.Endpoints.ToArray();

        const int Keys = 20_000;
        int moved = 0;
        for (int i = 0; i < Keys; i++)
        {
            ulong key = RpcGen.Balancing.RpcHash.String("key-" + i);
            RpcEndpoint was = a.Pick(new LoadBalancingContext(ca, null, key, true, 0))!.Endpoint;
            RpcEndpoint now = b.Pick(new LoadBalancingContext(cb, null, key, true, 0))!.Endpoint;
            if (!was.Equals(now))
            {
                moved++;
                Assert.Equal(cb[n].Endpoint, now); // keys only move to the newcomer
            }
        }

        Assert.InRange((double)moved / Keys, 0.3 / (n + 1), 1.2 / (n + 1));
    }

    [Fact]
    public async Task ConsistentHash_BoundedLoad_SpillsAHotKey()
    {
        await using RpcClient client = Client(Endpoint(0), Endpoint(1), Endpoint(2));
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: 1.25);
        ulong key = RpcGen.Balancing.RpcHash.String("hot");
        RpcEndpointState owner = balancer.Pick(new LoadBalancingContext(c, null, key, true, 0))!;
        for (int i = 0; i < 10; i++)
        {
            owner.CallStarted(); // 10 in flight on the owner, 0 elsewhere: capacity ⌈1.25 × 11 / 3⌉ = 5
        }

        RpcEndpointState spilled = balancer.Pick(new LoadBalancingContext(c, null, key, true, 0))!;
        Assert.NotSame(owner, spilled);
        Assert.Same(spilled, balancer.Pick(new LoadBalancingContext(c, null, key, true, 0))); // and consistently so
    }

    [Fact]
    public async Task LocalityAware_PrefersTheLocalZone_SpillsWhenItIsOverloaded()
    {
        var options = new RpcClientOptions { Balancing = { Zone = "a" } };
        options.Endpoints.Add(Endpoint(0, zone: "a"));
        options.Endpoints.Add(Endpoint(1, zone: "a"));
        options.Endpoints.Add(Endpoint(2, zone: "b"));
        options.Endpoints.Add(Endpoint(3, zone: "b"));
        await using var client = new RpcClient(options);
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(LoadBalanceStrategy.LocalityAware, new Random(6), zone: "a");

        var local = Count(balancer, c, 10_000);
        Assert.Equal(10_000, local[c[0]] + local[c[1]]);

        for (int i = 0; i < 10; i++)
        {
            c[0].CallStarted();
            c[1].CallStarted();
        }

        var spilled = Count(balancer, c, 10_000);
        Assert.True(spilled[c[2]] + spilled[c[3]] > 5_000, "the overloaded local zone kept most calls");
    }

    [Theory]
    [InlineData(LoadBalanceStrategy.RoundRobin)]
    [InlineData(LoadBalanceStrategy.Random)]
    [InlineData(LoadBalanceStrategy.WeightedRoundRobin)]
    [InlineData(LoadBalanceStrategy.WeightedRandom)]
    [InlineData(LoadBalanceStrategy.LeastOutstanding)]
    [InlineData(LoadBalanceStrategy.PowerOfTwoChoices)]
    [InlineData(LoadBalanceStrategy.PeakEwma)]
    [InlineData(LoadBalanceStrategy.ConsistentHash)]
    [InlineData(LoadBalanceStrategy.LocalityAware)]
    public async Task ConcurrentPicks_AreSafe_AndCountsAddUp(LoadBalanceStrategy strategy)
    {
        await using RpcClient client = Client(Enumerable.Range(0, 10).Select(i => Endpoint(i, 50 + (i * 10), i % 2 == 0 ? "a" : "b")).ToArray());
        RpcEndpointState[] c = client.Endpoints.ToArray();
        ILoadBalancer balancer = LoadBalancers.Create(strategy, zone: "a"); // Random.Shared: thread-safe
        long[] counts = new long[c.Length];
        const int Threads = 8, Each = 20_000;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < Each; i++)
            {
                ulong key = RpcGen.Balancing.RpcHash.Of(i * Threads + t, null!);
                RpcEndpointState picked = balancer.Pick(new LoadBalancingContext(c, null, key, true, 0))!;
                Assert.Contains(picked, c);
                picked.CallStarted();
                Interlocked.Increment(ref counts[Array.IndexOf(c, picked)]);
                picked.CallEnded(0, 0, CallOutcome.Neutral);
            }
        })));

        Assert.Equal(Threads * Each, counts.Sum());
        Assert.All(c, e => Assert.Equal(0, e.InFlight));
    }
}
