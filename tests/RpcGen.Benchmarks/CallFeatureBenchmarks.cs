using BenchmarkDotNet.Attributes;

namespace RpcGen.Benchmarks;

/// <summary>
/// What call metadata and interceptors add to an in-process <c>Task&lt;int&gt;</c> call: none (the baseline, the same
/// call as <see cref="InProcessCallBenchmarks"/>), three request headers in an <see cref="RpcCallScope"/> that the
/// handler reads, and one pass-through interceptor on each side.
/// </summary>
[MemoryDiagnoser]
public class CallFeatureBenchmarks
{
    private RpcServer _plainServer = null!;
    private RpcServer _interceptedServer = null!;
    private RpcClient _plain = null!;
    private RpcClient _intercepted = null!;
    private IBench _plainBench = null!;
    private IBench _interceptedBench = null!;
    private RpcMetadata _headers = null!;

    [GlobalSetup]
    public void Setup()
    {
        _plainServer = new RpcServer();
        _plainServer.Map<IBench>(new Bench());
        _plainServer.StartAsync().GetAwaiter().GetResult();
        _interceptedServer = new RpcServer(new RpcServerOptions { Interceptors = { new PassThroughServer() } });
        _interceptedServer.Map<IBench>(new Bench());
        _interceptedServer.StartAsync().GetAwaiter().GetResult();
        _plain = new RpcClient(new RpcClientOptions { Endpoints = { _plainServer.InProcessEndpoint } });
        var intercepted = new RpcClientOptions { Endpoints = { _interceptedServer.InProcessEndpoint } };
        intercepted.Interceptors.Add(new PassThroughClient());
        _intercepted = new RpcClient(intercepted);
        _plainBench = _plain.CreateProxy<IBench>();
        _interceptedBench = _intercepted.CreateProxy<IBench>();
        _headers = new RpcMetadata { { "tenant", "acme" }, { "caller", "billing" }, { "trace-bin", new byte[16] } };
        _plainBench.AddAsync(1, 2).GetAwaiter().GetResult();
        _interceptedBench.AddAsync(1, 2).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plain.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _intercepted.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _plainServer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _interceptedServer.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, Description = "no metadata, no interceptor")]
    public Task<int> Plain() => _plainBench.AddAsync(1, 2);

    [Benchmark(Description = "3 request headers (RpcCallScope)")]
    public async Task<int> ThreeHeaders()
    {
        using RpcCallScope scope = RpcCallScope.Begin(_headers);
        return await _plainBench.AddAsync(1, 2);
    }

    [Benchmark(Description = "1 interceptor on each side")]
    public Task<int> Intercepted() => _interceptedBench.AddAsync(1, 2);

    private sealed class PassThroughClient : RpcClientInterceptor
    {
    }

    private sealed class PassThroughServer : RpcServerInterceptor
    {
        public override ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next) => next(call);
    }
}
