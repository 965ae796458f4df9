using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RpcGen.Redis;
using RpcGen.Server.Deduplication;
using RpcGen.Sqlite;

namespace RpcGen.Benchmarks;

/// <summary>
/// The load runner's [Deduplicate] servers, one per store with its defaults: memory, file, SQLite (in a temporary
/// directory) and Redis (a redis-server this process starts, without persistence, when Debian's is installed).
/// </summary>
internal sealed class DedupServers : IAsyncDisposable
{
    private readonly List<RpcServer> _servers = new();
    private readonly List<IDeduplicationStore> _stores = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("rpcgen-bench-dedup-").FullName;
    private Process? _redis;

    public List<(string Store, int Port)> Ports { get; } = new();

    public static async Task<DedupServers> StartAsync()
    {
        var servers = new DedupServers();
        await servers.AddAsync("memory", null);
        string directory = servers._directory;
        await servers.AddAsync("file", new FileDeduplicationStore(new FileDeduplicationStoreOptions { Directory = Path.Combine(directory, "file") }));
        var sqlite = new SqliteDeduplicationStoreOptions { Path = Path.Combine(directory, "dedup.db") };
        await servers.AddAsync("sqlite", new SqliteDeduplicationStore(sqlite));
        if (File.Exists("/usr/bin/redis-server"))
        {
            int port = FreePort();
            var start = new ProcessStartInfo("/usr/bin/redis-server", $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no")
            {
                RedirectStandardOutput = true,
            };
            servers._redis = Process.Start(start)!;
            servers._redis.OutputDataReceived += static (_, _) => { };
            servers._redis.BeginOutputReadLine();
            await Task.Delay(300);
            await servers.AddAsync("redis", new RedisDeduplicationStore(new RedisDeduplicationStoreOptions { Configuration = $"127.0.0.1:{port}" }));
        }
        else
        {
            servers.Ports.Add(("redis", 0));
        }

        return servers;
    }

    private async Task AddAsync(string name, IDeduplicationStore? store)
    {
        var options = new RpcServerOptions();
        if (store is not null)
        {
            options.Deduplication.Store = store;
            _stores.Add(store);
        }

        var server = new RpcServer(options);
        server.Map<IDedupBench>(new DedupBench());
        await server.StartAsync();
        _servers.Add(server);
        Ports.Add((name, server.Endpoints[0].Port));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (RpcServer server in _servers)
        {
            await server.DisposeAsync();
        }

        foreach (IDeduplicationStore store in _stores)
        {
            await store.DisposeAsync();
        }

        _redis?.Kill();
        _redis?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
