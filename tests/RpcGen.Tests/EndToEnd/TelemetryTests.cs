using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>Metrics after the OpenTelemetry RPC conventions, attempt events on spans, and the log event ids.</summary>
[Collection(SerialCollection.Name)]
public sealed class TelemetryTests
{
    private static bool Is(IReadOnlyDictionary<string, object?> tags, string key, object value) => tags.TryGetValue(key, out object? v) && value.Equals(v);

    [Fact]
    public async Task CallMetrics_CarryTheConventionTags_OnBothSides()
    {
        using var clientDuration = new MetricCollector<double>(null, RpcGenMetrics.MeterName, "rpc.client.call.duration");
        using var serverDuration = new MetricCollector<double>(null, RpcGenMetrics.MeterName, "rpc.server.call.duration");
        using var clientRequest = new MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpc.client.request.size");
        using var clientResponse = new MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpc.client.response.size");
        using var serverRequest = new MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpc.server.request.size");
        using var serverResponse = new MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpc.server.response.size");
        using var clientActive = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.client.active_calls");
        using var serverActive = new MetricCollector<long>(null, RpcGenMetrics.MeterName, "rpcgen.server.active_calls");

        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = ServerCluster.CreateClient(cluster.Servers);
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(42, await calc.AddAsync(40, 2));
        await Assert.ThrowsAsync<RpcException>(() => calc.FailAsync("rpc"));
        RpcEndpoint server = cluster.Servers[0].Endpoints[0];

        CollectedMeasurement<double> added = Assert.Single(clientDuration.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Add"));
        Assert.True(Is(added.Tags, "rpc.system", "rpcgen") && Is(added.Tags, "rpc.service", "calc") && Is(added.Tags, "rpc.rpcgen.status_code", 0));
        Assert.True(Is(added.Tags, "server.address", server.Host) && Is(added.Tags, "server.port", server.Port), string.Join(", ", added.Tags));
        Assert.True(added.Value > 0);
        Assert.False(added.Tags.ContainsKey("error.type"));
        CollectedMeasurement<double> failed = Assert.Single(clientDuration.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Fail"));
        Assert.True(Is(failed.Tags, "rpc.rpcgen.status_code", (int)RpcStatusCode.NotFound) && Is(failed.Tags, "error.type", "NotFound"));

        await Wait.UntilAsync(() => serverDuration.GetMeasurementSnapshot().Count >= 2); // recorded as the call finishes, after the response left
        CollectedMeasurement<double> served = Assert.Single(serverDuration.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Fail"));
        Assert.True(Is(served.Tags, "rpc.service", "calc") && Is(served.Tags, "rpc.rpcgen.status_code", (int)RpcStatusCode.NotFound));

        // The arguments [40,2] are 6 bytes; the result 42 is 2.
        Assert.Equal(6, Assert.Single(clientRequest.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Add")).Value);
        Assert.Equal(6, Assert.Single(serverRequest.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Add")).Value);
        Assert.Equal(2, Assert.Single(clientResponse.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Add")).Value);
        Assert.Equal(2, Assert.Single(serverResponse.GetMeasurementSnapshot(), m => Is(m.Tags, "rpc.method", "Add")).Value);
        Assert.Equal(0, clientActive.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Contains(clientActive.GetMeasurementSnapshot(), m => m.Value == 1);
        await Wait.UntilAsync(() => serverActive.GetMeasurementSnapshot().Sum(m => m.Value) == 0 && serverActive.GetMeasurementSnapshot().Count == 4);
    }

    [Fact]
    public async Task BalancerGauges_ReportEachEndpoint_ByClientName()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(2);
        await using RpcClient client = ServerCluster.CreateClient(cluster.Servers, o => o.Name = "gauged");
        await client.CreateProxy<ICalculator>().AddAsync(1, 2);
        using var inFlight = new MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpcgen.client.endpoint.in_flight");
        using var ejected = new MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpcgen.client.endpoint.ejected");
        inFlight.RecordObservableInstruments();
        ejected.RecordObservableInstruments();
        CollectedMeasurement<int>[] mine = inFlight.GetMeasurementSnapshot().Where(m => Is(m.Tags, "rpcgen.client.name", "gauged")).ToArray();
        Assert.Equal(2, mine.Length);
        Assert.All(mine, m => Assert.Equal(0, m.Value));
        Assert.Equal(cluster.Servers.Select(s => s.Endpoints[0].Port).OrderBy(p => p), mine.Select(m => (int)m.Tags["server.port"]!).OrderBy(p => p));
        Assert.Equal(2, ejected.GetMeasurementSnapshot().Count(m => Is(m.Tags, "rpcgen.client.name", "gauged") && m.Value == 0));
    }

    [Fact]
    public async Task ClientSpan_CarriesTheServerAddress_AndAnEventPerAttempt_ServerSpanThePeer()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RpcGenTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(2);
        RpcEndpoint alive = cluster.Servers[1].Endpoints[0];
        await cluster.Servers[0].DisposeAsync(); // the first endpoint refuses connections: the call moves on, transparently
        await using RpcClient client = ServerCluster.CreateClient(cluster.Servers, o => o.Balancing.OutlierDetection.Enabled = false);
        ICalculator calc = client.CreateProxy<ICalculator>();
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(3, await calc.AddAsync(1, 2));
        }

        await Wait.UntilAsync(() => spans.Count(s => s.Kind == ActivityKind.Server && s.DisplayName == "calc/Add") >= 4);
        Activity[] clients = spans.Where(s => s.Kind == ActivityKind.Client && s.DisplayName == "calc/Add").ToArray();
        Assert.All(clients, span => Assert.Equal((alive.Host, alive.Port), ((string)span.GetTagItem("server.address")!, (int)span.GetTagItem("server.port")!)));
        Activity movedOn = clients.First(s => s.Events.Count(e => e.Name == "rpcgen.attempt") == 2);
        ActivityEvent[] events = movedOn.Events.ToArray();
        Assert.Equal(new[] { "rpcgen.attempt", "rpcgen.attempt.failed", "rpcgen.attempt" }, events.Select(e => e.Name));
        var first = events[0].Tags.ToDictionary(t => t.Key, t => t.Value);
        var second = events[2].Tags.ToDictionary(t => t.Key, t => t.Value);
        Assert.Equal((1, 0, 1, 0), ((int)first["rpcgen.attempt"]!, (int)first["rpcgen.attempt.transparent"]!, (int)second["rpcgen.attempt"]!, (int)second["rpcgen.attempt.transparent"]! - 1));
        Assert.Equal("RoundRobin", first["rpcgen.balancer.strategy"]);
        Assert.Equal((2, 2, 1), ((int)second["rpcgen.balancer.endpoints"]!, (int)second["rpcgen.balancer.candidates"]!, (int)second["rpcgen.balancer.excluded"]!));
        Assert.Equal(alive.ToString(), second["server.address"]);
        Assert.Equal(true, events[1].Tags.Single(t => t.Key == "rpcgen.not_processed").Value);

        Activity served = spans.First(s => s.Kind == ActivityKind.Server && s.DisplayName == "calc/Add");
        Assert.Equal("127.0.0.1", served.GetTagItem("network.peer.address"));
        Assert.IsType<int>(served.GetTagItem("network.peer.port"));
    }

    [Fact]
    public async Task ConsistentHashing_NamesTheKeysHome_AndASpillOffIt()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RpcGenTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = span =>
            {
                if (span.Kind == ActivityKind.Client && span.DisplayName == "work/ForUser")
                {
                    spans.Enqueue(span);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using ServerCluster<Work> cluster = await ServerCluster.StartAsync(3, i => new Work($"w{i}", 0), static (server, work) => server.Map<IWork>(work));
        await using RpcClient client = ServerCluster.CreateClient(cluster.Servers, o => o.Balancing.OutlierDetection.Enabled = false);
        IWork work = client.CreateProxy<IWork>();

        string homeName = await work.ForUserAsync("ada");
        Dictionary<string, object?> first = spans.Single().Events.Single(e => e.Name == "rpcgen.attempt").Tags.ToDictionary(t => t.Key, t => t.Value);
        Assert.Equal(false, first["rpcgen.balancer.hash_spilled"]);
        Assert.Equal(first["server.address"], first["rpcgen.balancer.hash_home"]);

        int home = cluster.Services.FindIndex(w => homeName.StartsWith(w.Name, StringComparison.Ordinal));
        await cluster.Servers[home].DisposeAsync(); // the key's home goes away: the call spills to the next owner on the ring
        spans.Clear();
        Assert.DoesNotContain(cluster.Services[home].Name, await work.ForUserAsync("ada"), StringComparison.Ordinal);
        Dictionary<string, object?>[] attempts = spans.Single().Events.Where(e => e.Name == "rpcgen.attempt")
            .Select(e => e.Tags.ToDictionary(t => t.Key, t => t.Value)).ToArray();
        Dictionary<string, object?> spilled = attempts.Last();
        Assert.Equal(true, spilled["rpcgen.balancer.hash_spilled"]);
        Assert.Equal(first["rpcgen.balancer.hash_home"], spilled["rpcgen.balancer.hash_home"]);
    }

    [Fact]
    public void LogMessages_HaveUniqueEventIds_AndEveryOneIsDocumented()
    {
        string docs = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "docs", "observability.md"));
        var ids = new List<int>();
        foreach (Type log in new[] { typeof(RpcClient).Assembly.GetType("RpcGen.Telemetry.RpcGenLog")!, typeof(RpcGen.Hosting.RpcClientFactory).Assembly.GetType("RpcGen.Hosting.HostingLog")!,
                                        typeof(RpcGen.Etcd.EtcdRegistration).Assembly.GetType("RpcGen.Etcd.EtcdLog")!,
                                        typeof(RpcGen.Dns.DnsEndpointSource).Assembly.GetType("RpcGen.Dns.DnsLog")! })
        {
            foreach (MethodInfo method in log.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            {
                if (method.GetCustomAttribute<LoggerMessageAttribute>() is { } message)
                {
                    ids.Add(message.EventId);
                    Assert.True(docs.Contains($"| {message.EventId} |", StringComparison.Ordinal), $"docs/observability.md does not list event {message.EventId} ({method.Name})");
                }
            }
        }

        Assert.True(ids.Count > 30, $"found {ids.Count} log messages");
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }
}
