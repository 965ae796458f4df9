using BenchmarkDotNet.Attributes;

namespace RpcGen.Benchmarks;

/// <summary>
/// What Retry + Timeout add to a successful call, over the in-process transport: the same method with a deadline
/// only, and with [Retry(MaxAttempts = 3)] + [Idempotent] as well.
/// </summary>
[MemoryDiagnoser]
public class ResilienceBenchmarks
{
    private RpcServer _server = null!;
    private RpcClient _client = null!;
    private ITimeoutBench _timeout = null!;
    private IRetryBench _retry = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = new RpcServer();
        var bench = new PolicyBench();
        _server.Map<ITimeoutBench>(bench);
        _server.Map<IRetryBench>(bench);
        _server.StartAsync().GetAwaiter().GetResult();
        _client = new RpcClient(new RpcClientOptions { Endpoints = { _server.InProcessEndpoint } });
        _timeout = _client.CreateProxy<ITimeoutBench>();
        _retry = _client.CreateProxy<IRetryBench>();
        _timeout.AddValueAsync(1, 2).GetAwaiter().GetResult();
        _retry.AddValueAsync(1, 2).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, Description = "Timeout only")]
    public ValueTask<int> TimeoutOnly() => _timeout.AddValueAsync(1, 2);

    [Benchmark(Description = "Retry + Timeout")]
    public ValueTask<int> RetryAndTimeout() => _retry.AddValueAsync(1, 2);
}

/// <summary>
/// The policy layer's own work on a successful call, without the call around it (whose noise on this machine is
/// larger than the layer): rent the call state, count the call in the retry budget, record the latency sample, return
/// the state.
/// </summary>
[MemoryDiagnoser]
public class PolicyLayerBenchmarks
{
    private Resilience.MethodResilience _resilience = null!;
    private TimeProvider _time = null!;

    [GlobalSetup]
    public void Setup()
    {
        _time = TimeProvider.System;
        RpcMethodDescriptor method = RpcServiceRegistry.GetDescriptor<IRetryBench>()!.Methods[0];
        var budget = new Resilience.RetryBudget(new RetryBudgetOptions(), _time);
        _resilience = new Resilience.MethodResilience(method, true, false, false, method.Retry, null, null, budget, _time, null);
    }

    [Benchmark(Description = "success-path bookkeeping of Retry + Timeout")]
    public long SuccessPath()
    {
        long start = _time.GetTimestamp();
        Resilience.CallState state = Resilience.CallState.Rent(_resilience, start + 1000, servingRetry: false, default, concurrent: false);
        _resilience.Budget.Deposit(start);
        int attempt = state.NextAttempt();
        state.AddTried(3);
        long end = _time.GetTimestamp();
        _resilience.Latency!.Record(end - start);
        Resilience.CallState.Return(state);
        return end + attempt;
    }
}
