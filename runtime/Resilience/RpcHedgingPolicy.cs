using System;

namespace RpcGen.Resilience;

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
