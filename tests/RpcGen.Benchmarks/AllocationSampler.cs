using System.Diagnostics.Tracing;

namespace RpcGen.Benchmarks;

/// <summary>
/// Which types a loopback call allocates (client and server in this process): the runtime's allocation-tick events
/// (one sample per ~100 KB allocated) counted by type while 64 callers call. A profile, not a measurement of bytes:
/// the shares are what matters. Run: <c>-- allocs [--seconds 5] [record]</c>.
/// </summary>
internal static class AllocationSampler
{
    /// <summary>In-process calls in a loop on one thread for <c>--seconds</c> (for a profiler: <c>-- inproc</c>).</summary>
    public static async Task<int> InProcessLoopAsync(string[] args)
    {
        int index = Array.IndexOf(args, "--seconds");
        double seconds = index >= 0 ? double.Parse(args[index + 1], System.Globalization.CultureInfo.InvariantCulture) : 10;
        await using var server = new RpcServer();
        server.Map<IBench>(new Bench());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.InProcessEndpoint } });
        IBench bench = client.CreateProxy<IBench>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var collections = GcWatch.Start();
        long calls = 0;
        while (watch.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 1000; i++)
            {
                await bench.AddAsync(1, 2);
            }

            calls += 1000;
        }

        Console.WriteLine($"{calls:N0} in-process calls, {watch.Elapsed.TotalMilliseconds * 1000 / calls:0.000} µs each");
        Console.WriteLine(collections.Report(seconds));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long sum = 0;
        for (int i = 0; i < 10_000_000; i++)
        {
            sum += TimeProvider.System.GetTimestamp();
        }

        Console.WriteLine($"TimeProvider.System.GetTimestamp(): {clock.Elapsed.TotalMilliseconds * 1_000_000 / 10_000_000:0.0} ns each ({sum % 2})");
        return 0;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        int index = Array.IndexOf(args, "--seconds");
        double seconds = index >= 0 ? double.Parse(args[index + 1], System.Globalization.CultureInfo.InvariantCulture) : 5;
        bool record = args.Contains("record");
        await using var server = new RpcServer();
        server.Map<IBench>(new Bench());
        server.Map<IPayloadBench>(new PayloadBench());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", server.Endpoints[0].Port) } });
        IBench bench = client.CreateProxy<IBench>();
        IPayloadBench payload = client.CreateProxy<IPayloadBench>();
        long calls = 0;
        bool stop = false;
        var workers = Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            while (!Volatile.Read(ref stop))
            {
                if (record)
                {
                    await payload.EchoRecordAsync(BenchRecord.Sample);
                }
                else
                {
                    await bench.AddAsync(i, 1);
                }

                Interlocked.Increment(ref calls);
            }
        })).ToArray();
        await Task.Delay(2000); // warm up (tiered JIT, pools)
        using var listener = new AllocationListener();
        long before = Interlocked.Read(ref calls);
        long bytesBefore = GC.GetTotalAllocatedBytes(precise: false);
        var collections = GcWatch.Start();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        string gcReport = collections.Report(seconds);
        long made = Interlocked.Read(ref calls) - before;
        long bytes = GC.GetTotalAllocatedBytes(precise: false) - bytesBefore;
        Volatile.Write(ref stop, true);
        await Task.WhenAll(workers);
        Console.WriteLine($"{made:N0} calls, {bytes / (double)made:N0} B allocated per call (client + server, this process)");
        Console.WriteLine(gcReport);
        long total = listener.Counts.Values.Sum();
        foreach ((string type, long count) in listener.Counts.OrderByDescending(p => p.Value).Take(25))
        {
            Console.WriteLine($"{count * 100.0 / total,6:0.0} %  {type}");
        }

        return 0;
    }

    /// <summary>Collections and the time the process was paused for them since <see cref="Start"/>: what allocations cost the calls in flight.</summary>
    private readonly record struct GcWatch(int Collections, TimeSpan Paused)
    {
        public static GcWatch Start() => new(GC.CollectionCount(0), GC.GetTotalPauseDuration());

        public string Report(double seconds)
        {
            int collections = GC.CollectionCount(0) - Collections;
            double pausedMs = (GC.GetTotalPauseDuration() - Paused).TotalMilliseconds;
            return $"{collections / seconds:N0} collections/s, {pausedMs / seconds:N1} ms/s paused ({pausedMs * 1000 / Math.Max(1, collections):N0} µs each)";
        }
    }

    private sealed class AllocationListener : EventListener
    {
        public Dictionary<string, long> Counts { get; } = new();

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName is not null && e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) && e.Payload is not null)
            {
                int i = e.PayloadNames!.IndexOf("TypeName");
                string type = i >= 0 ? e.Payload[i] as string ?? "?" : "?";
                lock (Counts)
                {
                    Counts[type] = Counts.GetValueOrDefault(type) + 1;
                }
            }
        }
    }
}
