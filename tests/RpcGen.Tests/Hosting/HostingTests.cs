using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using RpcGen.Hosting;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Hosting;

[RpcService("greeter")]
public interface IGreeter
{
    Task<string> GreetAsync(string name, CancellationToken cancellationToken = default);

    Task<string> InstanceAsync();

    [Idempotent]
    Task<string> SlowAsync(int milliseconds, CancellationToken cancellationToken = default);

    /// <summary>What DI-registered interceptors and the authenticator left on the call: a header and the user.</summary>
    Task<string> WhoAsync();
}

[RpcService("counter")]
public interface ICounter
{
    Task<int> NextAsync();
}

/// <summary>A scoped dependency that counts how many scopes were disposed.</summary>
public sealed class CallScope : IAsyncDisposable
{
    public static int Disposed;

    public ValueTask DisposeAsync()
    {
        Interlocked.Increment(ref Disposed);
        return default;
    }
}

public sealed class Greeter : IGreeter
{
    private readonly CallScope _scope;
    private readonly ServerIdentity _identity;

    public Greeter(CallScope scope, ServerIdentity identity)
    {
        _scope = scope;
        _identity = identity;
    }

    public Task<string> GreetAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult($"hello {name} from {_identity.Name}");

    public Task<string> InstanceAsync() => Task.FromResult($"{RuntimeHelpersId(this)}/{RuntimeHelpersId(_scope)}");

    public async Task<string> SlowAsync(int milliseconds, CancellationToken cancellationToken = default)
    {
        await Task.Delay(milliseconds, CancellationToken.None); // finishes even when the caller gave up: a drain must wait for it
        return _identity.Name;
    }

    public Task<string> WhoAsync()
    {
        RpcCallContext call = RpcCallContext.Current!;
        return Task.FromResult($"{call.RequestHeaders.GetValue("x-stamp")}|{call.User?.Identity?.Name ?? "anonymous"}");
    }

    private static int RuntimeHelpersId(object o) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(o);
}

public sealed class Counter : ICounter
{
    private int _next;

    public Task<int> NextAsync() => Task.FromResult(Interlocked.Increment(ref _next));
}

public sealed record ServerIdentity(string Name);

/// <summary>A client interceptor from DI that stamps every call with a value of another DI service.</summary>
public sealed class StampInterceptor(ServerIdentity identity) : RpcClientInterceptor
{
    public override ValueTask InterceptCallAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next)
    {
        call.RequestHeaders.Add("x-stamp", "from-" + identity.Name);
        return next(call);
    }
}

/// <summary>A server interceptor from DI that counts the calls it saw.</summary>
public sealed class ServerMark : RpcServerInterceptor
{
    public int Seen;

    public override ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next)
    {
        Interlocked.Increment(ref Seen);
        return next(call);
    }
}

/// <summary>An authenticator from DI: the bearer token names the user.</summary>
public sealed class TokenAuthenticator : IRpcAuthenticator
{
    public ValueTask<System.Security.Claims.ClaimsPrincipal?> AuthenticateAsync(RpcCallContext call, CancellationToken cancellationToken) =>
        new(call.RequestHeaders.GetValue("authorization") is { } value && value.StartsWith("Bearer ", StringComparison.Ordinal)
            ? new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(new[] { new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Name, value[7..]) }, "token"))
            : null);
}

[Collection(SerialCollection.Name)]
public sealed class HostingTests
{
    /// <summary>A host serving IGreeter and ICounter on 127.0.0.1 port 0, its implementations from DI.</summary>
    private static async Task<IHost> StartServerHostAsync(string name, ServiceLifetime lifetime = ServiceLifetime.Scoped, Action<IConfigurationBuilder>? configuration = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        configuration?.Invoke(builder.Configuration);
        builder.Services.AddSingleton(new ServerIdentity(name));
        builder.Services.AddScoped<CallScope>();
        builder.Services.AddHealthChecks().AddRpcHealthChecks();
        builder.Services.AddRpcServer(o => o.Listen.Add(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)))
            .MapService<IGreeter, Greeter>(lifetime)
            .MapService<ICounter, Counter>(ServiceLifetime.Singleton);
        IHost host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static string Address(IHost host) => host.Services.GetRequiredService<RpcServerHost>().Server!.Endpoints[0].ToString();

    private static IHost ClientHost(IConfigurationRoot configuration, Action<IServiceCollection>? services = null, ILoggerProvider? logs = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(configuration);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddRpcClient<IGreeter>("backend").AddService<ICounter>();
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    [Fact]
    public async Task Clients_OfOneName_ShareOneRpcClient_AndProxiesResolveByInterface()
    {
        await using var server = new AsyncHost(await StartServerHostAsync("a"));
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Clients:backend:Endpoints:0"] = Address(server.Host),
        }).Build();
        using IHost client = ClientHost(configuration);
        await client.StartAsync();

        var greeter = client.Services.GetRequiredService<IGreeter>();
        var counter = client.Services.GetRequiredService<ICounter>();
        Assert.Equal("hello ada from a", await greeter.GreetAsync("ada"));
        Assert.Equal(1, await counter.NextAsync());
        Assert.Equal(2, await counter.NextAsync()); // a singleton implementation keeps its state

        RpcClientFactory factory = client.Services.GetRequiredService<RpcClientFactory>();
        RpcClient shared = factory.GetClient("backend");
        Assert.Same(shared, factory.GetClient("backend"));
        Assert.Same(greeter, shared.CreateProxy<IGreeter>());
        Assert.Same(counter, shared.CreateProxy<ICounter>());
        Assert.Single(shared.Endpoints); // one connection set for both interfaces
        await client.StopAsync();
    }

    [Fact]
    public async Task AddRpcClient_WithoutAName_UsesTheServiceName_AndCodeConfiguration()
    {
        await using var server = new AsyncHost(await StartServerHostAsync("b"));
        var services = new ServiceCollection();
        services.AddRpcClient<IGreeter>(o => o.Endpoints.Add(RpcEndpoint.Parse(Address(server.Host))));
        await using ServiceProvider provider = services.BuildServiceProvider();
        Assert.Equal("hello bo from b", await provider.GetRequiredService<IGreeter>().GreetAsync("bo"));
        // The client registered without a name is the one named after the service, with the code's endpoint.
        RpcClient client = provider.GetRequiredService<RpcClientFactory>().GetClient("greeter");
        Assert.Equal("greeter", client.Options.Name);
        Assert.Equal(Address(server.Host), Assert.Single(client.Endpoints).Endpoint.ToString());
    }

    [Fact]
    public async Task ScopedImplementations_GetAScopePerCall_DisposedAfterIt_SingletonsOneInstance()
    {
        await using var scoped = new AsyncHost(await StartServerHostAsync("s"));
        await using var single = new AsyncHost(await StartServerHostAsync("t", ServiceLifetime.Singleton));
        var services = new ServiceCollection();
        services.AddRpcClient<IGreeter>("scoped", o => o.Endpoints.Add(RpcEndpoint.Parse(Address(scoped.Host))));
        services.AddRpcClient<IGreeter>("single", o => o.Endpoints.Add(RpcEndpoint.Parse(Address(single.Host))));
        await using ServiceProvider provider = services.BuildServiceProvider();
        RpcClientFactory factory = provider.GetRequiredService<RpcClientFactory>();

        int before = Volatile.Read(ref CallScope.Disposed);
        var seen = new HashSet<string>();
        for (int i = 0; i < 20; i++)
        {
            seen.Add(await factory.CreateProxy<IGreeter>("scoped").InstanceAsync());
        }

        Assert.Equal(20, seen.Count); // a new implementation and a new scoped dependency every call
        await Wait.UntilAsync(() => Volatile.Read(ref CallScope.Disposed) - before >= 20);

        var singles = new HashSet<string>();
        for (int i = 0; i < 5; i++)
        {
            singles.Add((await factory.CreateProxy<IGreeter>("single").InstanceAsync()).Split('/')[0]);
        }

        Assert.Single(singles);
    }

    [Fact]
    public async Task InvalidClientConfiguration_FailsHostStart_NamingTheKey()
    {
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Clients:backend:Endpoints:0"] = "127.0.0.1:5000",
            ["RpcGen:Clients:backend:Balancing:Bogus"] = "1",
        }).Build();
        using IHost host = ClientHost(configuration);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        string message = error is AggregateException aggregate ? string.Join(" | ", aggregate.InnerExceptions.Select(e => e.Message)) : error.Message;
        Assert.Contains("RpcGen:Clients:backend", message, StringComparison.Ordinal);
        Assert.Contains("Bogus", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientWithoutEndpoints_FailsHostStart_SayingWhatIsMissing()
    {
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        using IHost host = ClientHost(configuration);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("RpcGen:Clients:backend", error.Message, StringComparison.Ordinal);
        Assert.Contains("Endpoints is empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidServerConfiguration_FailsHostStart_NamingTheKey()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartServerHostAsync("x", configuration: c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Server:MaxConnectionz"] = "5",
        })));
        Assert.Contains("RpcGen:Server", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxConnectionz", error.Message, StringComparison.Ordinal);

        var listen = await Assert.ThrowsAnyAsync<Exception>(() => StartServerHostAsync("y", configuration: c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Server:Listen:0"] = "nowhere",
        })));
        Assert.Contains("RpcGen:Server:Listen:0", listen.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerOptions_FromConfiguration_ListenAndLimits()
    {
        await using var server = new AsyncHost(await StartServerHostAsync("c", configuration: c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Server:Listen:0"] = "127.0.0.1:0",
            ["RpcGen:Server:Limits:MaxConcurrentCallsPerConnection"] = "7",
            ["RpcGen:Server:Limits:IdleTimeout"] = "00:00:42",
            ["RpcGen:Server:Limits:MaxConcurrentCalls"] = "", // empty: null, no limit
            ["RpcGen:Server:Deduplication:Window"] = "01:00:00",
        })));
        RpcServer running = server.Host.Services.GetRequiredService<RpcServerHost>().Server!;
        Assert.Equal(7, running.Options.Limits.MaxConcurrentCallsPerConnection);
        Assert.Equal(TimeSpan.FromSeconds(42), running.Options.Limits.IdleTimeout);
        Assert.Null(running.Options.Limits.MaxConcurrentCalls);
        Assert.Equal(TimeSpan.FromHours(1), running.Options.Deduplication.Window);
        Assert.Equal(2, running.Endpoints.Count); // the configured address and the one added in code
    }

    [Fact]
    public async Task LiveReload_MovesCallsToNewEndpoints_WithoutAFailedCall()
    {
        await using var a = new AsyncHost(await StartServerHostAsync("a"));
        await using var b = new AsyncHost(await StartServerHostAsync("b"));
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Clients:backend:Endpoints:0"] = Address(a.Host),
        }).Build();
        using IHost client = ClientHost(configuration);
        await client.StartAsync();
        var greeter = client.Services.GetRequiredService<IGreeter>();

        var servedBy = new ConcurrentDictionary<string, int>();
        var failures = new ConcurrentBag<Exception>();
        using var stop = new CancellationTokenSource();
        async Task LoadAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    string reply = await greeter.GreetAsync("x");
                    servedBy.AddOrUpdate(reply[^1..], 1, static (_, n) => n + 1);
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        }

        Task[] load = Enumerable.Range(0, 8).Select(_ => Task.Run(LoadAsync)).ToArray();
        await Wait.UntilAsync(() => servedBy.GetValueOrDefault("a") > 50);

        configuration["RpcGen:Clients:backend:Endpoints:0"] = Address(b.Host); // a is replaced by b
        configuration.Reload();
        await Wait.UntilAsync(() => servedBy.GetValueOrDefault("b") > 50);
        int aAfterSwitch = servedBy.GetValueOrDefault("a");
        await Wait.UntilAsync(() => servedBy.GetValueOrDefault("b") > 200);
        stop.Cancel();
        await Task.WhenAll(load);

        Assert.Empty(failures);
        Assert.Equal(aAfterSwitch, servedBy.GetValueOrDefault("a")); // nothing went to the removed endpoint after the switch
        RpcClient shared = client.Services.GetRequiredService<RpcClientFactory>().GetClient("backend");
        Assert.Equal(Address(b.Host), Assert.Single(shared.Endpoints).Endpoint.ToString());
    }

    [Fact]
    public async Task LiveReload_OfAPolicyOverride_AppliesToLaterCalls_AndABadReloadIsLoggedAndIgnored()
    {
        await using var server = new AsyncHost(await StartServerHostAsync("p"));
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RpcGen:Clients:backend:Endpoints:0"] = Address(server.Host),
        }).Build();
        var logs = new FakeLoggerProvider();
        using IHost client = ClientHost(configuration, logs: logs);
        await client.StartAsync();
        var greeter = client.Services.GetRequiredService<IGreeter>();
        Assert.Equal("p", await greeter.SlowAsync(300)); // no deadline of its own: it finishes

        configuration["RpcGen:Clients:backend:Resilience:Policies:greeter/Slow:TimeoutMs"] = "50";
        configuration.Reload();
        var deadline = await Assert.ThrowsAsync<RpcException>(() => greeter.SlowAsync(300));
        Assert.Equal(RpcStatusCode.DeadlineExceeded, deadline.StatusCode);

        configuration["RpcGen:Clients:backend:Resilience:Policies:greeter/Slow:TimeoutMs"] = "-5"; // invalid: refused, logged
        configuration.Reload();
        Assert.Contains(logs.Collector.GetSnapshot(), r => r.Id.Id == 5002 && r.Exception!.Message.Contains("TimeoutMs", StringComparison.Ordinal));
        deadline = await Assert.ThrowsAsync<RpcException>(() => greeter.SlowAsync(300)); // still the 50 ms of the last good reload
        Assert.Equal(RpcStatusCode.DeadlineExceeded, deadline.StatusCode);

        configuration["RpcGen:Clients:backend:Resilience:Policies:greeter/Slow:TimeoutMs"] = "0"; // no deadline again
        configuration.Reload();
        Assert.Equal("p", await greeter.SlowAsync(300));
    }

    [Fact]
    public async Task HostStop_DrainsCallsInFlight_AndClientsMoveToTheOtherServer_WithoutAFailedCall()
    {
        IHost a = await StartServerHostAsync("a");
        await using var b = new AsyncHost(await StartServerHostAsync("b"));
        var services = new ServiceCollection();
        services.AddRpcClient<IGreeter>("pair", o =>
        {
            o.Endpoints.Add(RpcEndpoint.Parse(Address(a)));
            o.Endpoints.Add(RpcEndpoint.Parse(Address(b.Host)));
        });
        await using ServiceProvider provider = services.BuildServiceProvider();
        var greeter = provider.GetRequiredService<IGreeter>();

        var failures = new ConcurrentBag<Exception>();
        int completed = 0;
        using var stop = new CancellationTokenSource();
        async Task LoadAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await greeter.SlowAsync(20);
                    Interlocked.Increment(ref completed);
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        }

        Task[] load = Enumerable.Range(0, 16).Select(_ => Task.Run(LoadAsync)).ToArray();
        await Wait.UntilAsync(() => Volatile.Read(ref completed) > 100);
        RpcServer serverA = a.Services.GetRequiredService<RpcServerHost>().Server!;
        HealthReport before = await a.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, before.Entries["rpcgen-server"].Status);

        Task stopping = a.StopAsync(TimeSpan.FromSeconds(20) is var t ? new CancellationTokenSource(t).Token : default);
        HealthReport draining = await a.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, draining.Entries["rpcgen-server"].Status); // readiness flips as the drain begins
        await stopping;
        Assert.Equal(0, serverA.InFlight);
        int atStop = Volatile.Read(ref completed);
        await Wait.UntilAsync(() => Volatile.Read(ref completed) > atStop + 100);
        stop.Cancel();
        await Task.WhenAll(load);
        a.Dispose();

        Assert.Empty(failures);
    }

    [Fact]
    public async Task ClientHealth_IsDegradedWhenAnEndpointIsEjected()
    {
        await using var a = new AsyncHost(await StartServerHostAsync("a"));
        IHost b = await StartServerHostAsync("b");
        string deadAddress = Address(b);
        await b.StopAsync();
        b.Dispose();

        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddHealthChecks().AddRpcHealthChecks();
        builder.Services.AddRpcClient<IGreeter>("pair", o =>
        {
            o.Endpoints.Add(RpcEndpoint.Parse(Address(a.Host)));
            o.Endpoints.Add(RpcEndpoint.Parse(deadAddress));
            o.Balancing.OutlierDetection.ConsecutiveFailures = 1;
        });
        using IHost client = builder.Build();
        await client.StartAsync();
        var health = client.Services.GetRequiredService<HealthCheckService>();
        var greeter = client.Services.GetRequiredService<IGreeter>();
        await greeter.GreetAsync("first"); // creates the client; the dead endpoint is skipped or retried transparently
        await Wait.UntilAsync(() =>
        {
            _ = greeter.GreetAsync("again").ContinueWith(static _ => { }, TaskScheduler.Default);
            return client.Services.GetRequiredService<RpcClientFactory>().GetClient("pair").Endpoints.Any(e => e.IsEjected);
        });
        HealthReport report = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Degraded, report.Entries["rpcgen-clients"].Status);
        Assert.Contains("pair", report.Entries["rpcgen-clients"].Description, StringComparison.Ordinal);
        await client.StopAsync();
    }

    [Fact]
    public async Task InterceptorsCredentialsAndAuthenticator_ComeFromDI()
    {
        HostApplicationBuilder serverBuilder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        serverBuilder.Services.AddSingleton(new ServerIdentity("srv"));
        serverBuilder.Services.AddScoped<CallScope>();
        serverBuilder.Services.AddRpcServer()
            .MapService<IGreeter, Greeter>()
            .AddInterceptor<ServerMark>()
            .AddAuthenticator<TokenAuthenticator>();
        using IHost server = serverBuilder.Build();
        await server.StartAsync();

        var services = new ServiceCollection();
        services.AddSingleton(new ServerIdentity("cli"));
        services.AddRpcClient<IGreeter>("secured", o => o.Endpoints.Add(RpcEndpoint.Parse(Address(server))))
            .AddInterceptor<StampInterceptor>()
            .AddCredentials(provider => RpcCallCredentials.BearerToken(_ => new ValueTask<string>("ada-" + provider.GetRequiredService<ServerIdentity>().Name)))
            .ConfigureOptions(o => o.AllowCredentialsOverPlainText = true); // loopback in a test; TLS in production
        await using ServiceProvider provider = services.BuildServiceProvider();

        Assert.Equal("from-cli|ada-cli", await provider.GetRequiredService<IGreeter>().WhoAsync());
        Assert.Equal(1, server.Services.GetRequiredService<ServerMark>().Seen);
        Assert.Same(server.Services.GetRequiredService<ServerMark>(), server.Services.GetRequiredService<RpcServerHost>().Server!.Options.Interceptors.Single());
        await server.StopAsync();
        server.Dispose();
    }

    [Fact]
    public async Task ServiceDiscovery_FromConfiguration_FeedsTheClient_AndFollowsItsChanges()
    {
        await using var a = new AsyncHost(await StartServerHostAsync("a"));
        await using var b = new AsyncHost(await StartServerHostAsync("b"));
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Services:greeter:rpc:0"] = Address(a.Host), // Aspire's layout: Services:{service}:{endpoint name}
        }).Build();
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(configuration);
        builder.Services.AddRpcClient<IGreeter>("discovered").UseServiceDiscovery("rpc://greeter");
        using IHost client = builder.Build();
        await client.StartAsync(); // validation passes without RpcGen:Clients:discovered:Endpoints

        IGreeter greeter = client.Services.GetRequiredService<IGreeter>();
        Assert.Equal("hello x from a", await greeter.GreetAsync("x"));

        configuration["Services:greeter:rpc:0"] = Address(b.Host);
        configuration.Reload();
        await Wait.UntilAsync(() => greeter.GreetAsync("x").GetAwaiter().GetResult() == "hello x from b");
        RpcClient shared = client.Services.GetRequiredService<RpcClientFactory>().GetClient("discovered");
        await Wait.UntilAsync(() => shared.Endpoints.Count == 1);
        Assert.Equal(Address(b.Host), shared.Endpoints[0].Endpoint.ToString());
        await client.StopAsync();
    }

    [Fact]
    public void TheJsonExamplesOfHostingMd_Bind()
    {
        string text = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "docs", "hosting.md"));
        string[] blocks = System.Text.RegularExpressions.Regex.Matches(text, "```json\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(2, blocks.Length);
        int bound = 0;
        foreach (string json in blocks)
        {
            IConfigurationRoot configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build();
            foreach (IConfigurationSection client in configuration.GetSection("RpcGen:Clients").GetChildren())
            {
                RpcClientOptions options = new RpcClientOptions().ApplyConfiguration(client);
                options.Validate();
                Assert.NotEmpty(options.Endpoints);
                bound++;
            }

            IConfigurationSection server = configuration.GetSection("RpcGen:Server");
            if (server.Exists())
            {
                // The certificate files of the example do not exist here: the TLS part must fail naming its key, the rest bind.
                var error = Assert.Throws<ArgumentException>(() => new RpcServerOptions().ApplyConfiguration(server));
                Assert.Contains("RpcGen:Server:Tls:CertificatePath", error.Message, StringComparison.Ordinal);
                var withoutTls = new ConfigurationBuilder().AddInMemoryCollection(server.AsEnumerable(makePathsRelative: true)
                    .Where(e => !e.Key.StartsWith("Tls", StringComparison.Ordinal))).Build();
                RpcServerOptions options = new RpcServerOptions().ApplyConfiguration(withoutTls);
                Assert.Equal(10000, options.Limits.MaxConcurrentCalls);
                bound++;
            }
        }

        Assert.Equal(2, bound);
    }

    /// <summary>Stops and disposes a host at the end of a test.</summary>
    private sealed class AsyncHost : IAsyncDisposable
    {
        public AsyncHost(IHost host) => Host = host;

        public IHost Host { get; }

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync(TimeSpan.FromSeconds(10) is var t ? new CancellationTokenSource(t).Token : default);
            Host.Dispose();
        }
    }
}
