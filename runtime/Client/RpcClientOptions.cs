using System;
using System.Collections.Generic;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;
using RpcGen.Descriptors;
using RpcGen.Resilience;

namespace RpcGen.Client;

/// <summary>How an <see cref="RpcClient"/> connects and calls.</summary>
public sealed class RpcClientOptions
{
    /// <summary>The servers to call (with their weights and zones), when they are fixed.</summary>
    public IList<RpcEndpoint> Endpoints { get; } = new List<RpcEndpoint>();

    /// <summary>
    /// A feed of endpoints that may change at run time; used instead of <see cref="Endpoints"/> when set. The default
    /// value is none.
    /// </summary>
    public IRpcEndpointSource? EndpointSource { get; set; }

    /// <summary>
    /// Strategy overrides without recompiling, keyed by service wire name (<c>"calc"</c>) or method
    /// (<c>"calc/Add"</c>); a method key wins over a service key, and both over the attributes.
    /// </summary>
    public IDictionary<string, LoadBalanceStrategy> LoadBalancing { get; } = new Dictionary<string, LoadBalanceStrategy>(StringComparer.Ordinal);

    /// <summary>
    /// Resilience overrides without recompiling, keyed by service wire name (<c>"orders"</c>) or method
    /// (<c>"orders/Get"</c>); a method key wins over a service key, and both over the attributes.
    /// </summary>
    public IDictionary<string, RpcPolicyOverride> Policies { get; } = new Dictionary<string, RpcPolicyOverride>(StringComparer.Ordinal);

    /// <summary>The cap on retries and hedges across this client (Finagle's retry budget).</summary>
    public RetryBudgetOptions RetryBudget { get; } = new();

    /// <summary>
    /// Your own Polly.Core strategies (rate limiting, a custom timeout, telemetry…) around every call of a method,
    /// retries included; return null for methods that need none. Called once per method and client. The default value is none.
    /// </summary>
    public Func<RpcMethodDescriptor, Polly.ResiliencePipeline?>? AdditionalResilience { get; set; }

    /// <summary>The client's own zone, for <see cref="LoadBalanceStrategy.LocalityAware"/>. The default value is none.</summary>
    public string? Zone { get; set; }

    /// <summary>
    /// Bounded-load factor c of <see cref="LoadBalanceStrategy.ConsistentHash"/>: an endpoint with more than c × the
    /// average calls in flight passes keys on. <see cref="double.PositiveInfinity"/> turns bounding off. The default value is 1.25.
    /// </summary>
    public double ConsistentHashLoadFactor { get; set; } = 1.25;

    /// <summary>How fast <see cref="LoadBalanceStrategy.PeakEwma"/>'s latency average forgets. The default value is 10 seconds.</summary>
    public TimeSpan PeakEwmaDecay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Ejection of failing endpoints and the panic threshold.</summary>
    public OutlierDetectionOptions OutlierDetection { get; } = new();

    /// <summary>Warm-up of endpoints added at run time or re-admitted.</summary>
    public SlowStartOptions SlowStart { get; } = new();

    /// <summary>
    /// The random source of the random strategies. The default value is <see cref="System.Random.Shared"/>; a seeded
    /// <see cref="System.Random"/> is not thread-safe, so pass one only in single-threaded tests.
    /// </summary>
    public Random? Random { get; set; }

    /// <summary>
    /// Serializer options for arguments and results. Pass options whose <c>TypeInfoResolver</c> is a source-generated
    /// <c>JsonSerializerContext</c> for trimming and Native AOT. The default value is <see cref="JsonSerializerDefaults.Web"/> options.
    /// </summary>
    public JsonSerializerOptions? SerializerOptions { get; set; }

    /// <summary>The largest frame sent or accepted, in bytes. The default value is 4 MiB.</summary>
    public int MaxFrameSize { get; set; } = Protocol.ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>How long connecting and the protocol handshake may take. The default value is 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The deadline of a call whose method and service have no <c>[Timeout]</c> and no <c>TimeoutMs</c> override, so that
    /// no call waits forever on a server that keeps its connection alive but never answers. 30 seconds: far above any
    /// healthy call, short enough that a stuck one is noticed (gRPC has no default; Dubbo's is 1 s, which is too short for
    /// slow but healthy work). <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> turns it off. The default value is 30 seconds.
    /// </summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first wait before reconnecting to an endpoint that could not be reached. The default value is 100 ms.</summary>
    public TimeSpan ReconnectBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between reconnection attempts. The default value is 5 seconds.</summary>
    public TimeSpan MaxReconnectBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A connection from which nothing has arrived for this long is pinged; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> turns
    /// keepalive off. The default value is 30 seconds.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a keepalive ping may wait for its pong before the connection is judged dead and closed (its calls fail
    /// with Unavailable and the next call reconnects). The default value is 10 seconds.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock for deadlines and backoff. The default value is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where connection events are logged. The default value is none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal void Validate()
    {
        if (Endpoints.Count == 0 && EndpointSource is null)
        {
            throw new ArgumentException("RpcClientOptions.Endpoints is empty: add at least one server endpoint, or set EndpointSource.", nameof(Endpoints));
        }

        if (!(ConsistentHashLoadFactor >= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ConsistentHashLoadFactor), ConsistentHashLoadFactor, "ConsistentHashLoadFactor must be at least 1 (or infinity to turn bounding off).");
        }

        if (PeakEwmaDecay <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(PeakEwmaDecay), PeakEwmaDecay, "PeakEwmaDecay must be positive.");
        }

        if ((KeepAliveInterval <= TimeSpan.Zero && KeepAliveInterval != System.Threading.Timeout.InfiniteTimeSpan) || KeepAliveTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAliveInterval), KeepAliveInterval, "KeepAliveInterval must be positive (or infinite) and KeepAliveTimeout positive.");
        }

        OutlierDetection.Validate();
        RetryBudget.Validate();
        SlowStart.Validate();

        if (MaxFrameSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameSize), MaxFrameSize, "MaxFrameSize must be at least 1024 bytes.");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "ConnectTimeout must be positive.");
        }

        if ((DefaultTimeout <= TimeSpan.Zero && DefaultTimeout != System.Threading.Timeout.InfiniteTimeSpan) || DefaultTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(DefaultTimeout), DefaultTimeout, "DefaultTimeout must be positive (at most int.MaxValue ms), or Timeout.InfiniteTimeSpan for no default deadline.");
        }

        if (ReconnectBackoff <= TimeSpan.Zero || MaxReconnectBackoff < ReconnectBackoff)
        {
            throw new ArgumentOutOfRangeException(nameof(ReconnectBackoff), ReconnectBackoff, "ReconnectBackoff must be positive and not above MaxReconnectBackoff.");
        }
    }
}
