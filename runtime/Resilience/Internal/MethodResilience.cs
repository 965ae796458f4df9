using System;
using Microsoft.Extensions.Logging;
using Polly;
using RpcGen.Descriptors;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// A method's effective resilience for one client, built once when a proxy first needs the method: the policies (the
/// attributes, overridden by options and configuration), their gates, the circuits, and the latency samples the
/// deadline checks and the adaptive hedging delay read. The Polly.Core pipelines that run retries and hedges are in
/// <see cref="MethodResilience{TResult}"/>, typed by what an attempt returns, which this layer does not need to know.
/// </summary>
/// <remarks>
/// The first attempt of a retried call runs outside the retry pipeline: entering a Polly.Core retry pipeline costs
/// about 190 ns per call (tests/RpcGen.Benchmarks, PollyOverheadBenchmarks), twice the whole policy budget. Only when
/// that attempt fails with something a retry could fix does the call enter the pipeline, which replays the first
/// failure as its own first outcome, so Polly's attempt numbering, delays and events stay exact.
/// </remarks>
internal class MethodResilience
{
    private static readonly ResiliencePropertyKey<CallState> s_stateKey = new("RpcGen.CallState");

    private readonly uint _retryableMask;

    public MethodResilience(MethodPolicies policies)
    {
        Logger = policies.Logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        Method = policies.Method;
        Idempotent = policies.Idempotent;
        Deduplicate = policies.Deduplicate;
        Broadcast = policies.Broadcast;
        RpcRetryPolicy? retry = policies.Retry;
        Retry = retry is { MaxAttempts: > 1 } ? retry : null;
        Hedging = policies.Hedging is { MaxAttempts: > 1 } ? policies.Hedging : null;
        PerAttemptTimeoutMs = retry?.PerAttemptTimeoutMs ?? 0;
        Breaker = policies.Breaker;
        Budget = policies.Budget;
        Time = policies.Time;
        Outer = policies.Outer;
        _retryableMask = (retry ?? new RpcRetryPolicy()).RetryableMask();
        if (Retry is not null || Hedging is not null)
        {
            Latency = new LatencyTracker();
        }
    }

    public RpcMethodDescriptor Method { get; }

    public ILogger Logger { get; }

    public bool Idempotent { get; }

    public bool Deduplicate { get; }

    public bool Broadcast { get; }

    public RpcRetryPolicy? Retry { get; }

    public RpcHedgingPolicy? Hedging { get; }

    public int PerAttemptTimeoutMs { get; }

    public CircuitBreakerGroup? Breaker { get; }

    public RetryBudget Budget { get; }

    public TimeProvider Time { get; }

    public LatencyTracker? Latency { get; }

    /// <summary>The user's own strategies around the whole call (RpcClientOptions.Resilience.AdditionalResilience), or null.</summary>
    public ResiliencePipeline? Outer { get; }

    /// <summary>True when a request that reached a handler may run again: idempotent, or deduplicated by the server.</summary>
    public bool SafeToRepeat => Idempotent || Deduplicate;

    public static CallState State(ResilienceContext context) => context.Properties.GetValue(s_stateKey, null!);

    public static void Attach(ResilienceContext context, CallState state) => context.Properties.Set(s_stateKey, state);

    /// <summary>
    /// Whether a failed attempt is retried, by the rules of docs/resilience.md. With <paramref name="commit"/> it also
    /// takes the retry from the budget and sets the delay; without, it only tells whether the retry path is worth entering.
    /// </summary>
    public bool ShouldRetry(CallState state, Exception error, int attemptNumber, bool commit)
    {
        if (Retry is null || error is not RpcException rpc || rpc.DoNotRetry || state.Committed || state.CancellationToken.IsCancellationRequested)
        {
            return false;
        }

        if (attemptNumber + 1 >= Retry.MaxAttempts)
        {
            return false;
        }

        if (!rpc.NotProcessed)
        {
            // The request reached a server: run it again only when that is safe and the failure is one a retry can fix.
            bool retryable = rpc.AttemptTimedOut || (rpc.StatusCode != RpcStatusCode.DeadlineExceeded && (_retryableMask & (1u << ((int)rpc.StatusCode & 31))) != 0);
            if (!retryable || !SafeToRepeat || state.ServingRetry)
            {
                return false;
            }
        }

        TimeSpan delay = rpc.RetryAfter ?? Backoff(attemptNumber);
        if (state.Deadline != long.MaxValue)
        {
            // Skip a retry the remaining time could not fit: the delay plus the method's typical (median) latency.
            long typical = Latency?.Quantile(0.5) ?? 0;
            long needed = Time.GetTimestamp() + (long)(delay.TotalSeconds * Time.TimestampFrequency) + typical;
            if (needed >= state.Deadline)
            {
                return false;
            }
        }

        if (!commit)
        {
            return true;
        }

        if (!Budget.TryWithdraw())
        {
            ResilienceTelemetry.RetryDenied(Method.FullName);
            return false;
        }

        state.NextDelay = delay;
        return true;
    }

    /// <summary>
    /// Whether a hedge may be sent now, by the same gates as a retry: the time left must fit a typical (median) call,
    /// and the retry budget must allow another attempt. A denial by the budget is counted.
    /// </summary>
    public bool MayHedge(CallState state)
    {
        long typical = Latency?.Quantile(0.5) ?? 0;
        if (state.Deadline != long.MaxValue && Time.GetTimestamp() + typical >= state.Deadline)
        {
            return false;
        }

        if (!Budget.TryWithdraw())
        {
            ResilienceTelemetry.RetryDenied(Method.FullName);
            return false;
        }

        ResilienceTelemetry.HedgeAllowed(Method.FullName);
        return true;
    }

    /// <summary>Whether a hedged attempt's failure should start the next hedge at once instead of waiting for the delay.</summary>
    public bool IsHedgeable(Exception error) => error is HedgeSkippedException || error is RpcException rpc && !rpc.DoNotRetry &&
        (rpc.NotProcessed || rpc.AttemptTimedOut || rpc.StatusCode is RpcStatusCode.Unavailable or RpcStatusCode.DeadlineExceeded ||
         (_retryableMask & (1u << ((int)rpc.StatusCode & 31))) != 0);

    /// <summary>Exponential backoff, capped, times U(0.8, 1.2) as gRPC's A6 specifies.</summary>
    public TimeSpan Backoff(int attemptNumber)
    {
        RpcRetryPolicy policy = Retry!;
        double milliseconds = Math.Min(policy.InitialBackoffMs * Math.Pow(policy.BackoffMultiplier, attemptNumber), policy.MaxBackoffMs);
        return TimeSpan.FromMilliseconds(milliseconds * (0.8 + (0.4 * Random.Shared.NextDouble())));
    }

    /// <summary>The method's observed p95 latency, or the configured delay while too few calls were seen.</summary>
    protected TimeSpan AdaptiveHedgingDelay() =>
        Latency?.Quantile(0.95) is long ticks
            ? TimeSpan.FromSeconds((double)ticks / Time.TimestampFrequency)
            : TimeSpan.FromMilliseconds(Hedging!.DelayMs);
}
