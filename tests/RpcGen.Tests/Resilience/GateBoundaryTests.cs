using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Resilience;

/// <summary>
/// The edges of the retry and hedge gates and of the circuit breaker, written after mutation testing showed that
/// moving them (the typical-latency term dropped, <c>&gt;=</c> becoming <c>&gt;</c>, a window bucket off by one) left
/// every other test green.
/// </summary>
public sealed class GateBoundaryTests
{
    private static MethodResilience Resilience(TimeProvider time, RpcRetryPolicy? retry = null, RpcHedgingPolicy? hedging = null, RpcCircuitBreakerPolicy? breaker = null)
    {
        RpcMethodDescriptor method = RpcServiceRegistry.GetDescriptor<IOrders>()!.Methods[0];
        return new MethodResilience(new MethodPolicies
        {
            Method = method,
            Idempotent = true,
            Retry = retry,
            Hedging = hedging,
            Breaker = breaker is null ? null : new CircuitBreakerGroup(breaker, time),
            Budget = new RetryBudget(new RetryBudgetOptions { Ratio = 1, MinRetriesPerSecond = 100 }, time),
            Time = time,
        });
    }

    private static long Ms(long milliseconds) => TimeSpan.TicksPerMillisecond * milliseconds; // FakeTimeProvider ticks

    private static void RecordLatency(MethodResilience resilience, long milliseconds)
    {
        for (int i = 0; i < 20; i++)
        {
            resilience.Latency!.Record(Ms(milliseconds));
        }
    }

    [Fact]
    public void Retry_NeedsTimeForTheDelayAndATypicalCall()
    {
        var time = new FakeTimeProvider();
        MethodResilience resilience = Resilience(time, retry: new RpcRetryPolicy { MaxAttempts = 3 });
        RecordLatency(resilience, 100); // a typical call takes 100 ms
        var pushback = new RpcException(RpcStatusCode.Unavailable, "x") { RetryAfter = TimeSpan.FromMilliseconds(10) };

        // 105 ms left: 10 ms of delay fits, a 100 ms call after it does not.
        CallState tight = new TestCallState(resilience, time.GetTimestamp() + Ms(105), servingRetry: false);
        Assert.False(resilience.ShouldRetry(tight, pushback, 0, commit: false));

        // 115 ms left: both fit.
        CallState roomy = new TestCallState(resilience, time.GetTimestamp() + Ms(115), servingRetry: false);
        Assert.True(resilience.ShouldRetry(roomy, pushback, 0, commit: false));
    }

    [Fact]
    public void Hedge_NeedsTimeForATypicalCall_AndNoDeadlineNeedsNone()
    {
        var time = new FakeTimeProvider();
        MethodResilience resilience = Resilience(time, hedging: new RpcHedgingPolicy { MaxAttempts = 3 });
        RecordLatency(resilience, 100);

        Assert.False(resilience.MayHedge(new TestCallState(resilience, time.GetTimestamp() + Ms(99), servingRetry: false)));
        Assert.False(resilience.MayHedge(new TestCallState(resilience, time.GetTimestamp() + Ms(100), servingRetry: false)));
        Assert.True(resilience.MayHedge(new TestCallState(resilience, time.GetTimestamp() + Ms(101), servingRetry: false)));
        Assert.True(resilience.MayHedge(new TestCallState(resilience, long.MaxValue, servingRetry: false)));
    }

    [Fact]
    public void Hedgeable_AreFailuresAnotherAttemptMayFix()
    {
        MethodResilience resilience = Resilience(TimeProvider.System, hedging: new RpcHedgingPolicy(), retry: new RpcRetryPolicy());
        Assert.True(resilience.IsHedgeable(new RpcException(RpcStatusCode.Unavailable, "x")));
        Assert.True(resilience.IsHedgeable(new RpcException(RpcStatusCode.DeadlineExceeded, "x")));
        Assert.True(resilience.IsHedgeable(new RpcException(RpcStatusCode.InvalidArgument, "x") { NotProcessed = true }));
        Assert.True(resilience.IsHedgeable(new RpcException(RpcStatusCode.InvalidArgument, "x") { AttemptTimedOut = true }));
        Assert.False(resilience.IsHedgeable(new RpcException(RpcStatusCode.InvalidArgument, "x")));
        Assert.False(resilience.IsHedgeable(new RpcException(RpcStatusCode.Unavailable, "x") { DoNotRetry = true }));
        Assert.False(resilience.IsHedgeable(new InvalidOperationException()));
    }

    [Fact]
    public async Task Circuit_OpensAtExactlyTheFailureRatio_AfterTheMinimumThroughput()
    {
        var time = new FakeTimeProvider();
        var group = new CircuitBreakerGroup(new RpcCircuitBreakerPolicy { FailureRatio = 0.5, MinimumThroughput = 10, SamplingDurationMs = 10_000, BreakDurationMs = 1_000 }, time);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("10.0.2.1", 7000), new RpcEndpoint("10.0.2.3", 7000) } });
        RpcEndpointState few = client.Endpoints[1];
        RpcEndpointState endpoint = client.Endpoints[0];

        // Nine calls, five failed: over the ratio, but under the minimum throughput of ten.
        for (int i = 0; i < 9; i++)
        {
            group.Record(few, failure: i >= 4, time.GetTimestamp());
        }

        Assert.False(group.IsBlocked(few.Id, time.GetTimestamp()));

        // Five successes and four failures, then a fifth failure: 5 of 10 is exactly the ratio, and the circuit opens.
        for (int i = 0; i < 9; i++)
        {
            group.Record(endpoint, failure: i >= 5, time.GetTimestamp());
        }

        Assert.False(group.IsBlocked(endpoint.Id, time.GetTimestamp()));
        group.Record(endpoint, failure: true, time.GetTimestamp());
        Assert.True(group.IsBlocked(endpoint.Id, time.GetTimestamp()));

        // Open for exactly the break duration, then one probe goes through.
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.True(group.IsBlocked(endpoint.Id, time.GetTimestamp()));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(group.IsBlocked(endpoint.Id, time.GetTimestamp()));
    }

    [Fact]
    public async Task Circuit_ForgetsFailuresOlderThanTheSamplingDuration()
    {
        var time = new FakeTimeProvider();
        var group = new CircuitBreakerGroup(new RpcCircuitBreakerPolicy { FailureRatio = 0.5, MinimumThroughput = 10, SamplingDurationMs = 10_000, BreakDurationMs = 1_000 }, time);
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { new RpcEndpoint("10.0.2.2", 7000) } });
        RpcEndpointState endpoint = client.Endpoints[0];

        for (int i = 0; i < 9; i++)
        {
            group.Record(endpoint, failure: true, time.GetTimestamp());
        }

        time.Advance(TimeSpan.FromSeconds(11)); // those nine failures left the window
        group.Record(endpoint, failure: true, time.GetTimestamp());
        Assert.False(group.IsBlocked(endpoint.Id, time.GetTimestamp()));
    }
}
