using RpcGen.Tests.Hostile;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Transport;

/// <summary>
/// TCP connections receive on a thread of their own, up to a limit per server and per client; code that holds that
/// thread (a blocking handler, a blocking caller) takes a new receive thread for the connection, and the old one ends.
/// </summary>
public sealed class ReceiveThreadTests
{
    private static RpcGen.Server.Internal.ServerConnection OnlyConnection(RpcServer server) => Assert.Single(server.OpenConnections.Keys);

    [Fact]
    public async Task AHandlerThatBlocksTheReceiveThread_LosesIt_TheConnectionReceivesOn_AndOneThreadIsLeft()
    {
        var obstinate = new Obstinate();
        await using var server = new RpcServer();
        server.Map<IObstinate>(obstinate);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IObstinate proxy = client.CreateProxy<IObstinate>();
        await proxy.TrivialAsync();
        RpcGen.Server.Internal.ServerConnection connection = OnlyConnection(server);
        Assert.True(connection.HasReceiveThread);
        Assert.Equal(1, server.ReceiveThreads.Count);

        // The handler blocks the receive thread itself (it runs inline there): only a new receive thread can read the
        // calls that follow.
        Task<int> blocked = proxy.BlockAsync();
        Assert.True(obstinate.Blocking.Wait(Wait.NoHang));
        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => proxy.TrivialAsync())).WaitAsync(Wait.NoHang);
        Assert.False(blocked.IsCompleted);
        Assert.Equal(1, server.ReceiveThreads.Count); // the connection's thread moved; it did not double

        obstinate.Unblock.Set();
        Assert.Equal(2, await blocked.WaitAsync(Wait.NoHang));
        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => proxy.TrivialAsync())).WaitAsync(Wait.NoHang);
        await Task.Delay(50); // time for the old thread, back from the handler, to do anything it should not
        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => proxy.TrivialAsync())).WaitAsync(Wait.NoHang);
        Assert.Equal(1, server.ReceiveThreads.Count);
        Assert.Same(connection, OnlyConnection(server)); // the same connection throughout: the old thread left it alone

        await client.DisposeAsync();
        await Wait.UntilAsync(() => server.ReceiveThreads.Count == 0, "the receive thread ends with its connection");
    }

    [Fact]
    public async Task APeerThatDropsItsSocket_ClosesTheConnection_AndGivesTheThreadBack()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("server"));
        await server.StartAsync();
        RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
        await Wait.UntilAsync(() => server.OpenConnections.Count == 1, "the server has the connection");
        Assert.True(OnlyConnection(server).HasReceiveThread);

        await raw.DisposeAsync(); // no goodbye: only the end of the socket's bytes says it is gone
        await Wait.UntilAsync(() => server.OpenConnections.IsEmpty, "the server closes the connection");
        Assert.Equal(0, server.ReceiveThreads.Count);
    }

    [Fact]
    public async Task AServer_GivesReceiveThreadsToItsLimit_AndTheOtherConnectionsReceiveAsynchronously()
    {
        var obstinate = new Obstinate();
        await using var server = new RpcServer(new RpcServerOptions { Limits = { MaxReceiveThreads = 1 } });
        server.Map<IObstinate>(obstinate);
        await server.StartAsync();
        var clients = new List<RpcClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, Connection = { MaxReceiveThreads = 0 } });
                clients.Add(client);
                Assert.True(await client.CreateProxy<IObstinate>().TrivialAsync() > 0);
                Assert.Equal(0, client.ReceiveThreads.Count);
            }

            Assert.Equal(1, server.ReceiveThreads.Count);
            Assert.Equal(1, server.OpenConnections.Keys.Count(c => c.HasReceiveThread));
            Assert.Equal(3, server.OpenConnections.Count);
        }
        finally
        {
            foreach (RpcClient client in clients)
            {
                await client.DisposeAsync();
            }
        }

        await Wait.UntilAsync(() => server.ReceiveThreads.Count == 0, "the receive thread ends with its connection");
    }

    [Fact]
    public async Task ACallerThatBlocksTheClientsReceiveThread_LosesIt_AndItsNextCallsStillComeBack()
    {
        await using var server = new RpcServer(new RpcServerOptions { Limits = { MaxReceiveThreads = 0 } });
        server.Map<ICalculator>(new Calculator("server"));
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(3, await calc.AddAsync(1, 2));
        Assert.Equal(1, client.ReceiveThreads.Count);

        // Resumed on the receive thread (off the test framework's context), the caller waits synchronously for another
        // call: its response can only be read by a new receive thread.
        await Task.Run(async () =>
        {
            for (int round = 0; round < 5; round++)
            {
                Assert.Equal(round + 1, await calc.AddAsync(round, 1));
                Assert.Equal(round + 2, calc.AddAsync(round, 2).GetAwaiter().GetResult());
            }
        }).WaitAsync(Wait.NoHang);

        Assert.Equal(1, client.ReceiveThreads.Count);
    }

    [Fact]
    public void MaxReceiveThreads_RefusesANegativeValue_NamingTheSetting()
    {
        var limits = new RpcServerLimits();
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => limits.MaxReceiveThreads = -1);
        Assert.Contains("MaxReceiveThreads", error.Message, StringComparison.Ordinal);
        Assert.Equal(Math.Max(8, 4 * Environment.ProcessorCount), limits.MaxReceiveThreads);

        var options = new RpcClientOptions { Endpoints = { RpcEndpoint.Parse("127.0.0.1:1") }, Connection = { MaxReceiveThreads = -1 } };
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcClient(options));
    }
}
