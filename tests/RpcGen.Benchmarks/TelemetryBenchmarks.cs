using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using RpcGen.Telemetry;

namespace RpcGen.Benchmarks;

/// <summary>
/// What RpcGen's telemetry costs per in-process <c>Task&lt;int&gt;</c> call: nobody listening (the path every other
/// benchmark measures), a <see cref="MeterListener"/> on every RpcGen instrument (what an OpenTelemetry meter provider
/// does), an <see cref="ActivityListener"/> recording every span (a tracer provider sampling all), and both. The
/// listeners do nothing with what they get, so the rows show RpcGen's side of the cost only.
/// </summary>
[MemoryDiagnoser]
public class TelemetryBenchmarks
{
    private RpcServer _server = null!;
    private RpcClient _client = null!;
    private IBench _bench = null!;
    private MeterListener? _meters;
    private ActivityListener? _spans;

    [Params("none", "metrics", "traces", "both")]
    public string Listening { get; set; } = "none";

    [GlobalSetup]
    public void Setup()
    {
        if (Listening is "metrics" or "both")
        {
            _meters = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == RpcGenMetrics.MeterName)
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _meters.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
            _meters.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
            _meters.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
            _meters.Start();
        }

        if (Listening is "traces" or "both")
        {
            _spans = new ActivityListener
            {
                ShouldListenTo = source => source.Name == RpcGenTracing.SourceName,
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            };
            ActivitySource.AddActivityListener(_spans);
        }

        _server = new RpcServer();
        _server.Map<IBench>(new Bench());
        _server.StartAsync().GetAwaiter().GetResult();
        _client = new RpcClient(new RpcClientOptions { Endpoints = { _server.InProcessEndpoint } });
        _bench = _client.CreateProxy<IBench>();
        _bench.AddAsync(1, 2).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _meters?.Dispose(); // the toolchain runs every benchmark in this process: listeners must not outlive their rows
        _spans?.Dispose();
    }

    [Benchmark(Description = "Task<int> AddAsync(int, int)")]
    public Task<int> Call() => _bench.AddAsync(1, 2);
}
