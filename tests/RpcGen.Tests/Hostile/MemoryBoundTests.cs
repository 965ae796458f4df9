using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Hostile;

[RpcService("bulk")]
public interface IBulk
{
    /// <summary>Returns <paramref name="responseSize"/> bytes for a request of any size.</summary>
    Task<byte[]> ExchangeAsync(byte[] payload, int responseSize);
}

public sealed class Bulk : IBulk
{
    public long BytesReceived;
    public int Calls;

    public Task<byte[]> ExchangeAsync(byte[] payload, int responseSize)
    {
        Interlocked.Increment(ref Calls);
        Interlocked.Add(ref BytesReceived, payload.Length);
        return Task.FromResult(new byte[responseSize]);
    }
}

/// <summary>
/// What a burst leaves behind: after many large calls at once, the heap must come back near where it was. Buffers that
/// grow to hold a whole backlog, or giant arrays parked in a shared pool, would keep hundreds of megabytes alive.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class MemoryBoundTests
{
    private readonly ITestOutputHelper _output;

    public MemoryBoundTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task BurstOfLargeCalls_LeavesTheHeapWithin64MiBOfItsBaseline()
    {
        var bulk = new Bulk();
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IBulk>(bulk);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IBulk proxy = client.CreateProxy<IBulk>();
        byte[] request = new byte[271_828];
        Assert.Equal(10, (await proxy.ExchangeAsync(new byte[10], 10)).Length); // connected, warmed up

        long baseline = Heap.Compacted();
        long peakRetained = 0;
        for (int round = 0; round < 2; round++)
        {
            Task<byte[]>[] calls = Enumerable.Range(0, 1000).Select(_ => proxy.ExchangeAsync(request, 314_159)).ToArray();
            foreach (Task<byte[]> call in calls)
            {
                Assert.Equal(314_159, (await call.WaitAsync(TimeSpan.FromSeconds(120))).Length);
            }

            long retained = Heap.Compacted() - baseline;
            peakRetained = Math.Max(peakRetained, retained);
            _output.WriteLine($"round {round + 1}: retained {retained / (1024.0 * 1024):0.0} MiB over a baseline of {baseline / (1024.0 * 1024):0.0} MiB");
        }

        Assert.Equal(2_000L * 271_828 + 10, Interlocked.Read(ref bulk.BytesReceived));
        Assert.True(peakRetained < 64L * 1024 * 1024, $"{peakRetained / (1024.0 * 1024):0.0} MiB retained after the burst");
    }
}

/// <summary>Connections that come and go leave nothing behind on the server.</summary>
[Collection(SerialCollection.Name)]
public sealed class ConnectionChurnTests
{
    private readonly ITestOutputHelper _output;

    public ConnectionChurnTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task ThousandsOfConnectionsOpenedAndClosed_LeaveNoConnectionStateBehind()
    {
        var bulk = new Bulk();
        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IBulk>(bulk);
        await server.StartAsync();

        async Task RoundAsync()
        {
            // 2,000 clients at once, each connecting, calling once and going away.
            var clients = Enumerable.Range(0, 2000).Select(_ => new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } })).ToArray();
            await Task.WhenAll(clients.Select(c => c.CreateProxy<IBulk>().ExchangeAsync(new byte[16], 16)));
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (server.ConnectionCount > 0 && watch.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(20);
            }

            Assert.Equal(0, server.ConnectionCount);
        }

        await RoundAsync(); // warm: pools, thread pool threads, JIT
        long baseline = Heap.Compacted();
        for (int round = 0; round < 3; round++)
        {
            await RoundAsync();
            long retained = Heap.Compacted() - baseline;
            _output.WriteLine($"round {round + 1}: {retained / 1024.0:0} KiB over the baseline of {baseline / (1024.0 * 1024):0.0} MiB; " +
                $"process working set {Environment.WorkingSet / (1024.0 * 1024):0} MiB, {System.Diagnostics.Process.GetCurrentProcess().Threads.Count} threads");
            Assert.True(retained < 16L * 1024 * 1024, $"{retained / (1024.0 * 1024):0.0} MiB kept after round {round + 1}");
        }
    }
}
