using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Resilience;

public sealed class PolicyUnitTests
{
    private static MethodResilience Resilience(RpcRetryPolicy retry, TimeProvider time, RetryBudget? budget = null)
    {
        RpcMethodDescriptor method = RpcServiceRegistry.GetDescriptor<IOrders>()!.Methods[0];
        return new MethodResilience(new MethodPolicies
        {
            Method = method,
            Idempotent = true,
            Retry = retry,
            Budget = budget ?? new RetryBudget(new RetryBudgetOptions(), time),
            Time = time,
        });
    }

    [Fact]
    public void Backoff_GrowsExponentially_IsCapped_AndJittersWithinA6Bounds()
    {
        MethodResilience resilience = Resilience(new RpcRetryPolicy { InitialBackoffMs = 100, MaxBackoffMs = 1000, BackoffMultiplier = 2 }, TimeProvider.System);
        for (int i = 0; i < 1000; i++)
        {
            Assert.InRange(resilience.Backoff(0).TotalMilliseconds, 80, 120);
            Assert.InRange(resilience.Backoff(2).TotalMilliseconds, 320, 480);
            Assert.InRange(resilience.Backoff(10).TotalMilliseconds, 800, 1200); // capped at 1000 before jitter
        }

        double[] samples = Enumerable.Range(0, 2000).Select(_ => resilience.Backoff(0).TotalMilliseconds).ToArray();
        Assert.True(samples.Min() < 85 && samples.Max() > 115, "jitter should use the whole ±20% range");
    }

    [Fact]
    public void RetryBudget_AllowsRatioOfCallsPlusFloor_AndRefillsAsTheWindowSlides()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(new RetryBudgetOptions { Ratio = 0.2, MinRetriesPerSecond = 0, Window = TimeSpan.FromSeconds(10) }, time);
        for (int i = 0; i < 100; i++)
        {
            budget.Deposit(time.GetTimestamp());
        }

        int allowed = 0;
        while (budget.TryWithdraw())
        {
            allowed++;
        }

        Assert.Equal(20, allowed);

        // Eleven seconds later those calls and retries are out of the window; new calls earn new retries.
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.False(budget.TryWithdraw());
        for (int i = 0; i < 10; i++)
        {
            budget.Deposit(time.GetTimestamp());
        }

        Assert.True(budget.TryWithdraw());
        Assert.True(budget.TryWithdraw());
        Assert.False(budget.TryWithdraw());
    }

    [Fact]
    public void RetryBudget_Floor_LetsAQuietClientRetry()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(new RetryBudgetOptions { Ratio = 0.2, MinRetriesPerSecond = 1, Window = TimeSpan.FromSeconds(10) }, time);
        int allowed = 0;
        while (budget.TryWithdraw())
        {
            allowed++;
        }

        Assert.Equal(10, allowed); // 1 per second over a 10-second window, with no calls at all
    }

    [Fact]
    public void LatencyTracker_ReportsQuantiles_OnlyWithEnoughSamples()
    {
        var tracker = new LatencyTracker();
        for (int i = 1; i <= 10; i++)
        {
            tracker.Record(i);
        }

        Assert.Null(tracker.Quantile(0.5));
        for (int i = 11; i <= 100; i++)
        {
            tracker.Record(i);
        }

        Assert.Equal(50, tracker.Quantile(0.5));
        Assert.Equal(95, tracker.Quantile(0.95));
    }

    [Fact]
    public void ShouldRetry_FollowsTheIdempotencyRule_StatusCodes_PushbackAndDeadline()
    {
        var time = new FakeTimeProvider();
        MethodResilience idempotent = Resilience(new RpcRetryPolicy { MaxAttempts = 3, InitialBackoffMs = 100, MaxBackoffMs = 100 }, time);
        CallState state = new TestCallState(idempotent, long.MaxValue, servingRetry: false);

        Assert.True(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.Unavailable, "x"), 0, commit: false));
        Assert.False(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.Unavailable, "x"), 2, commit: false)); // attempts spent
        Assert.False(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.InvalidArgument, "x"), 0, commit: false));
        Assert.False(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.DeadlineExceeded, "x"), 0, commit: false));
        Assert.True(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.DeadlineExceeded, "x") { AttemptTimedOut = true }, 0, commit: false));
        Assert.False(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.Unavailable, "x") { DoNotRetry = true }, 0, commit: false));
        Assert.False(idempotent.ShouldRetry(state, new InvalidOperationException(), 0, commit: false));

        // A call made while serving a retried request is not retried again (only transparently).
        CallState serving = new TestCallState(idempotent, long.MaxValue, servingRetry: true);
        Assert.False(idempotent.ShouldRetry(serving, new RpcException(RpcStatusCode.Unavailable, "x"), 0, commit: false));
        Assert.True(idempotent.ShouldRetry(serving, new RpcException(RpcStatusCode.Unavailable, "x") { NotProcessed = true }, 0, commit: false));

        // 50 ms left cannot fit a ~100 ms backoff: no retry.
        CallState late = new TestCallState(idempotent, time.GetTimestamp() + (TimeSpan.TicksPerMillisecond * 50), servingRetry: false);
        Assert.False(idempotent.ShouldRetry(late, new RpcException(RpcStatusCode.Unavailable, "x"), 0, commit: false));

        // Pushback replaces the backoff.
        Assert.True(idempotent.ShouldRetry(state, new RpcException(RpcStatusCode.Unavailable, "x") { RetryAfter = TimeSpan.FromMilliseconds(7) }, 0, commit: true));
        Assert.Equal(TimeSpan.FromMilliseconds(7), state.NextDelay);
    }

    [Fact]
    public void ShouldRetry_NotIdempotent_OnlyWhenTheRequestNeverReachedAHandler()
    {
        RpcMethodDescriptor method = RpcServiceRegistry.GetDescriptor<IOrders>()!.Methods[1];
        var resilience = new MethodResilience(new MethodPolicies
        {
            Method = method,
            Retry = new RpcRetryPolicy(),
            Budget = new RetryBudget(new RetryBudgetOptions(), TimeProvider.System),
            Time = TimeProvider.System,
        });
        CallState state = new TestCallState(resilience, long.MaxValue, servingRetry: false);
        Assert.False(resilience.ShouldRetry(state, new RpcException(RpcStatusCode.Unavailable, "sent"), 0, commit: false));
        Assert.True(resilience.ShouldRetry(state, new RpcException(RpcStatusCode.Unavailable, "refused") { NotProcessed = true }, 0, commit: false));
    }

    [Fact]
    public void PolicyValidation_NamesTheValueAndHowToFixIt()
    {
        ArgumentException retry = Assert.Throws<ArgumentException>(() => new RpcRetryPolicy { MaxAttempts = 0 }.Validate("orders/Get"));
        Assert.Contains("orders/Get: MaxAttempts is 0; it must be at least 1", retry.Message);
        Assert.Throws<ArgumentException>(() => new RpcRetryPolicy { InitialBackoffMs = 500, MaxBackoffMs = 100 }.Validate("x"));
        Assert.Throws<ArgumentException>(() => new RpcHedgingPolicy { DelayMs = -1 }.Validate("x"));
        Assert.Throws<ArgumentException>(() => new RpcCircuitBreakerPolicy { FailureRatio = 0 }.Validate("x"));
    }
}
