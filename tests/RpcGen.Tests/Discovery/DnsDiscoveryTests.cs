using System.Net;
using RpcGen.Dns;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Discovery;

/// <summary>Discovery through a real dnsmasq: A records (a headless service) and SRV records, TTL refreshes, outages.</summary>
[Collection(SerialCollection.Name)]
public sealed class DnsDiscoveryTests
{
    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<RpcServer> ServeAsync(string address, int port, string name)
    {
        var server = new RpcServer(new RpcServerOptions { Listen = { new IPEndPoint(IPAddress.Parse(address), port) } });
        server.Map<IDisco>(new Disco(name));
        await server.StartAsync();
        return server;
    }

    [Fact]
    public async Task ARecords_OneAddressPerServer_AnAddedRecordIsPickedUpAfterItsTtl_AndAnOutageKeepsTheLastSet()
    {
        int port = FreePort();
        await using RpcServer first = await ServeAsync("127.0.0.1", port, "first");
        await using RpcServer second = await ServeAsync("127.0.0.2", port, "second"); // all of 127/8 is loopback on Linux
        await using DnsmasqServer dns = await DnsmasqServer.StartAsync(new[] { "127.0.0.1 calc.rpcgen.test" });
        var options = new DnsDiscoveryOptions { Name = "calc.rpcgen.test", Port = port, NameServers = { dns.NameServer }, MinRefresh = TimeSpan.FromMilliseconds(200) };
        await using DnsEndpointSource source = await ResolvedAsync(new DnsEndpointSource(options));
        Assert.Equal(new[] { $"127.0.0.1:{port}" }, source.Endpoints.Select(e => e.ToString()));
        await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
        IDisco disco = client.CreateProxy<IDisco>();
        Assert.Equal("first", await disco.WhoAsync());

        await dns.SetHostsAsync(new[] { "127.0.0.1 calc.rpcgen.test", "127.0.0.2 calc.rpcgen.test" });
        await Wait.UntilAsync(() => source.Endpoints.Count == 2); // after the 1 s TTL
        var seen = new HashSet<string>();
        await Wait.UntilAsync(() =>
        {
            seen.Add(disco.WhoAsync().GetAwaiter().GetResult());
            return seen.Contains("second");
        });

        await dns.StopAsync(); // DNS down: the last good set stays, and calls keep working
        await Wait.UntilAsync(() => source.IsStale);
        Assert.Equal(2, source.Endpoints.Count);
        Assert.Contains(await disco.WhoAsync(), new[] { "first", "second" });
    }

    [Fact]
    public async Task ANameServerThatNeverAnswers_FailsStartWithTheDocumentedException_AskingEachQuestionOnce()
    {
        using var silent = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var options = new DnsDiscoveryOptions
        {
            Name = "calc.rpcgen.test",
            Port = 7000,
            NameServers = { (IPEndPoint)silent.Client.LocalEndPoint! },
            Timeout = TimeSpan.FromMilliseconds(300),
        };

        var source = new DnsEndpointSource(options);
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => source.WaitForEndpointsAsync());
        Assert.Contains("resolving calc.rpcgen.test failed", error.Message, StringComparison.Ordinal);
        await source.DisposeAsync(); // no retry after MinRefresh: the questions below are the first resolution's

        // What the silent server was asked: A and AAAA, each once (Timeout is one query's deadline, not one per retry).
        var questions = new List<int>();
        while (silent.Available > 0)
        {
            byte[] query = silent.Receive(ref Unused);
            int offset = 12;
            while (query[offset] != 0)
            {
                offset += query[offset] + 1;
            }

            questions.Add((query[offset + 1] << 8) | query[offset + 2]);
        }

        questions.Sort();
        Assert.Equal(new[] { 1, 28 }, questions); // A, AAAA
    }

    private static IPEndPoint? Unused;

    [Fact]
    public async Task SrvRecordsOfEqualWeight_SpreadHashedKeysAsEvenlyAsStaticEndpoints()
    {
        int[] ports = { FreePort(), FreePort(), FreePort() };
        await using DnsmasqServer dns = await DnsmasqServer.StartAsync(
            new[] { "127.0.0.1 a.rpcgen.test", "127.0.0.2 b.rpcgen.test", "127.0.0.3 c.rpcgen.test" },
            new[]
            {
                $"_rpc._tcp.spread.rpcgen.test,a.rpcgen.test,{ports[0]},0,1",
                $"_rpc._tcp.spread.rpcgen.test,b.rpcgen.test,{ports[1]},0,1",
                $"_rpc._tcp.spread.rpcgen.test,c.rpcgen.test,{ports[2]},0,1",
            });
        await using DnsEndpointSource source = await ResolvedAsync(
            new DnsEndpointSource(new DnsDiscoveryOptions { Name = "_rpc._tcp.spread.rpcgen.test", Srv = true, NameServers = { dns.NameServer } }));
        Assert.All(source.Endpoints, e => Assert.Equal(1, e.Weight));
        await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
        RpcGen.Balancing.RpcEndpointState[] candidates = client.Endpoints.ToArray();
        Assert.Equal(3, candidates.Length);
        // The same servers listed statically with the default weight 100: every key must land on the same server.
        var staticOptions = new RpcClientOptions();
        foreach (RpcEndpoint e in source.Endpoints)
        {
            staticOptions.Endpoints.Add(new RpcEndpoint(e.Host, e.Port));
        }

        await using var listed = new RpcClient(staticOptions);
        RpcGen.Balancing.RpcEndpointState[] listedCandidates = listed.Endpoints.ToArray();
        RpcGen.Balancing.ILoadBalancer ring = RpcGen.Balancing.LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        RpcGen.Balancing.ILoadBalancer listedRing = RpcGen.Balancing.LoadBalancers.Create(LoadBalanceStrategy.ConsistentHash, consistentHashLoadFactor: double.PositiveInfinity);
        var counts = new Dictionary<string, int>();
        for (int i = 0; i < 3000; i++)
        {
            ulong key = RpcGen.Balancing.RpcHash.String("key-" + i);
            string owner = ring.Pick(new RpcGen.Balancing.LoadBalancingContext(candidates, null, key, true, 0))!.Endpoint.ToString();
            Assert.Equal(listedRing.Pick(new RpcGen.Balancing.LoadBalancingContext(listedCandidates, null, key, true, 0))!.Endpoint.ToString(), owner);
            counts[owner] = counts.GetValueOrDefault(owner) + 1;
        }

        // Weight 1 gave each server ~2 ring points, and shares of 16-48 %; now each has the ring's usual spread.
        Assert.Equal(3, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 600, 1400));
    }

    [Fact]
    public async Task SrvRecords_CarryPortPriorityAndWeight_AndARestartedServerWithNewRecordsIsFollowed()
    {
        int primaryPort = FreePort(), backupPort = FreePort(), laterPort = FreePort();
        await using RpcServer primary = await ServeAsync("127.0.0.1", primaryPort, "primary");
        await using RpcServer backup = await ServeAsync("127.0.0.1", backupPort, "backup");
        await using RpcServer later = await ServeAsync("127.0.0.1", laterPort, "later");
        string[] hosts = { "127.0.0.1 p.rpcgen.test", "127.0.0.1 b.rpcgen.test", "127.0.0.1 l.rpcgen.test" };
        await using DnsmasqServer dns = await DnsmasqServer.StartAsync(hosts, new[]
        {
            $"_rpc._tcp.disco.rpcgen.test,p.rpcgen.test,{primaryPort},0,100",
            $"_rpc._tcp.disco.rpcgen.test,b.rpcgen.test,{backupPort},1,0",
        });
        var options = new DnsDiscoveryOptions { Name = "_rpc._tcp.disco.rpcgen.test", Srv = true, NameServers = { dns.NameServer }, MinRefresh = TimeSpan.FromMilliseconds(200) };
        await using DnsEndpointSource source = await ResolvedAsync(new DnsEndpointSource(options));
        RpcEndpoint p = Assert.Single(source.Endpoints, e => e.Port == primaryPort);
        RpcEndpoint b = Assert.Single(source.Endpoints, e => e.Port == backupPort);
        Assert.Equal((0, 100, 1, 1), (p.Priority, p.Weight, b.Priority, b.Weight)); // SRV weight 0 counts as 1
        await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
        IDisco disco = client.CreateProxy<IDisco>();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal("primary", await disco.WhoAsync()); // the backup group takes nothing while the primary is whole
        }

        await dns.RestartAsync(new[]
        {
            $"_rpc._tcp.disco.rpcgen.test,p.rpcgen.test,{primaryPort},0,100",
            $"_rpc._tcp.disco.rpcgen.test,l.rpcgen.test,{laterPort},0,100",
        });
        await Wait.UntilAsync(() => source.Endpoints.Count == 2 && source.Endpoints.Any(e => e.Port == laterPort) && !source.IsStale);
        Assert.DoesNotContain(source.Endpoints, e => e.Port == backupPort);
        var seen = new HashSet<string>();
        await Wait.UntilAsync(() =>
        {
            seen.Add(disco.WhoAsync().GetAwaiter().GetResult());
            return seen.Contains("later");
        });
    }

    [Fact]
    public async Task AName_WithoutRecords_FailsAtStart_SayingSo_AndOptionsAreChecked()
    {
        await using DnsmasqServer dns = await DnsmasqServer.StartAsync(new[] { "127.0.0.1 other.rpcgen.test" });
        var options = new DnsDiscoveryOptions { Name = "missing.rpcgen.test", Port = 7000, NameServers = { dns.NameServer } };
        await using var source = new DnsEndpointSource(options);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => source.WaitForEndpointsAsync());
        Assert.StartsWith("dns:missing.rpcgen.test has no endpoints: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("missing.rpcgen.test", error.InnerException!.Message, StringComparison.Ordinal);
        Assert.True(source.IsStale);

        // A client on that source: its calls fail at once with the reason (not at their deadline), as Unavailable.
        var clientOptions = new RpcClientOptions { EndpointSource = source, Resilience = { DefaultTimeout = Timeout.InfiniteTimeSpan } };
        await using var client = new RpcClient(clientOptions);
        RpcException failed = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IDisco>().WhoAsync());
        Assert.Equal(RpcStatusCode.Unavailable, failed.StatusCode);
        Assert.Contains("dns:missing.rpcgen.test failed to resolve them", failed.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentOutOfRangeException>(() => new DnsEndpointSource(new DnsDiscoveryOptions { Name = "x.rpcgen.test" })); // no port
        Assert.Throws<ArgumentException>(() => new DnsEndpointSource(new DnsDiscoveryOptions { Port = 1 }));
    }

    private static async Task<DnsEndpointSource> ResolvedAsync(DnsEndpointSource source)
    {
        await source.WaitForEndpointsAsync();
        return source;
    }
}
