using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RpcGen.Etcd;
using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Discovery;

[RpcService("disco"), Timeout(5000), Retry(MaxAttempts = 3, InitialBackoffMs = 1, MaxBackoffMs = 5)]
public interface IDisco
{
    [Idempotent]
    Task<string> WhoAsync(CancellationToken cancellationToken = default);
}

public sealed class Disco(string name) : IDisco
{
    private int _calls;

    public string Name => name;

    public int Calls => Volatile.Read(ref _calls);

    public async Task<string> WhoAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        await Task.Yield();
        return name;
    }
}

/// <summary>The contract of the sample's etcd server (sample/RpcGen.Sample/Discovery/EtcdSample.cs), spoken from here.</summary>
[RpcService("greet")]
public interface ISampleGreeter
{
    [Idempotent, Retry(MaxAttempts = 3)]
    Task<string> HelloAsync(CancellationToken ct = default);
}

/// <summary>Discovery through a real etcd: self-registration under leases, live watch, graceful and brutal exits, etcd restarts.</summary>
[Collection(SerialCollection.Name)]
public sealed class EtcdDiscoveryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_ttl = TimeSpan.FromSeconds(3);

    /// <summary>Callers that keep calling until stopped, counting calls and failures.</summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _callers;

        public Load(IDisco disco, int callers)
        {
            _callers = Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        await disco.WhoAsync();
                        Interlocked.Increment(ref Completed);
                    }
                    catch (Exception ex)
                    {
                        Failures.Add(ex);
                    }
                }
            })).ToArray();
        }

        public int Completed;

        public ConcurrentBag<Exception> Failures { get; } = new();

        public async Task MoreAsync(int calls)
        {
            int target = Volatile.Read(ref Completed) + calls;
            await Wait.UntilAsync(() => Volatile.Read(ref Completed) >= target);
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_callers);
        }
    }

    private static async Task<(RpcServer Server, Disco Service, EtcdRegistration Registration)> StartServerAsync(EtcdServer etcd, string name)
    {
        var server = new RpcServer();
        var service = new Disco(name);
        server.Map<IDisco>(service);
        await server.StartAsync();
        EtcdRegistration registration = await EtcdRegistration.RegisterAsync(etcd.Options(), "disco", server.Endpoints, s_ttl, version: "1.0");
        return (server, service, registration);
    }

    [Fact]
    public async Task ServersJoinLeaveGracefullyAndDie_UnderLoad_WithoutAFailedCall()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        var servers = new List<(RpcServer Server, Disco Service, EtcdRegistration Registration)>();
        for (int i = 0; i < 3; i++)
        {
            servers.Add(await StartServerAsync(etcd, $"s{i}"));
        }

        await using EtcdEndpointSource source = await ReadAsync(new EtcdEndpointSource(etcd.Options(), "disco"));
        Assert.Equal(3, source.Endpoints.Count);
        Assert.Equal("1.0", source.Endpoints[0].Tags["version"]);
        await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
        await using var load = new Load(client.CreateProxy<IDisco>(), 64);
        await load.MoreAsync(500);

        // A fourth server registers: calls reach it.
        var joined = Stopwatch.StartNew();
        (RpcServer Server, Disco Service, EtcdRegistration Registration) fourth = await StartServerAsync(etcd, "s3");
        servers.Add(fourth);
        await Wait.UntilAsync(() => fourth.Service.Calls > 0);
        TimeSpan toFirstCall = joined.Elapsed;

        // One stops gracefully: deregistered first, then drained.
        await servers[0].Registration.DeregisterAsync();
        await Wait.UntilAsync(() => client.Endpoints.Count == 3);
        await servers[0].Server.StopAsync();
        await load.MoreAsync(500);

        // One dies: its lease is no longer renewed and its connections drop at once.
        var killed = Stopwatch.StartNew();
        await servers[1].Registration.AbandonAsync();
        await servers[1].Server.DisposeAsync();
        await Wait.UntilAsync(() => client.Endpoints.All(e => e.Endpoint.Port != servers[1].Server.Endpoints[0].Port));
        TimeSpan toRemoval = killed.Elapsed;
        await load.MoreAsync(500);
        await load.DisposeAsync();

        output.WriteLine($"registration → first call {toFirstCall.TotalMilliseconds:0} ms; kill → removal {toRemoval.TotalMilliseconds:0} ms (TTL {s_ttl.TotalSeconds} s); calls {load.Completed}, failed {load.Failures.Count}");
        Assert.Empty(load.Failures);
        Assert.True(toRemoval >= s_ttl - TimeSpan.FromSeconds(1), $"removed after {toRemoval}: before its lease could expire"); // only the lease tells clients
        Assert.Equal(2, client.Endpoints.Count);
        foreach ((RpcServer server, _, EtcdRegistration registration) in servers)
        {
            await registration.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task EtcdKilledAndRestarted_UnderLoad_CallsKeepFlowing_TheWatchResumes_AndFindsANewServer()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        var servers = new List<(RpcServer Server, Disco Service, EtcdRegistration Registration)>
        {
            await StartServerAsync(etcd, "a"),
            await StartServerAsync(etcd, "b"),
        };
        await using EtcdEndpointSource source = await ReadAsync(new EtcdEndpointSource(etcd.Options(), "disco"));
        await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
        await using var load = new Load(client.CreateProxy<IDisco>(), 16);
        await load.MoreAsync(200);

        using var stale = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<int>(null, RpcGenMetrics.MeterName, "rpcgen.client.discovery.stale");
        int Stale()
        {
            stale.RecordObservableInstruments();
            return stale.LastMeasurement is { } last && "etcd:disco".Equals(last.Tags["rpcgen.discovery.source"]) ? last.Value : -1;
        }

        Assert.Equal(0, Stale());
        await etcd.KillAsync();
        await Wait.UntilAsync(() => source.IsStale);
        Assert.Equal(1, Stale()); // visible as a metric (and in RpcGen.Hosting's client health check)
        await load.MoreAsync(500); // the last known set serves
        Assert.Equal(2, client.Endpoints.Count);

        await etcd.RestartAsync();
        await Wait.UntilAsync(() => !source.IsStale);
        servers.Add(await StartServerAsync(etcd, "c"));
        await Wait.UntilAsync(() => servers[2].Service.Calls > 0);
        await load.MoreAsync(200);
        await load.DisposeAsync();

        Assert.Empty(load.Failures);
        Assert.Equal(3, client.Endpoints.Count); // a and b kept (or renewed) their leases across the restart
        foreach ((RpcServer server, _, EtcdRegistration registration) in servers)
        {
            await registration.DisposeAsync();
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task EtcdDownWhenAServerRegisters_TheServerServes_RegistrationRetries_AndErrorsNameEtcd()
    {
        await using EtcdServer etcd = EtcdServer.CreateStopped();
        EtcdOptions shared = etcd.Options();

        // Directly: RegisterAsync returns after the first failed attempt and goes on in the background.
        await using var server = new RpcServer();
        server.Map<IDisco>(new Disco("direct"));
        await server.StartAsync();
        EtcdRegistration direct = await EtcdRegistration.RegisterAsync(shared, "disco", server.Endpoints, s_ttl);
        Assert.False(direct.IsRegistered);
        Assert.Contains($"etcd at {etcd.Url}", direct.LastError, StringComparison.Ordinal);

        // Hosted: the host starts, serves, and its health says why it is not registered.
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(new Disco("hosted"));
        builder.Services.AddHealthChecks();
        builder.Services.AddRpcServer()
            .MapService<IDisco, Disco>(ServiceLifetime.Singleton)
            .AddEtcdRegistration("disco", o =>
            {
                o.Etcd.Servers.Add(etcd.Url);
                o.Etcd.Prefix = shared.Prefix;
                o.Etcd.RetryInterval = TimeSpan.FromMilliseconds(200);
                o.TimeToLive = s_ttl;
            });
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Wait.NoHang);
        var health = host.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>();
        var entry = (await health.CheckHealthAsync()).Entries["rpcgen-etcd-registration-disco"];
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, entry.Status);
        Assert.Contains($"etcd at {etcd.Url}", entry.Description, StringComparison.Ordinal);
        RpcServer hosted = host.Services.GetRequiredService<RpcGen.Hosting.RpcServerHost>().Server!;
        await using (var caller = new RpcClient(new RpcClientOptions { Endpoints = { hosted.Endpoints[0] } }))
        {
            Assert.Equal("hosted", await caller.CreateProxy<IDisco>().WhoAsync());
        }

        // etcd comes up: both register without anything done, and clients find both.
        await etcd.RestartAsync();
        await direct.WaitUntilRegisteredAsync().WaitAsync(Wait.NoHang);
        await Wait.UntilAsync(() => health.CheckHealthAsync().GetAwaiter().GetResult().Entries["rpcgen-etcd-registration-disco"].Status ==
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy);
        await using EtcdEndpointSource source = await ReadAsync(new EtcdEndpointSource(etcd.Options(), "disco"));
        Assert.Equal(2, source.Endpoints.Count);

        // An error that surfaces is RpcGen's and names etcd.
        await etcd.KillAsync();
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => direct.DeregisterAsync());
        Assert.Contains($"etcd at {etcd.Url}", error.Message, StringComparison.Ordinal);
        await direct.DisposeAsync();
        await host.StopAsync();
    }

    [Fact]
    public async Task HostedServers_RegisterAndDeregisterWithTheHost_AndAHostedClientWatches_WithoutAFailedCall()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        EtcdOptions shared = etcd.Options();
        async Task<IHost> ServerHostAsync(string name)
        {
            HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Services.AddSingleton(new Disco(name));
            builder.Services.AddRpcServer()
                .MapService<IDisco, Disco>(ServiceLifetime.Singleton)
                .AddEtcdRegistration("disco", o =>
                {
                    o.Etcd.Servers.Add(etcd.Url);
                    o.Etcd.Prefix = shared.Prefix;
                    o.TimeToLive = s_ttl;
                    o.Version = "2.0";
                    o.Zone = "z1";
                });
            IHost host = builder.Build();
            await host.StartAsync();
            return host;
        }

        IHost a = await ServerHostAsync("a");
        IHost b = await ServerHostAsync("b");
        HostApplicationBuilder clientBuilder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        clientBuilder.Services.AddRpcClient<IDisco>("disco").UseEtcd("disco", o =>
        {
            o.Servers.Add(etcd.Url);
            o.Prefix = shared.Prefix;
        });
        using IHost clientHost = clientBuilder.Build();
        await clientHost.StartAsync(); // no RpcGen:Clients:disco:Endpoints needed

        IDisco disco = clientHost.Services.GetRequiredService<IDisco>();
        RpcClient client = clientHost.Services.GetRequiredService<RpcGen.Hosting.RpcClientFactory>().GetClient("disco");
        Assert.Contains(await disco.WhoAsync(), new[] { "a", "b" }); // the first call waits for the first read
        Assert.Equal(2, client.Endpoints.Count);
        Assert.All(client.Endpoints, e => Assert.Equal(("z1", "2.0"), (e.Endpoint.Zone, e.Endpoint.Tags["version"])));
        await using var load = new Load(disco, 16);
        await load.MoreAsync(300);

        await a.StopAsync(); // deregistered first, then drained
        a.Dispose();
        await Wait.UntilAsync(() => client.Endpoints.Count == 1);
        await load.MoreAsync(300);
        await load.DisposeAsync();
        Assert.Empty(load.Failures);
        await b.StopAsync();
        b.Dispose();
        await clientHost.StopAsync();
    }

    [Fact]
    public async Task AServerProcessKilledWithSigkill_IsDroppedWhenItsLeaseExpires_WhileCallsFailOverWithoutError()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        EtcdOptions options = etcd.Options();
        string sample = Path.Combine(TestPaths.RepositoryRoot, "sample", "RpcGen.Sample", "bin", "Release", "net10.0", "RpcGen.Sample.dll");
        Assert.True(File.Exists(sample), $"{sample} is missing: build the solution in Release first.");
        var processes = new List<Process>();
        try
        {
            foreach (string name in new[] { "x", "y" })
            {
                var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (string argument in new[] { sample, "serve-etcd", etcd.Url.ToString(), options.Prefix, name })
                {
                    start.ArgumentList.Add(argument);
                }

                Process process = Process.Start(start)!;
                processes.Add(process);
                string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(Wait.NoHang);
                Assert.StartsWith("ready ", line, StringComparison.Ordinal);
            }

            await using EtcdEndpointSource source = await ReadAsync(new EtcdEndpointSource(options, "greet"));
            await Wait.UntilAsync(() => source.Endpoints.Count == 2);
            await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
            ISampleGreeter greeter = client.CreateProxy<ISampleGreeter>();
            var failures = new ConcurrentBag<Exception>();
            var servedBy = new ConcurrentDictionary<string, int>();
            using var stop = new CancellationTokenSource();
            Task[] load = Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        servedBy.AddOrUpdate(await greeter.HelloAsync(), 1, static (_, n) => n + 1);
                    }
                    catch (Exception ex)
                    {
                        failures.Add(ex);
                    }
                }
            })).ToArray();
            await Wait.UntilAsync(() => servedBy.GetValueOrDefault("x") > 200 && servedBy.GetValueOrDefault("y") > 200);

            var killed = Stopwatch.StartNew();
            processes[0].Kill(); // SIGKILL: no deregistration, no goaway, connections reset by the kernel
            await processes[0].WaitForExitAsync();
            await Wait.UntilAsync(() => source.Endpoints.Count == 1);
            TimeSpan toRemoval = killed.Elapsed;
            int yBefore = servedBy.GetValueOrDefault("y");
            await Wait.UntilAsync(() => servedBy.GetValueOrDefault("y") > yBefore + 500);
            stop.Cancel();
            await Task.WhenAll(load);

            output.WriteLine($"kill -9 → removal {toRemoval.TotalMilliseconds:0} ms (TTL 3 s); calls {servedBy.Values.Sum()}, failed {failures.Count}");
            Assert.Empty(failures);
            Assert.True(toRemoval >= TimeSpan.FromSeconds(1.5), $"removed after {toRemoval}: before its lease could expire (renewed every second, 3 s TTL)");
        }
        finally
        {
            foreach (Process process in processes)
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }

                process.Dispose();
            }
        }
    }

    [Fact]
    public async Task BadRecords_AreIgnored_AndOptionsAreChecked()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        EtcdOptions options = etcd.Options();
        using (var http = new HttpClient())
        {
            // etcd's JSON gateway: put a value that is not an endpoint record under the service's prefix.
            string key = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(options.Prefix + "disco/garbage"));
            string value = Convert.ToBase64String("not json"u8.ToArray());
            (await http.PostAsync(new Uri(etcd.Url, "/v3/kv/put"), new StringContent($"{{\"key\":\"{key}\",\"value\":\"{value}\"}}"))).EnsureSuccessStatusCode();
        }

        (RpcServer server, _, EtcdRegistration registration) = await StartServerAsync(etcd, "only");
        await using EtcdEndpointSource source = await ReadAsync(new EtcdEndpointSource(options, "disco"));
        Assert.Equal(server.Endpoints[0].Port, Assert.Single(source.Endpoints).Port);
        await registration.DisposeAsync();
        await server.DisposeAsync();

        Assert.Throws<ArgumentException>(() => new EtcdOptions().Validate());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => EtcdRegistration.RegisterAsync(options, "disco", new[] { new RpcEndpoint("h", 1) }, TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAsync<ArgumentException>(() => EtcdRegistration.RegisterAsync(options, "disco", Array.Empty<RpcEndpoint>()));
    }

    private static async Task<EtcdEndpointSource> ReadAsync(EtcdEndpointSource source)
    {
        await source.WaitForEndpointsAsync().WaitAsync(Wait.NoHang);
        return source;
    }
}
