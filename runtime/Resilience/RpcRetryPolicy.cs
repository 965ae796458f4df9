using System;
using RpcGen.Protocol;

namespace RpcGen.Resilience;

/// <summary>
/// How a method's failed calls are retried: what <see cref="RetryAttribute"/> says, or what options and configuration
/// override it with. Validated when a client first uses the method.
/// </summary>
public sealed class RpcRetryPolicy
{
    internal const int DefaultMaxAttempts = PolicyDefaults.RetryMaxAttempts;
    internal const int DefaultInitialBackoffMs = PolicyDefaults.RetryInitialBackoffMs;
    internal const int DefaultMaxBackoffMs = PolicyDefaults.RetryMaxBackoffMs;
    internal const double DefaultBackoffMultiplier = PolicyDefaults.RetryBackoffMultiplier;

    /// <summary>Attempts in all, the first one included. The default value is 3.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>The delay before the first retry, in milliseconds, before jitter. The default value is 100.</summary>
    public int InitialBackoffMs { get; set; } = DefaultInitialBackoffMs;

    /// <summary>The longest delay between attempts, in milliseconds, before jitter. The default value is 1000.</summary>
    public int MaxBackoffMs { get; set; } = DefaultMaxBackoffMs;

    /// <summary>How much each delay grows over the one before. The default value is 2.</summary>
    public double BackoffMultiplier { get; set; } = DefaultBackoffMultiplier;

    /// <summary>The deadline of each attempt in milliseconds, within the call's overall timeout; 0 for none (the default).</summary>
    public int PerAttemptTimeoutMs { get; set; }

    /// <summary>The status codes that are retried; null means <see cref="RpcStatusCode.Unavailable"/> only (the default).</summary>
    public RpcStatusCode[]? RetryableStatusCodes { get; set; }

    /// <summary>A copy, so that overriding one method's policy never changes another's.</summary>
    public RpcRetryPolicy Clone() => new()
    {
        MaxAttempts = MaxAttempts,
        InitialBackoffMs = InitialBackoffMs,
        MaxBackoffMs = MaxBackoffMs,
        BackoffMultiplier = BackoffMultiplier,
        PerAttemptTimeoutMs = PerAttemptTimeoutMs,
        RetryableStatusCodes = RetryableStatusCodes is null ? null : (RpcStatusCode[])RetryableStatusCodes.Clone(),
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="where"/> when a value cannot work.</summary>
    public void Validate(string where)
    {
        Require(MaxAttempts >= 1, where, nameof(MaxAttempts), MaxAttempts, "at least 1 (1 means no retries)");
        Require(InitialBackoffMs >= 0, where, nameof(InitialBackoffMs), InitialBackoffMs, "0 or more");
        Require(MaxBackoffMs >= InitialBackoffMs, where, nameof(MaxBackoffMs), MaxBackoffMs, $"at least {nameof(InitialBackoffMs)} ({InitialBackoffMs})");
        Require(BackoffMultiplier >= 1 && !double.IsInfinity(BackoffMultiplier), where, nameof(BackoffMultiplier), BackoffMultiplier, "1 or more");
        Require(PerAttemptTimeoutMs >= 0, where, nameof(PerAttemptTimeoutMs), PerAttemptTimeoutMs, "0 (none) or more");
    }

    /// <summary>A bit per retryable status code.</summary>
    internal uint RetryableMask()
    {
        if (RetryableStatusCodes is null)
        {
            return 1u << (int)RpcStatusCode.Unavailable;
        }

        uint mask = 0;
        foreach (RpcStatusCode code in RetryableStatusCodes)
        {
            if ((int)code < 32)
            {
                mask |= 1u << (int)code;
            }
        }

        return mask;
    }

    internal static void Require(bool condition, string where, string name, object value, string expected)
    {
        if (!condition)
        {
            throw new ArgumentException($"{where}: {name} is {value}; it must be {expected}.", name);
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"MaxAttempts={MaxAttempts}, InitialBackoffMs={InitialBackoffMs}, MaxBackoffMs={MaxBackoffMs}, BackoffMultiplier={BackoffMultiplier}, PerAttemptTimeoutMs={PerAttemptTimeoutMs}";
}

/// <summary>How a method's calls are hedged: what <see cref="HedgingAttribute"/> says, or what overrides it.</summary>
public sealed class RpcHedgingPolicy
{
    internal const int DefaultMaxAttempts = PolicyDefaults.HedgingMaxAttempts;
    internal const int DefaultDelayMs = PolicyDefaults.HedgingDelayMs;

    /// <summary>Attempts in all, the first one included. The default value is 2.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>How long to wait for an answer before the next attempt, in milliseconds. The default value is 50.</summary>
    public int DelayMs { get; set; } = DefaultDelayMs;

    /// <summary>Wait for the method's observed 95th-percentile latency instead of <see cref="DelayMs"/>. The default value is false.</summary>
    public bool AdaptiveDelay { get; set; }

    /// <summary>A copy.</summary>
    public RpcHedgingPolicy Clone() => new() { MaxAttempts = MaxAttempts, DelayMs = DelayMs, AdaptiveDelay = AdaptiveDelay };

    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="where"/> when a value cannot work.</summary>
    public void Validate(string where)
    {
        RpcRetryPolicy.Require(MaxAttempts >= 1 && MaxAttempts <= 10, where, nameof(MaxAttempts), MaxAttempts, "between 1 and 10");
        RpcRetryPolicy.Require(DelayMs >= 0, where, nameof(DelayMs), DelayMs, "0 (all attempts at once) or more");
    }

    /// <inheritdoc />
    public override string ToString() => $"MaxAttempts={MaxAttempts}, DelayMs={DelayMs}, AdaptiveDelay={AdaptiveDelay}";
}

/// <summary>Per-endpoint circuit breaking: what <see cref="CircuitBreakerAttribute"/> says, or what overrides it.</summary>
public sealed class RpcCircuitBreakerPolicy
{
    internal const double DefaultFailureRatio = PolicyDefaults.BreakerFailureRatio;
    internal const int DefaultMinimumThroughput = PolicyDefaults.BreakerMinimumThroughput;
    internal const int DefaultSamplingDurationMs = PolicyDefaults.BreakerSamplingDurationMs;
    internal const int DefaultBreakDurationMs = PolicyDefaults.BreakerBreakDurationMs;

    /// <summary>The failure share that opens a circuit, in (0, 1]. The default value is 0.5.</summary>
    public double FailureRatio { get; set; } = DefaultFailureRatio;

    /// <summary>The calls an endpoint must have had in the window before its circuit can open. The default value is 20.</summary>
    public int MinimumThroughput { get; set; } = DefaultMinimumThroughput;

    /// <summary>The window failures are counted over, in milliseconds. The default value is 10000.</summary>
    public int SamplingDurationMs { get; set; } = DefaultSamplingDurationMs;

    /// <summary>How long an open circuit stays open before a probe, in milliseconds. The default value is 5000.</summary>
    public int BreakDurationMs { get; set; } = DefaultBreakDurationMs;

    /// <summary>True when each method has circuits of its own (the attribute was on the method), false for the service's.</summary>
    public bool PerMethod { get; set; }

    /// <summary>A copy.</summary>
    public RpcCircuitBreakerPolicy Clone() => new()
    {
        FailureRatio = FailureRatio,
        MinimumThroughput = MinimumThroughput,
        SamplingDurationMs = SamplingDurationMs,
        BreakDurationMs = BreakDurationMs,
        PerMethod = PerMethod,
    };

    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="where"/> when a value cannot work.</summary>
    public void Validate(string where)
    {
        RpcRetryPolicy.Require(FailureRatio > 0 && FailureRatio <= 1, where, nameof(FailureRatio), FailureRatio, "in (0, 1]");
        RpcRetryPolicy.Require(MinimumThroughput >= 1, where, nameof(MinimumThroughput), MinimumThroughput, "at least 1");
        RpcRetryPolicy.Require(SamplingDurationMs >= 100, where, nameof(SamplingDurationMs), SamplingDurationMs, "at least 100");
        RpcRetryPolicy.Require(BreakDurationMs >= 1, where, nameof(BreakDurationMs), BreakDurationMs, "at least 1");
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"FailureRatio={FailureRatio}, MinimumThroughput={MinimumThroughput}, SamplingDurationMs={SamplingDurationMs}, BreakDurationMs={BreakDurationMs}, PerMethod={PerMethod}";
}
