namespace RpcGen.Tests.Support;

/// <summary>How long a test waits for something that must happen before it calls the wait a hang.</summary>
public static class Wait
{
    public static readonly TimeSpan NoHang = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <see cref="NoHang"/>, naming <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what = "the condition")
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > NoHang)
            {
                throw new TimeoutException($"Waited {NoHang.TotalSeconds:F0} s for {what}.");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>Starts clusters of real servers on 127.0.0.1 (port 0) and clients over them: the one helper for it.</summary>
public static class ServerCluster
{
    /// <summary><paramref name="count"/> servers, each with its own <see cref="Calculator"/> named server-{i}.</summary>
    public static Task<ServerCluster<Calculator>> StartAsync(int count, Action<RpcServerOptions>? configure = null) =>
        StartAsync(count, i => new Calculator($"server-{i}"), static (server, calculator) => server.Map<ICalculator>(calculator), configure);

    /// <summary><paramref name="count"/> servers, each serving the implementation <paramref name="create"/> makes for it.</summary>
    public static async Task<ServerCluster<TService>> StartAsync<TService>(
        int count, Func<int, TService> create, Action<RpcServer, TService> map, Action<RpcServerOptions>? configure = null)
    {
        var cluster = new ServerCluster<TService>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var options = new RpcServerOptions();
                configure?.Invoke(options);
                var server = new RpcServer(options);
                TService service = create(i);
                map(server, service);
                await server.StartAsync();
                cluster.Servers.Add(server);
                cluster.Services.Add(service);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>A client over <paramref name="servers"/> (their first endpoint each).</summary>
    public static RpcClient CreateClient(IEnumerable<RpcServer> servers, Action<RpcClientOptions>? configure = null)
    {
        var options = new RpcClientOptions();
        foreach (RpcServer server in servers)
        {
            options.Endpoints.Add(server.Endpoints[0]);
        }

        configure?.Invoke(options);
        return new RpcClient(options);
    }
}

/// <summary>Real servers on loopback, one service implementation each (index i serves <c>Services[i]</c>).</summary>
public sealed class ServerCluster<TService> : IAsyncDisposable
{
    public List<RpcServer> Servers { get; } = new();

    public List<TService> Services { get; } = new();

    /// <summary>A client over every server of the cluster.</summary>
    public RpcClient CreateClient(Action<RpcClientOptions>? configure = null) => ServerCluster.CreateClient(Servers, configure);

    public async ValueTask DisposeAsync()
    {
        foreach (RpcServer server in Servers)
        {
            await server.DisposeAsync();
        }
    }
}
