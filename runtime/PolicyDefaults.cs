namespace RpcGen;

/// <summary>
/// The defaults of the resilience attributes, in one place: the attributes (this layer) and the policy objects
/// (<c>RpcGen.Resilience</c>, built from attributes and configuration) both read them.
/// </summary>
internal static class PolicyDefaults
{
    public const int RetryMaxAttempts = 3;
    public const int RetryInitialBackoffMs = 100;
    public const int RetryMaxBackoffMs = 1000;
    public const double RetryBackoffMultiplier = 2;

    public const int HedgingMaxAttempts = 2;
    public const int HedgingDelayMs = 50;

    public const double BreakerFailureRatio = 0.5;
    public const int BreakerMinimumThroughput = 20;
    public const int BreakerSamplingDurationMs = 10_000;
    public const int BreakerBreakDurationMs = 5_000;
}
