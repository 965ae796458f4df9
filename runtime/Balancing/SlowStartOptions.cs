using System;

namespace RpcGen.Balancing;

/// <summary>
/// Slow start: an endpoint added at run time or re-admitted after an ejection gets a growing share of calls over a
/// window, so a cold server is not flooded (Envoy's curve).
/// </summary>
public sealed class SlowStartOptions
{
    /// <summary>The warm-up window; zero turns slow start off. The default value is 10 seconds.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The curve's shape: 1 is linear, larger values ramp faster at first. The default value is 1.</summary>
    public double Aggression { get; set; } = 1.0;

    /// <summary>The weight an endpoint starts with, in percent of its full weight. The default value is 10.</summary>
    public double MinimumWeightPercent { get; set; } = 10;

    internal void Validate()
    {
        if (Window < TimeSpan.Zero || Aggression <= 0 || MinimumWeightPercent is <= 0 or > 100)
        {
            throw new ArgumentException("Invalid SlowStartOptions: Window ≥ 0, Aggression > 0, MinimumWeightPercent in (0, 100].");
        }
    }
}
