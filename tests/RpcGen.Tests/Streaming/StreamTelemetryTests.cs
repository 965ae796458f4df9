using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Streaming;

/// <summary>A stream is one span per side, with its item counts, and per-RPC message histograms on both sides.</summary>
public sealed class StreamTelemetryTests
{
    [Fact]
    public async Task AStream_RecordsItsItemCounts_OnSpansAndInThePerRpcHistograms()
    {
        var measurements = new ConcurrentQueue<(string Instrument, long Value, string? Method)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "RpcGen" && instrument.Name.EndsWith("_per_rpc", StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? method = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                method = tag.Key == "rpc.method" ? tag.Value as string : method;
            }

            measurements.Enqueue((instrument.Name, value, method));
        });
        meters.Start();

        var spans = new ConcurrentQueue<Activity>();
        using ActivityListener activities = ListenToSpans(spans);
        (RpcServer server, RpcClient client) = await StartAsync();
        await using RpcServer stops = server;
        await using RpcClient closes = client;
        IPrices prices = client.CreateProxy<IPrices>();

        int echoed = 0;
        await foreach (Tick _ in prices.EchoAsync(StreamingEndToEndTests.Trades(37)))
        {
            echoed++;
        }

        Assert.Equal(37, echoed);
        await Wait.UntilAsync(() => spans.Count(s => s.DisplayName == "prices/Echo") == 2, "both spans of the stream to end");
        foreach (Activity span in spans.Where(s => s.DisplayName == "prices/Echo"))
        {
            Assert.Equal(37L, span.GetTagItem("rpc.rpcgen.stream.sent"));
            Assert.Equal(37, Convert.ToInt64(span.GetTagItem("rpc.rpcgen.stream.received")));
        }

        meters.RecordObservableInstruments();
        await Wait.UntilAsync(() => measurements.Count(m => m.Method == "Echo") == 4, "the four per-RPC measurements");
        Assert.All(measurements.Where(m => m.Method == "Echo"), m => Assert.Equal(37, m.Value));
        Assert.Equal(
            new[] { "rpc.client.requests_per_rpc", "rpc.client.responses_per_rpc", "rpc.server.requests_per_rpc", "rpc.server.responses_per_rpc" },
            measurements.Where(m => m.Method == "Echo").Select(m => m.Instrument).Order().ToArray());
    }

    [Fact]
    public async Task EachItem_IsAMessageEventOnBothSpans_UpToTheCap()
    {
        var spans = new ConcurrentQueue<Activity>();
        using ActivityListener activities = ListenToSpans(spans);
        (RpcServer server, RpcClient client) = await StartAsync();
        await using RpcServer stops = server;
        await using RpcClient closes = client;
        IPrices prices = client.CreateProxy<IPrices>();

        // Each part runs in a trace of its own, so spans of other tests running meanwhile are told apart.
        ActivityTraceId echoTrace;
        using (Activity root = new Activity("echo-test").Start())
        {
            echoTrace = root.TraceId;
            await foreach (Tick _ in prices.EchoAsync(StreamingEndToEndTests.Trades(3)))
            {
            }
        }

        await Wait.UntilAsync(() => spans.Count(s => s.TraceId == echoTrace) == 2, "both spans of the duplex stream to end");
        foreach (Activity span in spans.Where(s => s.TraceId == echoTrace))
        {
            Assert.Equal(new long[] { 1, 2, 3 }, Messages(span, "SENT").Select(m => m.Id));
            Assert.Equal(new long[] { 1, 2, 3 }, Messages(span, "RECEIVED").Select(m => m.Id));
            Assert.All(Messages(span, "SENT").Concat(Messages(span, "RECEIVED")), m => Assert.InRange(m.Size, 10, 200));
        }

        // A long stream: the first 128 items are events, the count is exact.
        int count = 0;
        ActivityTraceId watchTrace;
        using (Activity root = new Activity("watch-test").Start())
        {
            watchTrace = root.TraceId;
            await foreach (Tick _ in prices.WatchAsync("LONG", 300))
            {
                count++;
            }
        }

        Assert.Equal(300, count);
        await Wait.UntilAsync(() => spans.Count(s => s.TraceId == watchTrace) == 2, "both spans of the server stream to end");
        Activity clientSpan = spans.Single(s => s.TraceId == watchTrace && s.Kind == ActivityKind.Client);
        Activity serverSpan = spans.Single(s => s.TraceId == watchTrace && s.Kind == ActivityKind.Server);
        Assert.Equal(Enumerable.Range(1, 128).Select(i => (long)i), Messages(clientSpan, "RECEIVED").Select(m => m.Id));
        Assert.Equal(Enumerable.Range(1, 128).Select(i => (long)i), Messages(serverSpan, "SENT").Select(m => m.Id));
        Assert.Empty(Messages(clientSpan, "SENT"));
        Assert.Equal(300L, serverSpan.GetTagItem("rpc.rpcgen.stream.sent"));
    }

    private static async Task<(RpcServer Server, RpcClient Client)> StartAsync()
    {
        var server = new RpcServer(new RpcServerOptions());
        server.Map<IPrices>(new Prices());
        await server.StartAsync();
        return (server, new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }));
    }

    /// <summary>Records every RpcGen span, with all its data, into <paramref name="spans"/> as it ends.</summary>
    private static ActivityListener ListenToSpans(ConcurrentQueue<Activity> spans)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "RpcGen",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static List<(long Id, int Size)> Messages(Activity span, string type) =>
        span.Events
            .Where(e => e.Name == "rpc.message" && e.Tags.Any(t => t.Key == "rpc.message.type" && (string?)t.Value == type))
            .Select(e => ((long)e.Tags.First(t => t.Key == "rpc.message.id").Value!,
                (int)e.Tags.First(t => t.Key == "rpc.message.uncompressed_size").Value!))
            .ToList();
}
