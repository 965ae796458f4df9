using System.Runtime;
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

    public Task<byte[]> ExchangeAsync(byte[] payload, int responseSize)
    {
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

    private static long CompactedHeap()
    {
        for (int i = 0; i < 3; i++)
        {
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

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

        long baseline = CompactedHeap();
        long peakRetained = 0;
        for (int round = 0; round < 2; round++)
        {
            Task<byte[]>[] calls = Enumerable.Range(0, 1000).Select(_ => proxy.ExchangeAsync(request, 314_159)).ToArray();
            foreach (Task<byte[]> call in calls)
            {
                Assert.Equal(314_159, (await call.WaitAsync(TimeSpan.FromSeconds(120))).Length);
            }

            long retained = CompactedHeap() - baseline;
            peakRetained = Math.Max(peakRetained, retained);
            _output.WriteLine($"round {round + 1}: retained {retained / (1024.0 * 1024):0.0} MiB over a baseline of {baseline / (1024.0 * 1024):0.0} MiB");
        }

        Assert.Equal(2_000L * 271_828 + 10, Interlocked.Read(ref bulk.BytesReceived));
        Assert.True(peakRetained < 64L * 1024 * 1024, $"{peakRetained / (1024.0 * 1024):0.0} MiB retained after the burst");
    }
}
