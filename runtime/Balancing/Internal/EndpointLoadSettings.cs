using System;
using System.Threading;

namespace RpcGen.Balancing.Internal;

/// <summary>
/// What the load views of one client's endpoints share: the clock, the slow-start curve, the latency decay, and whether
/// latency is kept at all (only once a balancer that reads it serves a method: it costs a lock and an exponential per call).
/// </summary>
internal sealed class EndpointLoadSettings
{
    private bool _tracksLatency;

    public EndpointLoadSettings(TimeProvider timeProvider, SlowStartOptions slowStart, TimeSpan peakEwmaDecay)
    {
        TimeProvider = timeProvider;
        SlowStart = slowStart;
        PeakEwmaDecay = peakEwmaDecay;
    }

    public TimeProvider TimeProvider { get; }

    public SlowStartOptions SlowStart { get; }

    public TimeSpan PeakEwmaDecay { get; }

    /// <summary>True once a balancer that reads latency (PeakEwma, or a user's own) serves a method.</summary>
    public bool TracksLatency => Volatile.Read(ref _tracksLatency);

    public void TrackLatency() => Volatile.Write(ref _tracksLatency, true);
}
