using System.Net;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Discovery;

/// <summary>Priority groups with real servers: primaries killed, backups serve, primaries back, traffic returns.</summary>
[Collection(SerialCollection.Name)]
public sealed class PriorityEndToEndTests
{
    private static async Task<(RpcServer Server, Disco Service)> ServeAsync(int port, string name)
    {
        var server = new RpcServer(new RpcServerOptions { Listen = { new IPEndPoint(IPAddress.Loopback, port) } });
        var service = new Disco(name);
        server.Map<IDisco>(service);
        await server.StartAsync();
        return (server, service);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task PrimariesKilled_BackupServes_PrimariesBack_TrafficReturns_WithoutAFailedCall()
    {
        int[] ports = { FreePort(), FreePort(), FreePort() };
        var primaries = new List<(RpcServer Server, Disco Service)> { await ServeAsync(ports[0], "p0"), await ServeAsync(ports[1], "p1") };
        (RpcServer server, Disco service) backup = await ServeAsync(ports[2], "backup");
        var options = new RpcClientOptions
        {
            Endpoints =
            {
                new RpcEndpoint("127.0.0.1", ports[0]),
                new RpcEndpoint("127.0.0.1", ports[1]),
                new RpcEndpoint("127.0.0.1", ports[2]) { Priority = 1 },
            },
        };
        options.Balancing.OutlierDetection.MaxEjectionPercent = 100; // a primary/backup setup may lose a whole group
        options.Balancing.OutlierDetection.BaseEjectionTime = TimeSpan.FromSeconds(1);
        options.Balancing.OutlierDetection.Interval = TimeSpan.FromMilliseconds(200);
        options.Balancing.SlowStart.Window = TimeSpan.Zero;
        options.Connection.ReconnectBackoff = TimeSpan.FromMilliseconds(50);
        options.Connection.MaxReconnectBackoff = TimeSpan.FromMilliseconds(200);
        await using var client = new RpcClient(options);
        IDisco disco = client.CreateProxy<IDisco>();
        var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var servedBy = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource();
        Task[] load = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    servedBy.AddOrUpdate(await disco.WhoAsync(), 1, static (_, n) => n + 1);
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        })).ToArray();

        await Wait.UntilAsync(() => servedBy.GetValueOrDefault("p0") + servedBy.GetValueOrDefault("p1") > 500);
        Assert.Equal(0, servedBy.GetValueOrDefault("backup")); // whole primaries take everything

        foreach ((RpcServer server, _) in primaries)
        {
            await server.DisposeAsync(); // killed: connections drop, ports refuse
        }

        await Wait.UntilAsync(() => client.Endpoints.Take(2).All(e => e.IsEjected));
        int backupBefore = servedBy.GetValueOrDefault("backup");
        await Wait.UntilAsync(() => servedBy.GetValueOrDefault("backup") > backupBefore + 500); // the backup group serves

        primaries = new List<(RpcServer Server, Disco Service)> { await ServeAsync(ports[0], "p0"), await ServeAsync(ports[1], "p1") };
        await Wait.UntilAsync(() => client.Endpoints.Take(2).All(e => !e.IsEjected)); // pinged back in

        // The traffic returns: the backup's count stops moving. On a loaded machine a call or two picked around a
        // primary's readmission can still land on the backup, so "stopped" is: 500 calls to the primaries and none to the
        // backup (a backup that kept a share would never get there, and the wait would time out). Then it must stay put.
        int backupAfterReturn = -1;
        int primaryMark = 0;
        await Wait.UntilAsync(() =>
        {
            int primaryCalls = primaries[0].Service.Calls + primaries[1].Service.Calls;
            if (primaryCalls < primaryMark + 500)
            {
                return false;
            }

            int backupNow = servedBy.GetValueOrDefault("backup");
            bool settled = backupNow == backupAfterReturn;
            (backupAfterReturn, primaryMark) = (backupNow, primaryCalls);
            return settled;
        });
        await Wait.UntilAsync(() => primaries[0].Service.Calls + primaries[1].Service.Calls > primaryMark + 1000);
        stop.Cancel();
        await Task.WhenAll(load);

        Assert.Empty(failures);
        Assert.Equal(backupAfterReturn, servedBy.GetValueOrDefault("backup")); // the traffic returned: none to the backup any more
        foreach ((RpcServer server, _) in primaries)
        {
            await server.DisposeAsync();
        }

        await backup.server.DisposeAsync();
    }
}
