using System.Threading.Channels;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Streaming;

[RpcService("blocking-reader")]
public interface IBlockingReader
{
    /// <summary>Sums a client stream; blocks its thread on the item 2 until the test releases it.</summary>
    Task<int> SumAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default);

    Task<int> PingAsync(CancellationToken ct = default);

    /// <summary>For each number of the client's stream, the name of the thread the handler read it on.</summary>
    IAsyncEnumerable<string> WhereAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default);
}

public sealed class BlockingReader : IBlockingReader
{
    public ManualResetEventSlim Blocking { get; } = new();

    public ManualResetEventSlim Release { get; } = new();

    public ManualResetEventSlim GotOne { get; } = new();

    public async Task<int> SumAsync(IAsyncEnumerable<int> numbers, CancellationToken ct = default)
    {
        int sum = 0;
        await foreach (int n in numbers.WithCancellation(ct).ConfigureAwait(false))
        {
            if (n == 1)
            {
                GotOne.Set(); // and the handler waits for the next item
            }

            if (n == 2)
            {
                Blocking.Set();
                Assert.True(Release.Wait(Wait.NoHang)); // synchronously: holds whatever thread woke this reader
            }

            sum += n;
        }

        return sum;
    }

    public Task<int> PingAsync(CancellationToken ct = default) => Task.FromResult(1);

    public async IAsyncEnumerable<string> WhereAsync(IAsyncEnumerable<int> numbers,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (int _ in numbers.WithCancellation(ct).ConfigureAwait(false))
        {
            yield return Thread.CurrentThread.Name ?? string.Empty;
        }
    }
}

/// <summary>
/// A stream's reader that waited for items resumes where a unary caller or handler does: on the read loop that brought
/// them, inside a hand-off section, so a duplex round trip costs no thread-pool hop; a reader that blocks there loses
/// the read loop to another thread, so the connection's other calls go on. Serial: the hand-off counters are the
/// process's, and no other test may hand a loop off meanwhile.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class StreamResumptionTests
{
    [Fact]
    public async Task AClientReaderThatBlocksWhereItResumed_LosesTheReadLoop_AndTheConnectionsOtherCallsGoOn()
    {
        await using var server = new RpcServer();
        server.Map<IPrices>(new Prices());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IPrices prices = client.CreateProxy<IPrices>();
        using var handOffs = new MetricCollector<long>(null, RpcGen.Telemetry.RpcGenMetrics.MeterName, "rpcgen.client.read_loop_handoffs");

        var trades = Channel.CreateUnbounded<Trade>();
        await using IAsyncEnumerator<Tick> echoes = prices.EchoAsync(trades.Reader.ReadAllAsync()).GetAsyncEnumerator();
        await trades.Writer.WriteAsync(new Trade("A", 1));
        Assert.True(await echoes.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang)); // the stream is up

        // The reader waits for the next echo before its trade is sent, then blocks its thread where it resumed.
        using var blocking = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        Task blocked = ResumeThenBlockAsync(echoes.MoveNextAsync(), blocking, release);
        long before = Total(handOffs);
        await trades.Writer.WriteAsync(new Trade("A", 2));
        Assert.True(blocking.Wait(Wait.NoHang));

        // Another stream on the same connection makes its round trip: only a read loop handed off can deliver it.
        var others = Channel.CreateUnbounded<Trade>();
        await using (IAsyncEnumerator<Tick> other = prices.EchoAsync(others.Reader.ReadAllAsync()).GetAsyncEnumerator())
        {
            await others.Writer.WriteAsync(new Trade("B", 7));
            Assert.True(await other.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang));
            Assert.Equal(7m, other.Current.Price);
            others.Writer.Complete();
        }

        Assert.True(Total(handOffs) > before); // the blocked reader had resumed on the read loop, not on the pool
        release.Set();
        await blocked.WaitAsync(Wait.NoHang);
        Assert.Equal(2m, echoes.Current.Price);
        trades.Writer.Complete();
        Assert.False(await echoes.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang));
    }

    [Fact]
    public async Task AHandlerThatBlocksOnItsClientsItem_LosesTheReadLoop_AndTheConnectionsOtherCallsGoOn()
    {
        var service = new BlockingReader();
        await using var server = new RpcServer();
        server.Map<IBlockingReader>(service);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IBlockingReader reader = client.CreateProxy<IBlockingReader>();
        Assert.Equal(1, await reader.PingAsync()); // connected
        using var handOffs = new MetricCollector<long>(null, RpcGen.Telemetry.RpcGenMetrics.MeterName, "rpcgen.server.read_loop_handoffs");

        var numbers = Channel.CreateUnbounded<int>();
        Task<int> sum = reader.SumAsync(numbers.Reader.ReadAllAsync());
        await numbers.Writer.WriteAsync(1);
        Assert.True(service.GotOne.Wait(Wait.NoHang));
        long before = Total(handOffs);
        await numbers.Writer.WriteAsync(2); // in a frame of its own, which the handler waits for and blocks where it resumes
        Assert.True(service.Blocking.Wait(Wait.NoHang));

        Assert.Equal(1, await reader.PingAsync().WaitAsync(Wait.NoHang)); // the connection's next request is served
        Assert.True(Total(handOffs) > before); // because the blocked handler had resumed on the read loop
        service.Release.Set();
        await numbers.Writer.WriteAsync(3);
        numbers.Writer.Complete();
        Assert.Equal(6, await sum.WaitAsync(Wait.NoHang));
    }

    [Fact]
    public async Task ADuplexEchoOverAPoolOnlyServer_StillWorks_AndItsReadersWakeOnThePool()
    {
        // Handlers off the read loop: the handler's reader wakes on the pool; the client's reader still resumes inline.
        await using var server = new RpcServer(new RpcServerOptions { RunHandlersInline = false });
        server.Map<IPrices>(new Prices());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IPrices prices = client.CreateProxy<IPrices>();
        var trades = Channel.CreateUnbounded<Trade>();
        await using IAsyncEnumerator<Tick> echoes = prices.EchoAsync(trades.Reader.ReadAllAsync()).GetAsyncEnumerator();
        for (int i = 1; i <= 100; i++)
        {
            await trades.Writer.WriteAsync(new Trade("A", i));
            Assert.True(await echoes.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang));
            Assert.Equal(i, echoes.Current.Sequence);
        }

        trades.Writer.Complete();
        Assert.False(await echoes.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang));
    }

    [Fact]
    public async Task OnAPoolOnlyServer_AHandlerReadingItsClientsStream_NeverResumesOnTheReceiveThread()
    {
        await using var server = new RpcServer(new RpcServerOptions { RunHandlersInline = false });
        server.Map<IBlockingReader>(new BlockingReader());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IBlockingReader reader = client.CreateProxy<IBlockingReader>();
        var numbers = Channel.CreateUnbounded<int>();
        await using IAsyncEnumerator<string> where = reader.WhereAsync(numbers.Reader.ReadAllAsync()).GetAsyncEnumerator();
        for (int i = 0; i < 20; i++)
        {
            // One at a time, so the handler waits for each item and is woken for it.
            await numbers.Writer.WriteAsync(i);
            Assert.True(await where.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang));
            Assert.DoesNotContain("RpcGen receive", where.Current, StringComparison.Ordinal);
        }

        numbers.Writer.Complete();
        Assert.False(await where.MoveNextAsync().AsTask().WaitAsync(Wait.NoHang));
    }

    private static async Task ResumeThenBlockAsync(ValueTask<bool> next, ManualResetEventSlim blocking, ManualResetEventSlim release)
    {
        Assert.True(await next.ConfigureAwait(false)); // no test context: resume where the item was delivered
        blocking.Set();
        Assert.True(release.Wait(Wait.NoHang));
    }

    private static long Total(MetricCollector<long> collector) => collector.GetMeasurementSnapshot().Sum(m => m.Value);
}
