using System;
using System.Threading;
using RpcGen.Balancing.Internal;

namespace RpcGen.Balancing;

/// <summary>
/// One endpoint as one client's balancers see it: calls in flight, the server's reported load, latency, weight with
/// slow start, and health. Its connection is the client's business (an internal subclass in RpcGen.Client); nothing
/// here knows how calls travel.
/// </summary>
public class RpcEndpointState
{
    private readonly EndpointLoadSettings _settings;
    private int _inFlight;
    private int _serverInFlight;
    private int _othersInFlight;
    private int _serverUtilizationBasisPoints = -1;
    private long _serverReportTimestamp;
    private readonly object _latencyLock = new();
    private double _latencyEwmaTicks;
    private long _latencyStamp;
    private long _slowStartBegin;
    private long _slowStartEnd;
    private volatile RpcEndpoint _endpoint;
    private Telemetry.LatencyWindow? _live;

    private protected RpcEndpointState(EndpointLoadSettings settings, RpcEndpoint endpoint, int id)
    {
        _settings = settings;
        _endpoint = endpoint;
        Id = id;
        Health = new EndpointHealth();
    }

    /// <summary>The endpoint's address and metadata (weight, zone, tags); metadata may change at run time.</summary>
    public RpcEndpoint Endpoint => _endpoint;

    /// <summary>A number unique among this client's endpoints, stable for the client's life.</summary>
    public int Id { get; }

    /// <summary>Calls this client has in flight to the endpoint.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Calls in flight on the server (from all its clients) as it last reported in a response, or -1 when it has not
    /// reported for a second.
    /// </summary>
    public int ServerInFlight =>
        _settings.TimeProvider.GetElapsedTime(Volatile.Read(ref _serverReportTimestamp)) < ServerReportLifetime
            ? Volatile.Read(ref _serverInFlight)
            : -1;

    /// <summary>The utilization (0 to 1) the server's application last reported, or NaN when none.</summary>
    public double ServerUtilization
    {
        get
        {
            int basisPoints = Volatile.Read(ref _serverUtilizationBasisPoints);
            return basisPoints < 0 ? double.NaN : basisPoints / 10_000.0;
        }
    }

    /// <summary>
    /// The load that load-aware strategies compare: this client's calls in flight now, plus the calls of other clients
    /// as the server last reported them (its figure minus this client's share at that moment; reports older than a
    /// second are ignored), raised by the server's reported utilization. Taking only the others' part from the report
    /// keeps a stale report from hiding this client's own, current, count.
    /// </summary>
    public double Load
    {
        get
        {
            double load = InFlight;
            long reported = Volatile.Read(ref _serverReportTimestamp);
            if (reported != 0 && _settings.TimeProvider.GetElapsedTime(reported) < ServerReportLifetime)
            {
                load += Volatile.Read(ref _othersInFlight);
                int utilization = Volatile.Read(ref _serverUtilizationBasisPoints);
                if (utilization > 0)
                {
                    load *= 1 + (utilization / 10_000.0);
                }
            }

            return load;
        }
    }

    /// <summary>True while the endpoint is ejected by outlier detection.</summary>
    public bool IsEjected => Health.IsEjected;

    /// <summary>True once the endpoint was removed from the client's set; it takes no new calls and drains.</summary>
    public bool IsRemoved { get; internal set; }

    internal EndpointHealth Health { get; }

    /// <summary>Attempts on this endpoint while the admin page watches (<see cref="Telemetry.LiveStats"/>); null before.</summary>
    internal Telemetry.LatencyWindow? Live => Volatile.Read(ref _live);

    internal static readonly TimeSpan ServerReportLifetime = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The endpoint's weight at <paramref name="timestamp"/>: its configured weight, scaled down during slow start after
    /// it was added or re-admitted (Envoy's curve: max(minimum, elapsed/window ^ (1/aggression))).
    /// </summary>
    public double GetWeight(long timestamp)
    {
        double weight = _endpoint.Weight;
        long end = Volatile.Read(ref _slowStartEnd);
        if (timestamp >= end)
        {
            return weight;
        }

        long begin = Volatile.Read(ref _slowStartBegin);
        SlowStartOptions slowStart = _settings.SlowStart;
        double progress = Math.Clamp((double)(timestamp - begin) / Math.Max(1, end - begin), 0, 1);
        double factor = Math.Max(slowStart.MinimumWeightPercent / 100.0, Math.Pow(progress, 1 / slowStart.Aggression));
        return weight * factor;
    }

    /// <summary>
    /// The peak-sensitive EWMA of response times in seconds at <paramref name="timestamp"/>, decayed towards zero since
    /// the last observation so that an idle endpoint becomes attractive again; 0 before the first response. Kept only
    /// while a PeakEwma or custom balancer serves some method of the client.
    /// </summary>
    public double GetLatencyEwma(long timestamp)
    {
        double ewma = Volatile.Read(ref _latencyEwmaTicks);
        if (ewma == 0)
        {
            return 0;
        }

        long stamp = Volatile.Read(ref _latencyStamp);
        double elapsed = Math.Max(0, timestamp - stamp);
        double tau = _settings.PeakEwmaDecay.TotalSeconds * _settings.TimeProvider.TimestampFrequency;
        return ewma * Math.Exp(-elapsed / tau) / _settings.TimeProvider.TimestampFrequency;
    }

    internal void BeginSlowStart(long now)
    {
        TimeSpan window = _settings.SlowStart.Window;
        if (window <= TimeSpan.Zero)
        {
            return;
        }

        Volatile.Write(ref _slowStartBegin, now);
        Volatile.Write(ref _slowStartEnd, now + (long)(window.TotalSeconds * _settings.TimeProvider.TimestampFrequency));
    }

    internal void UpdateEndpoint(RpcEndpoint endpoint) => _endpoint = endpoint;

    internal void CallStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>Records the end of an attempt: in-flight count and latency (successes only); health is the monitor's.</summary>
    internal void CallEnded(long startTimestamp, long endTimestamp, CallOutcome outcome)
    {
        Interlocked.Decrement(ref _inFlight);
        if (Telemetry.LiveStats.Enabled)
        {
            RecordLive(startTimestamp, endTimestamp, outcome);
        }

        if (outcome == CallOutcome.Success && _settings.TracksLatency)
        {
            ObserveLatency(endTimestamp - startTimestamp, endTimestamp);
        }
    }

    /// <summary>
    /// The attempt in the admin page's window, timed by the timestamps the balancer took anyway when the client's clock is
    /// the system's (Stopwatch ticks); with another clock (a test's), by a Stopwatch read now.
    /// </summary>
    private void RecordLive(long startTimestamp, long endTimestamp, CallOutcome outcome)
    {
        long elapsed = endTimestamp - startTimestamp;
        if (_settings.TimeProvider != TimeProvider.System)
        {
            elapsed = (long)(elapsed * ((double)System.Diagnostics.Stopwatch.Frequency / _settings.TimeProvider.TimestampFrequency));
            endTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        Telemetry.LatencyWindow.GetOrCreate(ref _live, keepRecent: true)
            .RecordTicks(elapsed, (int)outcome, outcome is CallOutcome.Failure or CallOutcome.ConnectFailure, endTimestamp);
    }

    internal void ObserveLatency(long rttTicks, long now)
    {
        lock (_latencyLock)
        {
            double ewma = _latencyEwmaTicks;
            if (rttTicks > ewma)
            {
                ewma = rttTicks; // peak: jump up at once
            }
            else
            {
                double tau = _settings.PeakEwmaDecay.TotalSeconds * _settings.TimeProvider.TimestampFrequency;
                double w = Math.Exp(-Math.Max(0, now - _latencyStamp) / tau);
                ewma = (ewma * w) + (rttTicks * (1 - w));
            }

            Volatile.Write(ref _latencyEwmaTicks, ewma);
            Volatile.Write(ref _latencyStamp, now);
        }
    }

    /// <summary>
    /// Takes the load report a server attaches to its responses; <paramref name="receivedAt"/> is when the read that
    /// carried it completed, on the client's clock (the connection read it already: no clock read per response).
    /// </summary>
    internal void OnServerLoad(int inFlight, int utilizationBasisPoints, long receivedAt)
    {
        Volatile.Write(ref _serverInFlight, inFlight);
        Volatile.Write(ref _othersInFlight, Math.Max(0, inFlight - InFlight));
        Volatile.Write(ref _serverUtilizationBasisPoints, utilizationBasisPoints);
        Volatile.Write(ref _serverReportTimestamp, receivedAt);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Endpoint} (in flight {InFlight}{(IsEjected ? ", ejected" : string.Empty)})";
}
