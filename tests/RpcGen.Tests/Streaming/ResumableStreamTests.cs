using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Streaming;

/// <summary>[Resumable] streams: a break after the first item is invisible to the caller; every position once, in order.</summary>
public sealed class ResumableStreamTests
{
    [Fact]
    public async Task ConnectionResetMidStream_IsResumedFromTheLastPositionRead_EveryPositionOnceInOrder()
    {
        var events = new Events { Burst = 100 };
        await using Behind<IEvents> behind = await Behind<IEvents>.StartAsync(events);
        (FaultProxy proxy, RpcClient client) = (behind.Proxy, behind.Client);
        IEvents feed = client.CreateProxy<IEvents>();

        var offsets = new List<long>();
        await foreach (Event e in feed.TailAsync("orders", null, 1000))
        {
            offsets.Add(e.Offset);
            Assert.Equal("orders#" + e.Offset, e.Text);
            if (offsets.Count % 100 == 0 && offsets.Count < 1000)
            {
                proxy.ResetAll(); // the handler has sent its burst of 100 and waits: the connection breaks under the stream
            }
        }

        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), offsets);
        Assert.True(events.Calls >= 10, $"{events.Calls} calls");
        Assert.Equal(new long?[] { null, 100, 200, 300, 400, 500, 600, 700, 800, 900 }, events.ResumedFrom.Take(10));
    }

    [Fact]
    public async Task AServerThatResendsPositionsAlreadyRead_StillDeliversEachPositionOnce()
    {
        var events = new Events { Burst = 50, Overlap = 20 };
        await using Behind<IEvents> behind = await Behind<IEvents>.StartAsync(events);
        (FaultProxy proxy, RpcClient client) = (behind.Proxy, behind.Client);

        var offsets = new List<long>();
        await foreach (Event e in client.CreateProxy<IEvents>().TailAsync("t", null, 200))
        {
            offsets.Add(e.Offset);
            if (offsets.Count % 30 == 0 && offsets.Count < 200)
            {
                proxy.ResetAll();
            }
        }

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), offsets);
    }

    [Fact]
    public async Task APositionTheServerNoLongerHolds_EndsTheStreamWithOutOfRange()
    {
        var events = new Events { Burst = 10 };
        await using Behind<IEvents> behind = await Behind<IEvents>.StartAsync(events);
        (FaultProxy proxy, RpcClient client) = (behind.Proxy, behind.Client);
        IEvents feed = client.CreateProxy<IEvents>();

        var offsets = new List<long>();
        RpcException gone = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (Event e in feed.TailAsync("orders", null, 100))
            {
                offsets.Add(e.Offset);
                if (offsets.Count == 10)
                {
                    events.Retained = 50; // the log dropped what the caller would resume from
                    proxy.ResetAll();
                }
            }
        });

        Assert.Equal(RpcStatusCode.OutOfRange, gone.StatusCode);
        Assert.Contains("position 11 of 'orders' is no longer held", gone.Message, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), offsets);
    }

    [Fact]
    public async Task APlainStream_EndsWithUnavailableWhenItsConnectionBreaks()
    {
        var prices = new Prices();
        await using Behind<IPrices> behind = await Behind<IPrices>.StartAsync(prices);
        (FaultProxy proxy, RpcClient client) = (behind.Proxy, behind.Client);

        RpcException lost = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (int i in client.CreateProxy<IPrices>().HangAsync())
            {
                proxy.ResetAll();
            }
        });

        Assert.Equal(RpcStatusCode.Unavailable, lost.StatusCode);
    }

    /// <summary>A server of <typeparamref name="TService"/> behind a proxy that can reset its connections, and a client through it.</summary>
    private sealed class Behind<TService> : IAsyncDisposable
        where TService : class
    {
        private Behind(RpcServer server, FaultProxy proxy, RpcClient client) => (Server, Proxy, Client) = (server, proxy, client);

        public RpcServer Server { get; }

        public FaultProxy Proxy { get; }

        public RpcClient Client { get; }

        public static async Task<Behind<TService>> StartAsync(TService service)
        {
            var server = new RpcServer(new RpcServerOptions());
            server.Map(service);
            await server.StartAsync();
            FaultProxy proxy = FaultProxy.Start(server.Endpoints[0]);
            return new Behind<TService>(server, proxy, new RpcClient(new RpcClientOptions { Endpoints = { proxy.Endpoint } }));
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Proxy.DisposeAsync();
            await Server.DisposeAsync();
        }
    }
}
