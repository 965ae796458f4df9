using Microsoft.Extensions.Configuration;
using Xunit;

namespace RpcGen.Tests.Balancing;

/// <summary>Priority groups (primary/backup): each group's share of calls as its endpoints are ejected, on a manual clock.</summary>
public sealed class PriorityTests
{
    /// <summary>A client over <paramref name="priorities"/>.Length endpoints, endpoint i in group priorities[i].</summary>
    private static RpcClient Client(FakeTimeProvider time, int[] priorities, Action<RpcClientOptions>? configure = null)
    {
        var options = new RpcClientOptions { TimeProvider = time };
        for (int i = 0; i < priorities.Length; i++)
        {
            options.Endpoints.Add(new RpcEndpoint($"10.0.1.{i + 1}", 7000) { Priority = priorities[i] });
        }

        options.Balancing.OutlierDetection.ActiveHealthChecks = false; // these endpoints do not exist
        options.Balancing.OutlierDetection.MaxEjectionPercent = 100;
        configure?.Invoke(options);
        return new RpcClient(options);
    }

    private static void Eject(RpcClient client, params int[] indexes)
    {
        foreach (int index in indexes)
        {
            RpcEndpointState endpoint = client.Endpoints[index];
            for (int i = 0; i < 5; i++)
            {
                client.CallStarted(endpoint);
                client.CallEnded(endpoint, 0, CallOutcome.Failure);
            }

            Assert.True(endpoint.IsEjected);
        }
    }

    /// <summary>How many of 10,000 evenly spread draws go to each priority group.</summary>
    private static Dictionary<int, int> Shares(RpcClient client)
    {
        var shares = new Dictionary<int, int>();
        for (int draw = 0; draw < 10_000; draw++)
        {
            RpcEndpointState[] group = client.EndpointSet.CandidatesFor(draw);
            int priority = group[0].Endpoint.Priority;
            Assert.All(group, e => Assert.Equal(priority, e.Endpoint.Priority)); // a draw lands in one group
            shares[priority] = shares.GetValueOrDefault(priority) + 1;
        }

        return shares;
    }

    [Fact]
    public async Task HealthyPrimaries_TakeEveryCall_BackupsNone()
    {
        await using RpcClient client = Client(new FakeTimeProvider(), new[] { 0, 0, 0, 1, 1 });
        Assert.Equal(new Dictionary<int, int> { [0] = 10_000 }, Shares(client));
        Assert.Equal(5, client.EndpointSet.Candidates.Length); // failover may still reach every group
    }

    [Fact]
    public async Task OnePrimaryOfThreeEjected_StaysWithinTheOverprovisioning_TheRestSpillsProportionally()
    {
        await using RpcClient client = Client(new FakeTimeProvider(), new[] { 0, 0, 0, 1, 1 });
        Eject(client, 0);
        // Primary health = min(100 %, 1.4 × 2/3) = 93.3 %: that share stays, 6.7 % spills to the backups.
        Assert.Equal(new Dictionary<int, int> { [0] = 9_333, [1] = 667 }, Shares(client));

        Eject(client, 1);
        // 1.4 × 1/3 = 46.7 % on the last primary; the backups take the other 53.3 %.
        Assert.Equal(new Dictionary<int, int> { [0] = 4_667, [1] = 5_333 }, Shares(client));
    }

    [Fact]
    public async Task EveryPrimaryEjected_BackupsTakeAll_WithoutPanic_AndTrafficReturnsWhenPrimariesRecover()
    {
        var time = new FakeTimeProvider();
        await using RpcClient client = Client(time, new[] { 0, 0, 0, 1, 1 });
        Eject(client, 0, 1, 2);
        Assert.False(client.EndpointSet.Panic); // 60 % of the endpoints are out, but the backup group is whole
        Assert.Equal(new Dictionary<int, int> { [1] = 10_000 }, Shares(client));

        time.Advance(TimeSpan.FromSeconds(31)); // the ejections end
        Assert.Equal(new Dictionary<int, int> { [0] = 10_000 }, Shares(client));
    }

    [Fact]
    public async Task ThreeGroups_SpillInOrder_AndHalfHealthyGroupsAreScaledToFill()
    {
        await using RpcClient client = Client(new FakeTimeProvider(), new[] { 0, 0, 1, 1, 2, 2 });
        Eject(client, 0, 1, 2);
        // Group 0: 0 %; group 1: 1.4 × 1/2 = 70 %; group 2: the other 30 %.
        Assert.Equal(new Dictionary<int, int> { [1] = 7_000, [2] = 3_000 }, Shares(client));

        Eject(client, 4);
        // Group 1 70 %, group 2 70 % but only 30 % left: 100 % in all, no scaling.
        Assert.Equal(new Dictionary<int, int> { [1] = 7_000, [2] = 3_000 }, Shares(client));
    }

    [Fact]
    public async Task GroupsThatTogetherFallShort_AreScaledUp_AndBelowThePanicThreshold_EveryEndpointTakesCalls()
    {
        await using RpcClient client = Client(new FakeTimeProvider(), new[] { 0, 0, 0, 0, 1, 1, 1, 1 });
        Eject(client, 0, 1, 2, 4, 5, 6);
        // Each group: 1.4 × 1/4 = 35 %; 70 % together, scaled to 50 / 50.
        Assert.Equal(new Dictionary<int, int> { [0] = 5_000, [1] = 5_000 }, Shares(client));

        Eject(client, 3);
        // 35 % in all: under the 50 % panic threshold, calls go to every endpoint again (and no groups).
        Assert.True(client.EndpointSet.Panic);
        Assert.Null(client.EndpointSet.Levels);
        Assert.Equal(8, client.EndpointSet.CandidatesFor(0).Length);
    }

    [Fact]
    public async Task TheOverprovisioningFactor_IsAnOption()
    {
        await using RpcClient client = Client(new FakeTimeProvider(), new[] { 0, 0, 0, 0, 1 }, o => o.Balancing.PriorityOverprovisioningFactor = 1.0);
        Eject(client, 0);
        Assert.Equal(new Dictionary<int, int> { [0] = 7_500, [1] = 2_500 }, Shares(client));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcClient(new RpcClientOptions
        {
            Endpoints = { new RpcEndpoint("h", 1) },
            Balancing = { PriorityOverprovisioningFactor = 0.5 },
        }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcEndpoint("h", 1) { Priority = -1 });
    }

    [Fact]
    public async Task Priority_IsReadFromConfiguration_AndAReloadMovesAnEndpointBetweenGroups()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Endpoints:0"] = "10.0.2.1:7000",
            ["Endpoints:1:Address"] = "10.0.2.2:7000",
            ["Endpoints:1:Priority"] = "1",
        }).Build();
        RpcClientOptions options = new RpcClientOptions().ApplyConfiguration(configuration);
        Assert.Equal(new[] { 0, 1 }, options.Endpoints.Select(e => e.Priority));

        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Endpoints:0:Address"] = "10.0.2.1:7000",
            ["Endpoints:0:Priority"] = "-1",
        }).Build();
        var error = Assert.Throws<ArgumentException>(() => { new RpcClientOptions().ApplyConfiguration(bad); });
        Assert.Contains("Endpoints:0:Priority", error.Message, StringComparison.Ordinal);

        var source = new StaticEndpointSource(options.Endpoints);
        options.Balancing.OutlierDetection.ActiveHealthChecks = false;
        options.EndpointSource = source;
        options.TimeProvider = new FakeTimeProvider();
        await using var client = new RpcClient(options);
        Assert.Equal(new Dictionary<int, int> { [0] = 10_000 }, Shares(client));
        source.Update(new[] { new RpcEndpoint("10.0.2.1", 7000) { Priority = 2 }, new RpcEndpoint("10.0.2.2", 7000) { Priority = 1 } });
        Assert.Equal(new Dictionary<int, int> { [1] = 10_000 }, Shares(client));
    }
}
