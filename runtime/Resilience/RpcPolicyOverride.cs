namespace RpcGen.Resilience;

/// <summary>
/// Overrides a service's or a method's resilience attributes without recompiling (see
/// <see cref="ResilienceOptions.Policies"/>). Each property that is set replaces what the attributes say; null keeps it.
/// </summary>
public sealed class RpcPolicyOverride
{
    /// <summary>The overall deadline in milliseconds; 0 removes it.</summary>
    public int? TimeoutMs { get; set; }

    /// <summary>Whether the method may be retried or hedged after its request was sent.</summary>
    public bool? Idempotent { get; set; }

    /// <summary>Whether the method's retries carry a call id the server deduplicates.</summary>
    public bool? Deduplicate { get; set; }

    /// <summary>The retry policy; <c>MaxAttempts = 1</c> turns retries off.</summary>
    public RpcRetryPolicy? Retry { get; set; }

    /// <summary>The hedging policy; <c>MaxAttempts = 1</c> turns hedging off.</summary>
    public RpcHedgingPolicy? Hedging { get; set; }

    /// <summary>The circuit breaker policy.</summary>
    public RpcCircuitBreakerPolicy? CircuitBreaker { get; set; }
}
