// The etcd variant (dotnet run --project sample/RpcGen.Sample -c Release -- etcd): starts a throwaway etcd when one is
// installed (Debian: apt-get install etcd-server), then servers register themselves while a client keeps calling:
// two start, a third joins, one leaves gracefully, one is killed; the client's calls never fail.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RpcGen;
using RpcGen.Client;
using RpcGen.Etcd;
using RpcGen.Server;

namespace Sample.Discovery;

[RpcService("greet")]
public interface IGreeter
{
    [Idempotent, Retry(MaxAttempts = 3)]
    Task<string> HelloAsync(CancellationToken ct = default);
}

public sealed class Greeter(string name) : IGreeter
{
    public Task<string> HelloAsync(CancellationToken ct = default) => Task.FromResult(name);
}

public static class EtcdSample
{
    public static async Task<int> RunAsync()
    {
        string? binary = new[] { "/usr/bin/etcd", "/usr/local/bin/etcd" }.FirstOrDefault(File.Exists);
        if (binary is null)
        {
            Console.WriteLine("etcd: not installed here (Debian: apt-get install etcd-server); the static-list sample needs nothing.");
            return 0;
        }

        string data = Path.Combine(Path.GetTempPath(), "rpcgen-sample-etcd-" + Guid.NewGuid().ToString("n"));
        int clientPort = FreePort(), peerPort = FreePort();
        using Process etcd = Process.Start(new ProcessStartInfo(binary, new[]
        {
            "--data-dir", data, "--listen-client-urls", $"http://127.0.0.1:{clientPort}", "--advertise-client-urls", $"http://127.0.0.1:{clientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{peerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peerPort}",
            "--initial-cluster", $"default=http://127.0.0.1:{peerPort}", "--log-level", "error",
        }) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        etcd.BeginErrorReadLine();
        etcd.BeginOutputReadLine();
        try
        {
            var options = new EtcdOptions { Servers = { new Uri($"http://127.0.0.1:{clientPort}") } };
            var servers = new Dictionary<string, (RpcServer Server, EtcdRegistration Registration)>();
            async Task JoinAsync(string name)
            {
                var server = new RpcServer();
                server.Map<IGreeter>(new Greeter(name));
                await server.StartAsync();
                servers[name] = (server, await RegisterWithRetryAsync(options, server));
                Console.WriteLine($"etcd: {name} registered {server.Endpoints[0]}");
            }

            await JoinAsync("server-1");
            await JoinAsync("server-2");
            await using var source = new EtcdEndpointSource(options, "greet"); // the first calls wait for its first read
            await using var client = new RpcClient(new RpcClientOptions { EndpointSource = source });
            IGreeter greeter = client.CreateProxy<IGreeter>();

            var answeredBy = new Dictionary<string, int>();
            int failed = 0;
            async Task CallAsync(string phase, int calls)
            {
                answeredBy.Clear();
                for (int i = 0; i < calls; i++)
                {
                    try
                    {
                        string name = await greeter.HelloAsync();
                        answeredBy[name] = answeredBy.GetValueOrDefault(name) + 1;
                    }
                    catch (RpcException)
                    {
                        failed++;
                    }

                    await Task.Delay(2);
                }

                Console.WriteLine($"etcd: {phase,-28} {string.Join(", ", answeredBy.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}");
            }

            await CallAsync("two servers", 200);
            await JoinAsync("server-3");
            await Task.Delay(200);
            await CallAsync("server-3 joined", 300);

            await servers["server-1"].Registration.DeregisterAsync(); // graceful: leave the registry, then drain
            await servers["server-1"].Server.StopAsync();
            Console.WriteLine("etcd: server-1 deregistered and drained");
            await CallAsync("server-1 left", 300);

            await servers["server-2"].Registration.AbandonAsync(); // killed: its lease expires on its own
            await servers["server-2"].Server.DisposeAsync();
            var killed = Stopwatch.StartNew();
            await CallAsync("server-2 killed (lease ticking)", 100);
            while (client.Endpoints.Count > 1 && killed.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(50);
            }

            Console.WriteLine($"etcd: server-2 dropped by the client {killed.Elapsed.TotalSeconds:0.0} s after it died (lease TTL 5 s)");
            await CallAsync("after the lease expired", 200);
            Console.WriteLine($"etcd: failed calls: {failed}");
            bool asDocumented = failed == 0 && client.Endpoints.Count == 1;
            foreach ((RpcServer server, EtcdRegistration registration) in servers.Values)
            {
                await registration.DisposeAsync();
                await server.DisposeAsync();
            }

            return asDocumented ? 0 : 1;
        }
        finally
        {
            etcd.Kill(entireProcessTree: true);
            await etcd.WaitForExitAsync();
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // Left for the OS to clean.
            }
        }
    }

    /// <summary>
    /// One server in its own process (<c>-- serve-etcd {etcd url} {prefix} {name}</c>): registers as <c>greet</c> with a
    /// 3 s lease, prints <c>ready {port}</c> and serves until the process is killed (the discovery tests kill -9 it).
    /// </summary>
    public static async Task<int> ServeAsync(string etcdUrl, string prefix, string name)
    {
        var options = new EtcdOptions { Servers = { new Uri(etcdUrl) }, Prefix = prefix };
        var server = new RpcServer();
        server.Map<IGreeter>(new Greeter(name));
        await server.StartAsync();
        await using EtcdRegistration registration = await EtcdRegistration.RegisterAsync(options, "greet", server.Endpoints, TimeSpan.FromSeconds(3));
        Console.WriteLine($"ready {server.Endpoints[0].Port}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    /// <summary>etcd takes a moment to elect itself leader after it starts.</summary>
    private static async Task<EtcdRegistration> RegisterWithRetryAsync(EtcdOptions options, RpcServer server)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await EtcdRegistration.RegisterAsync(options, "greet", server.Endpoints);
            }
            catch (Exception) when (attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
