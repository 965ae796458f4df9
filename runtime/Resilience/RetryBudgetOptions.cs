using System;

namespace RpcGen.Resilience;

/// <summary>
/// Caps retries and hedged attempts across a client (Finagle's retry budget, gRPC's retry throttling): over
/// <see cref="Window"/>, extra attempts may be at most <see cref="Ratio"/> × calls + <see cref="MinRetriesPerSecond"/> ×
/// the window's seconds. Transparent retries of requests that never reached a server are not counted.
/// </summary>
public sealed class RetryBudgetOptions
{
    /// <summary>Extra attempts allowed per call made. The default value is 0.2 (retries add at most 20% load).</summary>
    public double Ratio { get; set; } = 0.2;

    /// <summary>Extra attempts always allowed per second, so a client making few calls can still retry. The default value is 10.</summary>
    public double MinRetriesPerSecond { get; set; } = 10;

    /// <summary>The window calls and retries are counted over. The default value is 10 seconds.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        if (!(Ratio >= 0) || !(MinRetriesPerSecond >= 0) || Window < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException("RetryBudget", "RetryBudget: Ratio and MinRetriesPerSecond must be 0 or more, and Window at least 1 second.");
        }
    }
}
