using System.Buffers.Binary;
using System.Text;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Hostile;

/// <summary>
/// Streams against peers that break their rules: items beyond credit, no credit ever, credit without end from a peer
/// that never reads. Whatever they do, what a stream costs the server stays within its window and its output bound.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class HostileStreamTests
{
    private const byte StreamItems = 8;
    private const byte Credit = 10;
    private const byte Error = 3;

    private static async Task<(RpcServer Server, Prices Prices)> StartAsync(Action<RpcServerOptions>? configure = null)
    {
        var options = new RpcServerOptions();
        configure?.Invoke(options);
        var server = new RpcServer(options);
        var prices = new Prices();
        server.Map<IPrices>(prices);
        await server.StartAsync();
        return (server, prices);
    }

    private static byte[] Items(int count, string json)
    {
        byte[] item = Encoding.UTF8.GetBytes(json);
        byte[] body = new byte[count * (4 + item.Length)];
        for (int i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(i * (4 + item.Length)), (uint)item.Length);
            item.CopyTo(body, (i * (4 + item.Length)) + 4);
        }

        return body;
    }

    private static byte[] CreditBody(uint items, uint bytes)
    {
        byte[] body = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(body, items);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), bytes);
        return body;
    }

    [Fact]
    public async Task ItemsBeyondTheServersCredit_FailTheCall_AndAreNotKept()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        {
            await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
            await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("prices/Upload", "[]")));

            (byte type, _, uint callId, byte[] body) = await raw.ReadFrameAsync();
            Assert.Equal((Credit, 1u), (type, callId));
            Assert.Equal(64u, BinaryPrimitives.ReadUInt32LittleEndian(body)); // the default window

            // 100 items where 64 were granted: the call fails; the 36 beyond the credit are never buffered.
            await raw.WriteAsync(RawConnection.Frame(StreamItems, 1, Items(100, "{\"symbol\":\"A\",\"quantity\":1}")));
            do
            {
                (type, _, callId, body) = await raw.ReadFrameAsync(); // credit for what the handler read, then the error
            }
            while (type == Credit);

            Assert.Equal((Error, 1u), (type, callId));
            (RpcStatusCode code, string message) = RawConnection.ParseError(body);
            Assert.Equal(RpcStatusCode.Internal, code);
            Assert.Contains("beyond the credit the server granted", message, StringComparison.Ordinal);
            await Wait.UntilAsync(() => server.InFlight == 0, "the call to end");
        }
    }

    [Fact]
    public async Task TenThousandStreamsThatNeverGrantCredit_HoldOneItemEach_UpToTheLimit_WhileOthersAreServed()
    {
        (RpcServer server, Prices prices) = await StartAsync();
        await using (server)
        {
            await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
            int refused = 0;
            var reading = Task.Run(async () =>
            {
                while (Volatile.Read(ref refused) < 9_900)
                {
                    (byte type, _, _, byte[] body) = await raw.ReadFrameAsync();
                    if (type == Error && RawConnection.ParseError(body).Code == RpcStatusCode.ResourceExhausted)
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
            });

            var requests = new List<byte>();
            for (uint id = 1; id <= 10_000; id++)
            {
                requests.AddRange(RawConnection.Frame(1, id, RawConnection.RequestBody("prices/Watch", "[\"A\",-1,0]")));
                if (id % 500 == 0)
                {
                    await raw.WriteAsync(requests.ToArray());
                    requests.Clear();
                }
            }

            await reading.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(9_900, refused); // MaxConcurrentStreamsPerConnection: 100

            // Each open stream's handler took one item and waits for credit that never comes.
            await Wait.UntilAsync(() => prices.Produced >= 100, "the open streams' handlers to start");
            await Task.Delay(200);
            Assert.Equal(100, prices.Produced);

            // A polite client on another connection is served meanwhile.
            await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
            int count = 0;
            await foreach (Tick tick in client.CreateProxy<IPrices>().WatchAsync("B", 1000))
            {
                count++;
            }

            Assert.Equal(1000, count);
        }
    }

    [Fact]
    public async Task EndlessCreditFromAPeerThatNeverReads_IsBoundedByTheOutput_NotTheCredit()
    {
        (RpcServer server, Prices prices) = await StartAsync();
        await using (server)
        {
            await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
            await raw.WriteAsync([
                .. RawConnection.Frame(1, 1, RawConnection.RequestBody("prices/Blobs", "[1000000,1024]")),
                .. RawConnection.Frame(Credit, 1, CreditBody(uint.MaxValue, uint.MaxValue)),
                .. RawConnection.Frame(Credit, 1, CreditBody(uint.MaxValue, uint.MaxValue)),
            ]);

            // The peer never reads: the handler runs until the output is full (its 1 MiB bound plus what the sockets
            // hold), then waits; it never gets near the million items its credit allows.
            long last = -1;
            while (prices.Produced != last)
            {
                last = prices.Produced;
                await Task.Delay(500);
            }

            Assert.InRange(prices.Produced, 100, 16 * 1024); // 16 MiB of 1 KiB items, the bound

            await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
            int count = 0;
            await foreach (Tick tick in client.CreateProxy<IPrices>().WatchAsync("B", 100))
            {
                count++;
            }

            Assert.Equal(100, count);
        }
    }

    [Fact]
    public async Task AClientThatFallsSilent_HasItsStreamsEndedByTheServersKeepalive_WhileAQuietPoliteOneStays()
    {
        (RpcServer server, Prices prices) = await StartAsync(o =>
        {
            o.Limits.KeepAliveInterval = TimeSpan.FromMilliseconds(200);
            o.Limits.KeepAliveTimeout = TimeSpan.FromMilliseconds(300);
        });
        await using (server)
        {
            // A polite client whose stream is quiet answers the server's pings: its stream stays open.
            await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
            await using IAsyncEnumerator<int> quiet = client.CreateProxy<IPrices>().HangAsync().GetAsyncEnumerator();
            Assert.True(await quiet.MoveNextAsync());

            // A peer that opens a stream and then says nothing more, as a machine that died would.
            await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
            await raw.WriteAsync([
                .. RawConnection.Frame(1, 1, RawConnection.RequestBody("prices/Watch", "[\"A\",1000000,0]")),
                .. RawConnection.Frame(Credit, 1, CreditBody(1, 1024)),
            ]);
            await Wait.UntilAsync(() => server.InFlight == 2, "both streams to open");

            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "the server should close a silent connection");
            await Wait.UntilAsync(() => server.InFlight == 1, "the silent peer's stream to end");
            Assert.False(prices.Cancelled.Task.IsCompleted); // the polite client's quiet stream is still open
        }
    }

    [Fact]
    public async Task AMillionItemsOfferedToAReaderThatStops_GrowTheHeapByLessThan16MiB()
    {
        (RpcServer server, Prices prices) = await StartAsync();
        await using (server)
        {
            await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
            IPrices proxy = client.CreateProxy<IPrices>();
            await foreach (Tick _ in proxy.WatchAsync("warm", 10))
            {
            }

            long baseline = Heap.Compacted();
            await using IAsyncEnumerator<string> blobs = proxy.BlobsAsync(1_000_000, 1024).GetAsyncEnumerator();
            Assert.True(await blobs.MoveNextAsync());
            await Wait.UntilAsync(() => prices.Produced >= 10 + 65, "the window to fill");
            await Task.Delay(500);
            long grown = Heap.Compacted() - baseline;

            Assert.Equal(10 + 65, prices.Produced);
            Assert.InRange(grown, long.MinValue, 16L * 1024 * 1024);
        }
    }

    [Fact]
    public async Task StreamsOpenedAndCancelledAtOnce_FreeTheirSlots_AndLeaveNoStreamBehind()
    {
        (RpcServer server, _) = await StartAsync();
        await using (server)
        {
            // Each stream: its request (an endless watch), the window, and at once its cancel; 1,000 to a write, 20,000 in
            // all, on one connection (its limit is 100 streams at once): every cancel must free its slot.
            await using RawConnection peer = await RawConnection.ConnectAsync(server.Endpoints[0]);
            byte[] request = RawConnection.Frame(1, 0, RawConnection.RequestBody("prices/Watch", "[\"X\",-1,0]"));
            byte[] credit = RawConnection.Frame(Credit, 0, CreditBody(64, 256 * 1024));
            int one = request.Length + credit.Length + 12;
            byte[] burst = new byte[one * 1000];
            int most = 0;
            using var sampling = new CancellationTokenSource();
            Task sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    most = Math.Max(most, server.OpenStreams);
                    await Task.Delay(1);
                }
            });

            uint id = 1;
            for (int sent = 0; sent < 20_000; sent += 1000)
            {
                for (int i = 0; i < 1000; i++, id++)
                {
                    int at = i * one;
                    request.CopyTo(burst, at);
                    BinaryPrimitives.WriteUInt32LittleEndian(burst.AsSpan(at + 8), id);
                    credit.CopyTo(burst, at + request.Length);
                    BinaryPrimitives.WriteUInt32LittleEndian(burst.AsSpan(at + request.Length + 8), id);
                    RawConnection.Frame(4, id, Array.Empty<byte>()).CopyTo(burst, at + request.Length + credit.Length);
                }

                await peer.Stream.WriteAsync(burst).AsTask().WaitAsync(Wait.NoHang);
            }

            await Wait.UntilAsync(() => server.OpenStreams == 0 && server.InFlight == 0, "every stream of the peer to end");
            sampling.Cancel();
            await sampler;
            Assert.InRange(most, 0, 100);

            // The connection still serves, and so does the server.
            await peer.Stream.WriteAsync(RawConnection.Frame(5, 0, new byte[8])).AsTask().WaitAsync(Wait.NoHang);
            await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
            int read = 0;
            using var limit = new CancellationTokenSource(Wait.NoHang);
            await foreach (Tick _ in client.CreateProxy<IPrices>().WatchAsync("Y", 5).WithCancellation(limit.Token))
            {
                read++;
            }

            Assert.Equal(5, read);
        }
    }
}
