using RpcGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RpcGen.Tests.Hostile;

/// <summary>
/// Memory that returns after a storm: the trimmer's rule on a fake collector and clock (quiet for an interval, over the
/// floor, over twice the last trim: one aggressive collection), and a real storm of large calls whose heap comes back.
/// </summary>
public sealed class MemoryTrimmerTests
{
    private const long MiB = 1024 * 1024;
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(10);

    private sealed class FakeCollector : MemoryTrimmer.IGarbageCollector
    {
        public int Collections { get; set; }

        public long CommittedBytes { get; set; }

        public long AfterCollect { get; set; } = 20 * MiB;

        public int Collects { get; private set; }

        public void Collect()
        {
            Collects++;
            Collections++;
            CommittedBytes = AfterCollect;
        }
    }

    [Fact]
    public void A_quiet_interval_after_a_storm_trims_once()
    {
        var time = new FakeTimeProvider();
        var gc = new FakeCollector { CommittedBytes = 20 * MiB };
        using var trimmer = new MemoryTrimmer(time, s_interval, null, gc);

        // The storm: the process allocates, so the collector runs and the heap grows.
        gc.Collections = 5;
        gc.CommittedBytes = 680 * MiB;
        time.Advance(s_interval);
        Assert.Equal(0, gc.Collects); // it collected in this interval: busy

        time.Advance(s_interval - TimeSpan.FromTicks(1));
        Assert.Equal(0, gc.Collects); // the interval has not passed
        time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal((1, 1), (gc.Collects, trimmer.Trims)); // a whole interval without a collection: trimmed

        time.Advance(s_interval * 5);
        Assert.Equal(1, gc.Collects); // its own collection is not activity, and the heap is small now
    }

    [Fact]
    public void A_busy_server_is_never_trimmed()
    {
        var time = new FakeTimeProvider();
        var gc = new FakeCollector { CommittedBytes = 900 * MiB };
        using var trimmer = new MemoryTrimmer(time, s_interval, null, gc);
        gc.CommittedBytes = 900 * MiB;
        for (int i = 0; i < 100; i++)
        {
            gc.Collections++;
            time.Advance(s_interval);
        }

        Assert.Equal(0, gc.Collects);
    }

    [Fact]
    public void A_heap_under_the_floor_or_under_twice_the_last_trim_is_left_alone()
    {
        var time = new FakeTimeProvider();
        var gc = new FakeCollector { CommittedBytes = 10 * MiB };
        using var trimmer = new MemoryTrimmer(time, s_interval, null, gc);

        gc.CommittedBytes = MemoryTrimmer.Floor; // at the floor: not over it
        time.Advance(s_interval);
        Assert.Equal(0, gc.Collects);

        gc.CommittedBytes = MemoryTrimmer.Floor + 1;
        time.Advance(s_interval);
        Assert.Equal(1, gc.Collects);

        // After a trim that left 100 MiB (a cache the application keeps), up to 200 MiB is its normal size.
        gc.AfterCollect = 100 * MiB;
        gc.Collections++;
        gc.CommittedBytes = 300 * MiB;
        time.Advance(s_interval); // activity
        time.Advance(s_interval);
        Assert.Equal(2, gc.Collects);
        gc.Collections++;
        gc.CommittedBytes = 200 * MiB;
        time.Advance(s_interval);
        time.Advance(s_interval);
        Assert.Equal(2, gc.Collects); // twice the last trim: not over it
        gc.CommittedBytes = (200 * MiB) + 1;
        time.Advance(s_interval);
        Assert.Equal(3, gc.Collects);
    }

    [Fact]
    public void Stopped_it_looks_no_more_and_the_interval_is_checked()
    {
        var time = new FakeTimeProvider();
        var gc = new FakeCollector { CommittedBytes = 10 * MiB };
        var trimmer = new MemoryTrimmer(time, s_interval, null, gc);
        trimmer.Dispose();
        gc.CommittedBytes = 900 * MiB;
        time.Advance(s_interval * 3);
        Assert.Equal(0, gc.Collects);

        var limits = new RpcServerLimits();
        Assert.Equal(TimeSpan.FromSeconds(10), limits.MemoryTrimInterval);
        Assert.Throws<ArgumentOutOfRangeException>(() => limits.MemoryTrimInterval = TimeSpan.Zero);
        limits.MemoryTrimInterval = Timeout.InfiniteTimeSpan;
    }
}

/// <summary>A real storm in this process: the server's own trimmer gives the heap back once the storm is over.</summary>
[Collection(SerialCollection.Name)]
public sealed class MemoryReturnTests
{
    private readonly ITestOutputHelper _output;

    public MemoryReturnTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task After_a_storm_of_large_calls_the_heap_goes_back_under_the_trim_floor()
    {
        long atRest = Heap.Committed(); // before the server starts, whose trimmer measures from here
        var bulk = new Bulk();
        var options = new RpcServerOptions();
        options.Limits.MemoryTrimInterval = TimeSpan.FromSeconds(1);
        await using var server = new RpcServer(options);
        server.Map<IBulk>(bulk);
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        IBulk proxy = client.CreateProxy<IBulk>();
        Assert.Equal(10, (await proxy.ExchangeAsync(new byte[10], 10)).Length);

        await StormAsync(proxy);
        long afterStorm = GC.GetGCMemoryInfo().TotalCommittedBytes;
        _output.WriteLine($"committed at rest {atRest / 1024 / 1024} MiB, at the storm's last collection {afterStorm / 1024 / 1024} MiB");
        Assert.True(afterStorm > Math.Max(2 * atRest, MemoryTrimmer.Floor), "the storm did not grow the heap: the test measures nothing");

        // Nothing here collects: only the server's trimmer can bring the committed heap down (to what is live, and what the
        // buffer pools keep: 29 MiB when measured, beside 416 MiB after the storm).
        long bound = Math.Max(2 * atRest, MemoryTrimmer.Floor);
        await Wait.UntilAsync(() => GC.GetGCMemoryInfo().TotalCommittedBytes <= bound, "the heap to come back after the storm");
        _output.WriteLine($"back to {GC.GetGCMemoryInfo().TotalCommittedBytes / 1024 / 1024} MiB");
    }

    /// <summary>1,000 calls of 300 KB each way at once; nothing of them stays referenced.</summary>
    private static async Task StormAsync(IBulk proxy)
    {
        byte[] request = new byte[300_000];
        Task<byte[]>[] calls = Enumerable.Range(0, 1000).Select(_ => proxy.ExchangeAsync(request, 300_000)).ToArray();
        foreach (Task<byte[]> call in calls)
        {
            Assert.Equal(300_000, (await call.WaitAsync(TimeSpan.FromSeconds(120))).Length);
        }
    }
}
