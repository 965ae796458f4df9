using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.EndToEnd;

[RpcService("faulty"), LoadBalance(LoadBalanceStrategy.RoundRobin)]
public interface IFaulty
{
    /// <summary>Takes <paramref name="milliseconds"/>, then says which server ran it.</summary>
    [Idempotent, Retry(MaxAttempts = 5, InitialBackoffMs = 1, MaxBackoffMs = 5)]
    Task<string> WorkAsync(int milliseconds);
}

public sealed class Faulty(string name) : IFaulty
{
    public int Calls;

    public async Task<string> WorkAsync(int milliseconds)
    {
        Interlocked.Increment(ref Calls);
        await Task.Delay(milliseconds);
        return name;
    }
}

/// <summary>
/// Real connections through a fault-injecting TCP proxy: one lost connection is one event for outlier detection, not
/// one per call it took down, and the reason an endpoint was ejected decides its way back.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ConnectionFaultTests : IAsyncLifetime
{
    private readonly ITestOutputHelper _output;
    private readonly List<RpcServer> _servers = new();
    private readonly List<Faulty> _services = new();
    private readonly List<FaultProxy> _proxies = new();

    public ConnectionFaultTests(ITestOutputHelper output) => _output = output;

    public async Task InitializeAsync()
    {
        for (int i = 0; i < 3; i++)
        {
            var server = new RpcServer();
            var service = new Faulty($"s{i}");
            server.Map<IFaulty>(service);
            await server.StartAsync();
            _servers.Add(server);
            _services.Add(service);
            _proxies.Add(FaultProxy.Start(server.Endpoints[0]));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (FaultProxy proxy in _proxies)
        {
            await proxy.DisposeAsync();
        }

        foreach (RpcServer server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    private RpcClient Client(Action<RpcClientOptions>? configure = null)
    {
        var options = new RpcClientOptions();
        foreach (FaultProxy proxy in _proxies)
        {
            options.Endpoints.Add(proxy.Endpoint);
        }

        configure?.Invoke(options);
        return new RpcClient(options);
    }

    /// <summary>Callers that keep calling until disposed; counts the calls that failed.</summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _callers;
        public int Failed;

        public Load(IFaulty proxy, int callers) => _callers = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await proxy.WorkAsync(5);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref Failed);
                }
            }
        })).ToArray();

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_callers).WaitAsync(NoHang);
        }
    }

    [Fact]
    public async Task AResetStorm_OnOneServersConnections_DoesNotEjectIt()
    {
        await using RpcClient client = Client();
        RpcEndpointState target = client.Endpoints.Single(e => e.Endpoint.Equals(_proxies[0].Endpoint));
        bool everEjected = false;
        using var sampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                everEjected |= target.Health.IsEjected;
                await Task.Delay(5);
            }
        });

        await using (var load = new Load(client.CreateProxy<IFaulty>(), 48))
        {
            for (int round = 0; round < 15; round++)
            {
                int before = _services[0].Calls;
                await Wait.UntilAsync(() => _services[0].Calls > before + 20); // calls in flight on it again
                _proxies[0].ResetAll();
            }

            int after = _services[0].Calls;
            await Wait.UntilAsync(() => _services[0].Calls > after + 100);
        }

        sampling.Cancel();
        await sampler;
        _output.WriteLine($"{_proxies[0].Resets} connections reset; calls per server {string.Join(", ", _services.Select(s => s.Calls))}");
        Assert.True(_proxies[0].Resets >= 15);
        Assert.False(everEjected, "a server whose connections were reset (each taking ~16 calls down) was ejected");
    }

    [Fact]
    public async Task AfterABlackHoleHeals_APingReadmitsTheServer_WithoutWaitingOutItsEjection()
    {
        await using RpcClient client = Client(o =>
        {
            o.Connection.KeepAliveInterval = TimeSpan.FromMilliseconds(200);
            o.Connection.KeepAliveTimeout = TimeSpan.FromMilliseconds(300);
            o.Connection.ConnectTimeout = TimeSpan.FromMilliseconds(500);
            o.Balancing.OutlierDetection.BaseEjectionTime = TimeSpan.FromMinutes(5); // only a ping brings it back in time
        });
        RpcEndpointState target = client.Endpoints.Single(e => e.Endpoint.Equals(_proxies[0].Endpoint));
        await using (var load = new Load(client.CreateProxy<IFaulty>(), 16))
        {
            await Wait.UntilAsync(() => _services[0].Calls > 50);
            _proxies[0].BlackHole();
            await Wait.UntilAsync(() => target.Health.IsEjected);
            Assert.True(target.Health.PingCanReadmit, "ejected as unreachable, not for call errors");
            int during = _services[0].Calls;

            _proxies[0].Heal();
            var healed = System.Diagnostics.Stopwatch.StartNew();
            await Wait.UntilAsync(() => _services[0].Calls > during + 50);
            _output.WriteLine($"calls reached the healed server again {healed.ElapsedMilliseconds} ms after the heal; {load.Failed} calls failed");
            Assert.False(target.Health.IsEjected);
        }
    }
}
