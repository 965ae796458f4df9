using System;

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
