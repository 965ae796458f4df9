using BenchmarkDotNet.Attributes;
using RpcGen.Telemetry;

namespace RpcGen.Benchmarks;

/// <summary>
/// What the admin page's live figures cost a call: the in-process call (client and server in one process, so each call
/// records on both sides and on its endpoint) with the figures off, as when the page is closed, and on, as while it is
/// open.
/// </summary>
[MemoryDiagnoser]
public class AdminPageBenchmarks
{
    private RpcServer _server = null!;
    private RpcClient _client = null!;
    private IBench _bench = null!;

    [Params(false, true)]
    public bool PageOpen { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = new RpcServer();
        _server.Map<IBench>(new Bench());
        _server.StartAsync().GetAwaiter().GetResult();
        _client = new RpcClient(new RpcClientOptions { Endpoints = { _server.InProcessEndpoint } });
        _bench = _client.CreateProxy<IBench>();
        if (PageOpen)
        {
            LiveStats.Enable();
        }
        else
        {
            LiveStats.Disable();
        }

        _bench.AddAsync(1, 2).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        LiveStats.Disable();
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "Task<int> AddAsync(int, int)")]
    public Task<int> Call() => _bench.AddAsync(1, 2);
}
