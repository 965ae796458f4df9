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
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "RpcGen",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(activities);

        await using var server = new RpcServer(new RpcServerOptions());
        server.Map<IPrices>(new Prices());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
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
}
