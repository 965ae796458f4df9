using System;

namespace RpcGen.Balancing;

/// <summary>
/// Passive outlier detection (Envoy's model) and the panic threshold. An endpoint is ejected after consecutive failures
/// (cannot connect, connection lost, <see cref="RpcStatusCode.Unavailable"/>, deadline exceeded) or when its success
/// rate falls far below the others'; it is re-admitted when its ejection time passes or an active ping succeeds.
/// </summary>
public sealed class OutlierDetectionOptions
{
    /// <summary>Whether endpoints are ejected at all. The default value is true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consecutive failures that eject an endpoint. The default value is 5.</summary>
    public int ConsecutiveFailures { get; set; } = 5;

    /// <summary>The first ejection's length; each repeat doubles it. The default value is 30 seconds.</summary>
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest ejection. The default value is 300 seconds.</summary>
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>
    /// The largest share of endpoints ejected at once, in percent; one endpoint of two or more may always be ejected.
    /// The default value is 50.
    /// </summary>
    public int MaxEjectionPercent { get; set; } = 50;

    /// <summary>
    /// When fewer than this percentage of endpoints are healthy, calls are balanced over all of them (healthy or not),
    /// rather than overloading the few that are left. The default value is 50.
    /// </summary>
    public int PanicThresholdPercent { get; set; } = 50;

    /// <summary>How often ejections are reviewed and ejected endpoints pinged. The default value is 1 second.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether ejected endpoints are pinged and re-admitted early when they answer. The default value is true.</summary>
    public bool ActiveHealthChecks { get; set; } = true;

    /// <summary>The window over which success rates are compared. The default value is 10 seconds.</summary>
    public TimeSpan SuccessRateInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Calls an endpoint needs in a window for its success rate to count. The default value is 100.</summary>
    public int SuccessRateMinimumRequests { get; set; } = 100;

    /// <summary>
    /// An endpoint is ejected when its success rate is below the mean minus this many standard deviations. The default
    /// value is 1.9.
    /// </summary>
    public double SuccessRateStdevFactor { get; set; } = 1.9;

    internal void Validate()
    {
        if (ConsecutiveFailures < 1 || MaxEjectionPercent is < 0 or > 100 || PanicThresholdPercent is < 0 or > 100 ||
            BaseEjectionTime <= TimeSpan.Zero || MaxEjectionTime < BaseEjectionTime || Interval <= TimeSpan.Zero ||
            SuccessRateInterval < Interval || SuccessRateMinimumRequests < 1 || SuccessRateStdevFactor <= 0)
        {
            throw new ArgumentException(
                "Invalid OutlierDetectionOptions: ConsecutiveFailures ≥ 1; percentages in 0–100; BaseEjectionTime > 0 and ≤ MaxEjectionTime; " +
                "Interval > 0 and ≤ SuccessRateInterval; SuccessRateMinimumRequests ≥ 1; SuccessRateStdevFactor > 0.");
        }
    }
}
