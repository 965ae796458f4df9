using System;
using System.Collections.Generic;

namespace RpcGen.Balancing;

/// <summary>
/// How a client spreads calls over its endpoints and judges their health: strategy overrides, locality, the tuning of
/// the load-aware strategies, outlier detection and slow start (configuration section <c>Balancing</c>).
/// </summary>
public sealed class LoadBalancingOptions
{
    /// <summary>
    /// Strategy overrides without recompiling, keyed by service wire name (<c>"calc"</c>) or method
    /// (<c>"calc/Add"</c>); a method key wins over a service key, and both over the attributes.
    /// </summary>
    public IDictionary<string, LoadBalanceStrategy> Strategies { get; } = new Dictionary<string, LoadBalanceStrategy>(StringComparer.Ordinal);

    /// <summary>The client's own zone, for <see cref="LoadBalanceStrategy.LocalityAware"/>. The default value is none.</summary>
    public string? Zone { get; set; }

    /// <summary>
    /// Bounded-load factor c of <see cref="LoadBalanceStrategy.ConsistentHash"/>: an endpoint with more than c × the
    /// average calls in flight passes keys on. <see cref="double.PositiveInfinity"/> turns bounding off. The default value is 1.25.
    /// </summary>
    public double ConsistentHashLoadFactor { get; set; } = 1.25;

    /// <summary>How fast <see cref="LoadBalanceStrategy.PeakEwma"/>'s latency average forgets. The default value is 10 seconds.</summary>
    public TimeSpan PeakEwmaDecay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How much of a priority group's health counts for its share of calls (Envoy's overprovisioning factor): a group
    /// whose healthy endpoints, times this factor, are all of it takes every call; below that, the rest spills to
    /// the next group. With 1.4, a primary group keeps all calls until more than about 29 % of it is ejected. Only
    /// matters when endpoints have different <see cref="RpcEndpoint.Priority"/>. The default value is 1.4.
    /// </summary>
    public double PriorityOverprovisioningFactor { get; set; } = 1.4;

    /// <summary>Ejection of failing endpoints and the panic threshold.</summary>
    public OutlierDetectionOptions OutlierDetection { get; } = new();

    /// <summary>Warm-up of endpoints added at run time or re-admitted.</summary>
    public SlowStartOptions SlowStart { get; } = new();

    /// <summary>
    /// The random source of the random strategies. Code only (not read from configuration). The default value is
    /// <see cref="System.Random.Shared"/>; a seeded <see cref="System.Random"/> is not thread-safe, so pass one only in
    /// single-threaded tests.
    /// </summary>
    public Random? Random { get; set; }

    internal void Validate()
    {
        foreach (KeyValuePair<string, LoadBalanceStrategy> entry in Strategies)
        {
            if (!Enum.IsDefined(entry.Value))
            {
                throw new ArgumentOutOfRangeException(nameof(Strategies), entry.Value,
                    $"Balancing.Strategies[\"{entry.Key}\"] is {(int)entry.Value}, not a load-balancing strategy; use one of {string.Join(", ", Enum.GetNames<LoadBalanceStrategy>())}.");
            }
        }

        if (!(PriorityOverprovisioningFactor >= 1) || double.IsInfinity(PriorityOverprovisioningFactor))
        {
            throw new ArgumentOutOfRangeException(nameof(PriorityOverprovisioningFactor), PriorityOverprovisioningFactor, "Balancing.PriorityOverprovisioningFactor must be a number of at least 1 (1.4 is the usual value).");
        }

        if (!(ConsistentHashLoadFactor >= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ConsistentHashLoadFactor), ConsistentHashLoadFactor, "Balancing.ConsistentHashLoadFactor must be at least 1 (or infinity to turn bounding off).");
        }

        if (PeakEwmaDecay <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(PeakEwmaDecay), PeakEwmaDecay, "Balancing.PeakEwmaDecay must be positive.");
        }

        OutlierDetection.Validate();
        SlowStart.Validate();
    }
}
