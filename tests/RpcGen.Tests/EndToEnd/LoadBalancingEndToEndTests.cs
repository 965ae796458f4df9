using System.Diagnostics;
using System.Net;
using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.EndToEnd;

/// <summary>Strategies and endpoint health against real servers on loopback.</summary>
[Collection(SerialCollection.Name)]
public sealed class LoadBalancingEndToEndTests
{
    private readonly ITestOutputHelper _output;

    public LoadBalancingEndToEndTests(ITestOutputHelper output) => _output = output;

    private static async Task<(List<RpcServer> Servers, List<Work> Work)> StartAsync(params int[] delays)
    {
        ServerCluster<Work> cluster = await ServerCluster.StartAsync(delays.Length, i => new Work($"server-{i}", delays[i]), static (server, work) => server.Map<IWork>(work));
        return (cluster.Servers, cluster.Services); // each test stops (and restarts) its servers itself
    }

    private static RpcClient Client(IEnumerable<RpcServer> servers, Action<RpcClientOptions>? configure = null) =>
        ServerCluster.CreateClient(servers, configure);

    /// <summary>
    /// <paramref name="callers"/> workers make <paramref name="total"/> calls between them, each taking the next call
    /// when its last one returns (independent requests, as a service sees them: a worker that waited on a slow server
    /// does not owe a fixed number of calls). Returns calls per server and p99 latency in ms.
    /// </summary>
    private static async Task<(int[] Calls, double P99)> RunAsync(RpcClient client, List<Work> work, int callers, int total)
    {
        int[] before = work.Select(w => w.Calls).ToArray();
        IWork proxy = client.CreateProxy<IWork>();
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        int taken = 0;
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref taken) <= total)
            {
                long start = Stopwatch.GetTimestamp();
                await proxy.DoAsync();
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));
        double[] sorted = latencies.OrderBy(l => l).ToArray();
        return (work.Select((w, i) => w.Calls - before[i]).ToArray(), sorted[(int)(sorted.Length * 0.99)]);
    }

    [Fact]
    public async Task SlowServer_GetsClearlyFewerCallsFromLoadAwareStrategies_AndP99Drops()
    {
        // A server 500× slower than the others: with calls in flight balanced it gets well under 1% of the calls,
        // so p99 shows whether a strategy noticed. Round-robin needs few calls to show its p99 (a third are slow).
        (List<RpcServer> servers, List<Work> work) = await StartAsync(2, 2, 1000);
        try
        {
            await using (RpcClient warmUp = Client(servers))
            {
                await RunAsync(warmUp, work, callers: 16, total: 48); // JIT and thread-pool growth, not measured
            }

            var results = new Dictionary<LoadBalanceStrategy, (int[] Calls, double P99)>();
            foreach (LoadBalanceStrategy strategy in new[]
            {
                LoadBalanceStrategy.RoundRobin, LoadBalanceStrategy.LeastOutstanding,
                LoadBalanceStrategy.PowerOfTwoChoices, LoadBalanceStrategy.PeakEwma,
            })
            {
                await using RpcClient client = Client(servers, o => o.Balancing.Strategies["work"] = strategy);
                int total = strategy == LoadBalanceStrategy.RoundRobin ? 144 : 3200;
                var elapsed = Stopwatch.StartNew();
                results[strategy] = await RunAsync(client, work, callers: 16, total: total);
                _output.WriteLine($"{strategy,-18} calls per server {string.Join(" / ", results[strategy].Calls)}, p99 {results[strategy].P99:0.0} ms, {elapsed.Elapsed.TotalSeconds:0.0} s");
            }

            double roundRobinShare = results[LoadBalanceStrategy.RoundRobin].Calls[2] / 144.0;
            Assert.InRange(roundRobinShare, 0.30, 0.37);
            foreach (LoadBalanceStrategy strategy in new[] { LoadBalanceStrategy.LeastOutstanding, LoadBalanceStrategy.PowerOfTwoChoices, LoadBalanceStrategy.PeakEwma })
            {
                double share = results[strategy].Calls[2] / 3200.0;
                Assert.True(share < roundRobinShare / 4, $"{strategy} sent {share:P1} of calls to the slow server (round-robin {roundRobinShare:P1})");
                Assert.True(results[strategy].P99 < results[LoadBalanceStrategy.RoundRobin].P99 / 2, $"{strategy} p99 {results[strategy].P99:0.0} ms, round-robin {results[LoadBalanceStrategy.RoundRobin].P99:0.0} ms");
            }
        }
        finally
        {
            foreach (RpcServer server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task KilledServer_IsEjected_CallsGoOn_AndARestartedOneComesBack()
    {
        (List<RpcServer> servers, List<Work> work) = await StartAsync(0, 0, 0);
        RpcEndpoint killedEndpoint = servers[2].Endpoints[0];
        await using RpcClient client = Client(servers, o =>
        {
            o.Balancing.OutlierDetection.BaseEjectionTime = TimeSpan.FromMilliseconds(300);
            o.Balancing.OutlierDetection.Interval = TimeSpan.FromMilliseconds(50);
            o.Balancing.OutlierDetection.SuccessRateInterval = TimeSpan.FromSeconds(10);
            o.Connection.ReconnectBackoff = TimeSpan.FromMilliseconds(20);
            o.Connection.MaxReconnectBackoff = TimeSpan.FromMilliseconds(50);
        });
        IWork proxy = client.CreateProxy<IWork>();
        for (int i = 0; i < 30; i++)
        {
            await proxy.DoAsync();
        }

        await servers[2].DisposeAsync();
        for (int i = 0; i < 60; i++)
        {
            string name = await proxy.DoAsync().WaitAsync(NoHang); // every call succeeds: refused connections go elsewhere
            Assert.NotEqual("server-2", name);
        }

        RpcEndpointState killed = client.Endpoints.Single(e => e.Endpoint.Equals(killedEndpoint));
        Assert.True(killed.IsEjected, "the killed server was not ejected");

        var options = new RpcServerOptions();
        options.Listen.Add(new IPEndPoint(IPAddress.Parse(killedEndpoint.Host), killedEndpoint.Port));
        await using var restarted = new RpcServer(options);
        var again = new Work("restarted", 0);
        restarted.Map<IWork>(again);
        await restarted.StartAsync();

        var deadline = Stopwatch.StartNew();
        while (again.Calls == 0 && deadline.Elapsed < NoHang)
        {
            await proxy.DoAsync().WaitAsync(NoHang);
            await Task.Delay(10);
        }

        Assert.True(again.Calls > 0, "the restarted server never got a call back");
        Assert.False(killed.IsEjected);
        await servers[0].DisposeAsync();
        await servers[1].DisposeAsync();
    }

    [Fact]
    public async Task ConsistentHash_SendsAUserToOneServer_AndACustomBalancerIsUsed()
    {
        (List<RpcServer> servers, List<Work> work) = await StartAsync(0, 0, 0);
        try
        {
            await using RpcClient client = Client(servers);
            IWork proxy = client.CreateProxy<IWork>();
            // 60 users: the ring places each server's points by a hash of its address (a random port), so with 20 one
            // server owned none of them about once in a thousand runs; with 60, once in ten billion.
            for (int user = 0; user < 60; user++)
            {
                string first = await proxy.ForUserAsync("user-" + user);
                for (int i = 0; i < 5; i++)
                {
                    Assert.Equal(first, await proxy.ForUserAsync("user-" + user));
                }
            }

            Assert.All(work, w => Assert.True(w.Calls > 0)); // 60 users spread over all three

            string pinned = await proxy.PinnedAsync();
            for (int i = 0; i < 10; i++)
            {
                Assert.Equal(pinned, await proxy.PinnedAsync());
            }

            Assert.Equal("server-2", pinned); // LastEndpointBalancer picks the last endpoint
        }
        finally
        {
            foreach (RpcServer server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ServerLoadReports_SteerAClientAwayFromAServerBusyWithOtherClients()
    {
        (List<RpcServer> servers, List<Work> work) = await StartAsync(0, 0);
        work[0].DelayMs = 4_000;
        try
        {
            // Another client keeps 30 calls in flight on server 0.
            await using RpcClient other = Client(servers.Take(1));
            IWork otherProxy = other.CreateProxy<IWork>();
            Task[] busy = Enumerable.Range(0, 30).Select(_ => (Task)otherProxy.DoAsync()).ToArray();
            await Wait.UntilAsync(() => work[0].Calls >= 30); // all 30 running on server 0
            work[0].DelayMs = 0;

            await using RpcClient client = Client(servers, o => o.Balancing.Strategies["work"] = LoadBalanceStrategy.LeastOutstanding);
            IWork proxy = client.CreateProxy<IWork>();
            RpcEndpointState[] endpoints = client.Endpoints.ToArray();
            for (int i = 0; i < 50 && endpoints.Any(e => e.ServerInFlight < 0); i++)
            {
                await proxy.DoAsync(); // until both servers have reported their load to this client
            }

            Assert.True(endpoints[0].ServerInFlight >= 30, $"server 0 reported {endpoints[0].ServerInFlight}");
            int before = work[0].Calls;
            for (int i = 0; i < 20; i++)
            {
                await proxy.DoAsync();
            }

            Assert.True(work[0].Calls - before <= 1, $"{work[0].Calls - before} of 20 sequential calls went to the server busy with another client's 30 calls");
            await Task.WhenAll(busy).WaitAsync(NoHang);
        }
        finally
        {
            foreach (RpcServer server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RemovedEndpoint_DrainsItsCallsInFlight_NoCallIsLost()
    {
        (List<RpcServer> servers, List<Work> work) = await StartAsync(300, 0);
        try
        {
            var source = new StaticEndpointSource(servers.Select(s => s.Endpoints[0]));
            await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
            IWork proxy = client.CreateProxy<IWork>();
            Task<string>[] calls = Enumerable.Range(0, 10).Select(_ => proxy.DoAsync()).ToArray();
            await Wait.UntilAsync(() => work[0].Calls > 0); // at least one in flight on server 0 (300 ms each)
            Assert.Contains(calls, c => !c.IsCompleted);
            source.Update(new[] { servers[1].Endpoints[0] });

            string[] answers = await Task.WhenAll(calls).WaitAsync(NoHang); // none lost
            Assert.Equal(10, answers.Length);
            Assert.Equal(work[0].Calls, answers.Count(a => a == "server-0")); // the removed server answered what it ran
            for (int i = 0; i < 10; i++)
            {
                Assert.Equal("server-1", await proxy.DoAsync());
            }

            Assert.Single(client.Endpoints);
        }
        finally
        {
            foreach (RpcServer server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }
}
