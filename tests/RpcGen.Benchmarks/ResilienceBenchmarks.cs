using BenchmarkDotNet.Attributes;
using RpcGen.Resilience.Internal;

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
/// larger than the layer): the extra async frame, renting the call state, counting the call in the retry budget,
/// taking the attempt, recording the latency sample, returning the state. The timestamps it uses are the ones the
/// call reads anyway, so they are taken outside the measured work.
/// </summary>
[MemoryDiagnoser]
public class PolicyLayerBenchmarks
{
    private MethodResilience _resilience = null!;
    private long _now;
    private readonly BenchCallState _state = new();

    /// <summary>The call state the client's per-call context carries, reused as its per-thread pool reuses it.</summary>
    private sealed class BenchCallState : CallState
    {
        public void Start(MethodResilience resilience, long deadline) => Begin(resilience, deadline, servingRetry: false, default, concurrent: false);

        public void End() => Clear();
    }

    [GlobalSetup]
    public void Setup()
    {
        TimeProvider time = TimeProvider.System;
        RpcMethodDescriptor method = RpcServiceRegistry.GetDescriptor<IRetryBench>()!.Methods[0];
        var budget = new RetryBudget(new RetryBudgetOptions(), time);
        _resilience = new MethodResilience(new MethodPolicies
        {
            Method = method,
            Idempotent = true,
            Retry = method.Retry,
            Budget = budget,
            Time = time,
        });
        _now = time.GetTimestamp();
    }

    private static ValueTask<int> Attempt() => new(3);

    [Benchmark(Baseline = true, Description = "attempt alone (no policies)")]
    public ValueTask<int> AttemptAlone() => Attempt();

    [Benchmark(Description = "attempt inside the Retry + Timeout bookkeeping")]
    public async ValueTask<int> WithPolicies()
    {
        BenchCallState state = _state;
        state.Start(_resilience, _now + 1000);
        try
        {
            _resilience.Budget.Deposit(_now);
            state.NextAttempt();
            state.AddTried(3);
            int result = await Attempt().ConfigureAwait(false);
            _resilience.Latency!.Record(120);
            return result;
        }
        finally
        {
            state.End();
        }
    }
}
