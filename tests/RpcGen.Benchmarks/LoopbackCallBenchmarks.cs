using BenchmarkDotNet.Attributes;

namespace RpcGen.Benchmarks;

/// <summary>
/// The same calls over loopback TCP, client and server in this process: what a real call allocates on both sides
/// once it suspends (async frames, pending calls, the server's call state). One call at a time, and 64 at once.
/// </summary>
[MemoryDiagnoser]
public class LoopbackCallBenchmarks
{
    private const int Concurrent = 64;
    private RpcServer _server = null!;
    private RpcClient _client = null!;
    private IBench _bench = null!;
    private readonly Task<int>[] _tasks = new Task<int>[Concurrent];
    private readonly ValueTask<int>[] _valueTasks = new ValueTask<int>[Concurrent];

    [GlobalSetup]
    public void Setup()
    {
        _server = new RpcServer();
        _server.Map<IBench>(new Bench());
        _server.StartAsync().GetAwaiter().GetResult();
        _client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("127.0.0.1", _server.Endpoints[0].Port) } });
        _bench = _client.CreateProxy<IBench>();
        for (int i = 0; i < 1000; i++)
        {
            _bench.AddAsync(1, 2).GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, Description = "Task<int> AddAsync, one at a time")]
    public Task<int> One() => _bench.AddAsync(1, 2);

    [Benchmark(Description = "ValueTask<int> AddValueAsync, one at a time")]
    public ValueTask<int> OneValue() => _bench.AddValueAsync(1, 2);

    [Benchmark(OperationsPerInvoke = Concurrent, Description = "Task<int> AddAsync, 64 at once (per call)")]
    public async Task Many()
    {
        for (int i = 0; i < Concurrent; i++)
        {
            _tasks[i] = _bench.AddAsync(i, 1);
        }

        await Task.WhenAll(_tasks);
    }

    [Benchmark(OperationsPerInvoke = Concurrent, Description = "ValueTask<int> AddValueAsync, 64 at once (per call)")]
    public async Task ManyValue()
    {
        for (int i = 0; i < Concurrent; i++)
        {
            _valueTasks[i] = _bench.AddValueAsync(i, 1);
        }

        for (int i = 0; i < Concurrent; i++)
        {
            await _valueTasks[i];
        }
    }
}
