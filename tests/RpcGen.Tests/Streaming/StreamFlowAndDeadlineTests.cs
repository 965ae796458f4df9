using System.Runtime.CompilerServices;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Streaming;

/// <summary>Flow control (a reader that stops, a handler that does not read), stream deadlines, cancellation and limits.</summary>
public sealed class StreamFlowAndDeadlineTests
{
    private static async Task<(RpcServer Server, RpcClient Client)> StartAsync<TService>(TService service, Action<RpcServerOptions>? server = null)
        where TService : class
    {
        var serverOptions = new RpcServerOptions();
        server?.Invoke(serverOptions);
        var rpcServer = new RpcServer(serverOptions);
        if (service is Prices prices)
        {
            rpcServer.Map<IPrices>(prices);
        }
        else
        {
            rpcServer.Map<IStreamLimits>((StreamLimits)(object)service);
        }

        await rpcServer.StartAsync();
        var clientOptions = new RpcClientOptions();
        clientOptions.Endpoints.Add(rpcServer.Endpoints[0]);
        return (rpcServer, new RpcClient(clientOptions));
    }

    [Fact]
    public async Task ReaderThatStops_HoldsTheHandlerToTheWindow_WhileOtherStreamsOnTheConnectionFlow()
    {
        var service = new Prices();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            await using IAsyncEnumerator<Tick> endless = prices.WatchAsync("A", -1).GetAsyncEnumerator();
            Assert.True(await endless.MoveNextAsync()); // then stop reading

            // The window is 64 items: the server sends that many, the handler holds one more in hand, and waits.
            await Wait.UntilAsync(() => service.Produced >= 65, "the handler to fill the reader's window");
            await Task.Delay(300);
            Assert.Equal(65, service.Produced);

            // The connection is not blocked: another stream on it runs to its end.
            int others = 0;
            await foreach (Tick tick in prices.WatchAsync("B", 500))
            {
                others++;
            }

            Assert.Equal(500, others);
            Assert.Equal(565, service.Produced);

            // Reading again lets the handler go on: half a window read gives the credit back.
            for (int i = 0; i < 40; i++)
            {
                Assert.True(await endless.MoveNextAsync());
            }

            Assert.Equal(41, endless.Current.Sequence);
            await Wait.UntilAsync(() => service.Produced >= 565 + 32, "the handler to resume after credit");
            await Task.Delay(300);
            Assert.Equal(565 + 32, service.Produced); // 32 read, 32 more granted: the handler is held again
        }
    }

    [Fact]
    public async Task HandlerThatDoesNotRead_HoldsTheCallersSourceToTheServersWindow()
    {
        var service = new StreamLimits();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IStreamLimits limits = client.CreateProxy<IStreamLimits>();
            int taken = 0;
            async IAsyncEnumerable<int> Source()
            {
                for (int i = 0; i < 1000; i++)
                {
                    Interlocked.Increment(ref taken);
                    yield return i;
                    await Task.Yield();
                }
            }

            Task<int> upload = limits.GatedAsync(Source());
            await Wait.UntilAsync(() => Volatile.Read(ref taken) >= 9, "the caller to send the server's window");
            await Task.Delay(300);
            Assert.Equal(9, Volatile.Read(ref taken)); // [Streaming(WindowItems = 8)]: 8 sent, one in hand
            Assert.False(upload.IsCompleted);

            service.Gate.SetResult();
            Assert.Equal(1000, await upload.WaitAsync(Wait.NoHang));
        }
    }

    [Fact]
    public async Task Timeout_BoundsTheFirstItem_NotTheWholeStream()
    {
        var service = new StreamLimits();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IStreamLimits limits = client.CreateProxy<IStreamLimits>();

            // [Timeout(1000)]: 12 items 250 ms apart take 3 s, three times the timeout, and all arrive.
            var items = new List<int>();
            await foreach (int i in limits.SlowAsync(12, 10, 250))
            {
                items.Add(i);
            }

            Assert.Equal(Enumerable.Range(1, 12), items);

            // A first item later than the timeout ends the stream with DeadlineExceeded, and the handler is told.
            RpcException late = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (int i in limits.SlowAsync(3, 5_000, 10))
                {
                }
            });
            Assert.Equal(RpcStatusCode.DeadlineExceeded, late.StatusCode);
            Assert.Contains("passed its timeout of 1000 ms: no item arrived", late.Message, StringComparison.Ordinal);
            await service.HandlerCancelled.Task.WaitAsync(Wait.NoHang);
        }
    }

    [Fact]
    public async Task IdleTimeout_BoundsTheGapBetweenItems()
    {
        var service = new StreamLimits();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IStreamLimits limits = client.CreateProxy<IStreamLimits>();
            var items = new List<int>();
            RpcException idle = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (int i in limits.IdleAsync(5, 10, 2_000))
                {
                    items.Add(i);
                }
            });

            Assert.Equal(new[] { 1 }, items);
            Assert.Equal(RpcStatusCode.DeadlineExceeded, idle.StatusCode);
            Assert.Contains("for 500 ms, its idle timeout", idle.Message, StringComparison.Ordinal);
            await service.HandlerCancelled.Task.WaitAsync(Wait.NoHang);

            // Gaps under the idle timeout go on for as long as the stream lasts.
            int count = 0;
            await foreach (int i in limits.IdleAsync(10, 10, 100))
            {
                count++;
            }

            Assert.Equal(10, count);
        }
    }

    [Fact]
    public async Task TimeoutCoversWholeStream_EndsALongStreamAtItsDeadline()
    {
        var service = new StreamLimits();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IStreamLimits limits = client.CreateProxy<IStreamLimits>();
            int count = 0;
            RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (int i in limits.BoundedAsync(100, 10, 100))
                {
                    count++;
                }
            });

            Assert.Equal(RpcStatusCode.DeadlineExceeded, error.StatusCode);
            Assert.InRange(count, 1, 99);
        }
    }

    [Fact]
    public async Task IdleTimeout_BoundsTheHandlersWaitForTheCallersNextItem()
    {
        var service = new StreamLimits();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IStreamLimits limits = client.CreateProxy<IStreamLimits>();
            var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            async IAsyncEnumerable<int> SilentAfterTwo([EnumeratorCancellation] CancellationToken ct = default)
            {
                yield return 1;
                yield return 2;
                try
                {
                    await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false); // alive, connected, and silent
                }
                finally
                {
                    stopped.TrySetResult();
                }
            }

            RpcException idle = await Assert.ThrowsAsync<RpcException>(() => limits.CountIdleAsync(SilentAfterTwo()).WaitAsync(Wait.NoHang));
            Assert.Equal(RpcStatusCode.DeadlineExceeded, idle.StatusCode);
            Assert.Contains("No item of the stream sent to 'stream-limits/CountIdle' arrived for 1000 ms", idle.Message, StringComparison.Ordinal);
            await stopped.Task.WaitAsync(Wait.NoHang); // the caller's source is stopped, not left waiting
            await Wait.UntilAsync(() => server.InFlight == 0, "the call to end on the server");

            // Items that keep coming within the idle timeout (100 ms apart) go on for longer than it (1.2 s in all). The
            // source leaves the test framework's context: its two threads, shared with every test running beside this one,
            // once held an item back past the 1 s idle timeout under CI load.
            async IAsyncEnumerable<int> Steady()
            {
                for (int i = 0; i < 12; i++)
                {
                    await Task.Delay(100).ConfigureAwait(false);
                    yield return i;
                }
            }

            Assert.Equal(12, await limits.CountIdleAsync(Steady()).WaitAsync(Wait.NoHang));
        }
    }

    [Fact]
    public async Task CallersSourceThrowing_FailsTheCallWithWhatItThrew_AndStopsTheHandler()
    {
        var service = new Prices();
        (RpcServer server, RpcClient client) = await StartAsync(service);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            async IAsyncEnumerable<Trade> Broken()
            {
                yield return new Trade("A", 1);
                await Task.Yield();
                throw new InvalidOperationException("the source broke");
            }

            var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => prices.UploadAsync(Broken()));
            Assert.Equal("the source broke", thrown.Message);
            await Wait.UntilAsync(() => server.InFlight == 0, "the handler to stop");
        }
    }

    [Fact]
    public async Task StreamsOverTheConnectionsLimit_AreRefusedNotProcessed()
    {
        var service = new Prices();
        (RpcServer server, RpcClient client) = await StartAsync(service, o => o.Limits.MaxConcurrentStreamsPerConnection = 2);
        await using (server)
        await using (client)
        {
            IPrices prices = client.CreateProxy<IPrices>();
            await using IAsyncEnumerator<int> first = prices.HangAsync().GetAsyncEnumerator();
            await using IAsyncEnumerator<int> second = prices.HangAsync().GetAsyncEnumerator();
            Assert.True(await first.MoveNextAsync());
            Assert.True(await second.MoveNextAsync());

            await using IAsyncEnumerator<int> third = prices.HangAsync().GetAsyncEnumerator();
            RpcException refused = await Assert.ThrowsAsync<RpcException>(async () => await third.MoveNextAsync());
            Assert.Equal(RpcStatusCode.ResourceExhausted, refused.StatusCode);
            Assert.True(refused.NotProcessed);
            Assert.Contains("MaxConcurrentStreamsPerConnection", refused.Message, StringComparison.Ordinal);
        }
    }
}
