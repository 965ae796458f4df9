using BenchmarkDotNet.Attributes;

namespace RpcGen.Benchmarks;

/// <summary>
/// Proxy + framing + dispatcher + handler + result, over the in-process transport (pipes, no sockets, no thread hop):
/// what RpcGen itself costs per call.
/// </summary>
[MemoryDiagnoser]
public class InProcessCallBenchmarks
{
    private RpcServer _server = null!;
    private RpcClient _client = null!;
    private IBench _bench = null!;

    [GlobalSetup]
    public void Setup()
    {
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
    }

    [Benchmark(Baseline = true, Description = "Task<int> AddAsync(int, int)")]
    public Task<int> TaskOfInt() => _bench.AddAsync(1, 2);

    [Benchmark(Description = "ValueTask<int> AddValueAsync(int, int)")]
    public ValueTask<int> ValueTaskOfInt() => _bench.AddValueAsync(1, 2);

    [Benchmark(Description = "Task NoopAsync()")]
    public Task NoResult() => _bench.NoopAsync();
}
