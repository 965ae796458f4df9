using System;

namespace RpcGen;

/// <summary>
/// The method can run more than once with the same effect as once, so RpcGen may retry or hedge it after its request
/// was sent. On the interface it marks every method. Methods without it (and without <see cref="DeduplicateAttribute"/>)
/// are only retried when their request provably never reached a handler, whatever <see cref="RetryAttribute"/> says.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class IdempotentAttribute : Attribute
{
}

/// <summary>
/// The method only reads: calling it changes nothing a caller could observe (Connect's <c>NO_SIDE_EFFECTS</c>, HTTP's
/// safe methods). It implies <see cref="IdempotentAttribute"/>, and the HTTP gateway also serves it on <c>GET</c>, with
/// its arguments in the query string, so browsers, caches and crawlers may call it freely: put it only on methods
/// whose repetition, prefetching or caching is harmless. On the interface it marks every method.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class NoSideEffectsAttribute : Attribute
{
}

/// <summary>
/// Retries failed calls with capped exponential backoff and jitter, each retry on another endpoint when there is one
/// (Dubbo's failover). On the interface it applies to every method; on a method it replaces the interface's.
/// <c>[Retry(MaxAttempts = 1)]</c> turns retries off for one method (Dubbo's failfast). See docs/resilience.md.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class RetryAttribute : Attribute
{
    /// <summary>Attempts in all, the first one included. The default value is 3.</summary>
    public int MaxAttempts { get; set; } = PolicyDefaults.RetryMaxAttempts;

    /// <summary>The delay before the first retry, in milliseconds, before jitter. The default value is 100.</summary>
    public int InitialBackoffMs { get; set; } = PolicyDefaults.RetryInitialBackoffMs;

    /// <summary>The longest delay between attempts, in milliseconds, before jitter. The default value is 1000.</summary>
    public int MaxBackoffMs { get; set; } = PolicyDefaults.RetryMaxBackoffMs;

    /// <summary>How much each delay grows over the one before. The default value is 2.</summary>
    public double BackoffMultiplier { get; set; } = PolicyDefaults.RetryBackoffMultiplier;

    /// <summary>The deadline of each attempt in milliseconds, within the call's overall timeout; 0 for none (the default).</summary>
    public int PerAttemptTimeoutMs { get; set; }

    /// <summary>The status codes that are retried. The default is <see cref="RpcStatusCode.Unavailable"/> only.</summary>
    public RpcStatusCode[]? RetryableStatusCodes { get; set; }
}

/// <summary>
/// Sends the call again to another endpoint when no answer came within <see cref="DelayMs"/>; the first success wins
/// and the other attempts are cancelled on their servers. Only for <see cref="IdempotentAttribute"/> methods.
/// <c>DelayMs = 0</c> sends all attempts at once (Dubbo's forking).
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class HedgingAttribute : Attribute
{
    /// <summary>Attempts in all, the first one included. The default value is 2.</summary>
    public int MaxAttempts { get; set; } = PolicyDefaults.HedgingMaxAttempts;

    /// <summary>How long to wait for an answer before the next attempt, in milliseconds. The default value is 50.</summary>
    public int DelayMs { get; set; } = PolicyDefaults.HedgingDelayMs;

    /// <summary>
    /// Wait for the method's observed 95th-percentile latency instead of <see cref="DelayMs"/> (which is used until
    /// enough calls were seen). The default value is false.
    /// </summary>
    public bool AdaptiveDelay { get; set; }
}

/// <summary>
/// A circuit breaker for each endpoint: when the share of failed calls over the sampling window reaches
/// <see cref="FailureRatio"/> (after at least <see cref="MinimumThroughput"/> calls), the balancer skips the endpoint for
/// <see cref="BreakDurationMs"/>, then lets one probe call through; when every circuit is open the call fails at once
/// with <see cref="RpcStatusCode.Unavailable"/>. On a method the circuits count that method's calls only; on the
/// interface they count all the service's calls.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class CircuitBreakerAttribute : Attribute
{
    /// <summary>The failure share that opens a circuit, in (0, 1]. The default value is 0.5.</summary>
    public double FailureRatio { get; set; } = PolicyDefaults.BreakerFailureRatio;

    /// <summary>The calls an endpoint must have had in the window before its circuit can open. The default value is 20.</summary>
    public int MinimumThroughput { get; set; } = PolicyDefaults.BreakerMinimumThroughput;

    /// <summary>The window failures are counted over, in milliseconds. The default value is 10000.</summary>
    public int SamplingDurationMs { get; set; } = PolicyDefaults.BreakerSamplingDurationMs;

    /// <summary>How long an open circuit stays open before a probe, in milliseconds. The default value is 5000.</summary>
    public int BreakDurationMs { get; set; } = PolicyDefaults.BreakerBreakDurationMs;
}

/// <summary>
/// Calls every available endpoint (Dubbo's broadcast), for example to invalidate caches. The call succeeds when every
/// endpoint succeeds; otherwise it fails with an <see cref="RpcBroadcastException"/> that lists each endpoint's error.
/// A result, if the method has one, is the first endpoint's in endpoint order.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class BroadcastAttribute : Attribute
{
}

/// <summary>
/// At most once: each call carries an id that stays the same across its retries, and the server keeps a bounded window
/// of recent ids and answers a repeated id with the first attempt's result instead of running the handler again. This
/// makes retrying a method that is not idempotent safe. On the interface it marks every method.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class DeduplicateAttribute : Attribute
{
}
