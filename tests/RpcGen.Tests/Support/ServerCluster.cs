namespace RpcGen.Tests.Support;

/// <summary>Several real servers on 127.0.0.1 (port 0), each with its own <see cref="Calculator"/>.</summary>
public sealed class ServerCluster : IAsyncDisposable
{
    private ServerCluster(List<RpcServer> servers, List<Calculator> calculators)
    {
        Servers = servers;
        Calculators = calculators;
    }

    public List<RpcServer> Servers { get; }

    public List<Calculator> Calculators { get; }

    public static async Task<ServerCluster> StartAsync(int count, Action<RpcServerOptions>? configure = null)
    {
        var servers = new List<RpcServer>();
        var calculators = new List<Calculator>();
        for (int i = 0; i < count; i++)
        {
            var options = new RpcServerOptions();
            configure?.Invoke(options);
            var server = new RpcServer(options);
            var calculator = new Calculator($"server-{i}");
            server.Map<ICalculator>(calculator);
            await server.StartAsync();
            servers.Add(server);
            calculators.Add(calculator);
        }

        return new ServerCluster(servers, calculators);
    }

    public RpcClient CreateClient(Action<RpcClientOptions>? configure = null)
    {
        var options = new RpcClientOptions();
        foreach (RpcServer server in Servers)
        {
            options.Endpoints.Add(server.Endpoints[0]);
        }

        configure?.Invoke(options);
        return new RpcClient(options);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (RpcServer server in Servers)
        {
            await server.DisposeAsync();
        }
    }
}
