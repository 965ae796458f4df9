using System;

namespace RpcGen.Resilience;

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
