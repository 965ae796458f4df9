using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RpcGen.Telemetry;

/// <summary>
/// The <c>RpcGen</c> meter (System.Diagnostics.Metrics: OpenTelemetry, dotnet-counters and Prometheus exporters read
/// it). Call instruments follow the OpenTelemetry RPC conventions: <c>rpc.client.call.duration</c> and
/// <c>rpc.server.call.duration</c> (seconds, with the recommended bucket boundaries), request and response sizes, tagged
/// <c>rpc.system</c> = <c>rpcgen</c>, <c>rpc.service</c>, <c>rpc.method</c>, <c>rpc.rpcgen.status_code</c> and, on the
/// client, <c>server.address</c> / <c>server.port</c>; then calls in flight, what resilience did (retries, hedges,
/// budget refusals, circuits opened), the server's refusals, and the balancer's gauges per endpoint. Each instrument
/// costs one <c>Enabled</c> check while nobody listens. docs/observability.md lists them all.
/// </summary>
public static class RpcGenMetrics
{
    /// <summary>The meter's name: <c>RpcGen</c>.</summary>
    public const string MeterName = "RpcGen";

    internal static readonly Meter Meter = new(MeterName);

    /// <summary>The bucket boundaries the OpenTelemetry conventions recommend for call durations, in seconds.</summary>
    internal static readonly double[] DurationBuckets = { 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10 };

    internal static readonly Histogram<double> ClientDuration = Duration("rpc.client.call.duration", "Duration of calls made, from the proxy call to its result (every attempt, retry and hedge inside).");

    internal static readonly Histogram<double> ServerDuration = Duration("rpc.server.call.duration", "Duration of calls served, from the request's arrival to its response.");

    internal static readonly Histogram<int> ClientRequestSize = Meter.CreateHistogram<int>("rpc.client.request.size", "By", "Size of the arguments each attempt sent (the frame's payload).");

    internal static readonly Histogram<int> ClientResponseSize = Meter.CreateHistogram<int>("rpc.client.response.size", "By", "Size of the results calls received.");

    internal static readonly Histogram<int> ServerRequestSize = Meter.CreateHistogram<int>("rpc.server.request.size", "By", "Size of the arguments of calls served.");

    internal static readonly Histogram<int> ServerResponseSize = Meter.CreateHistogram<int>("rpc.server.response.size", "By", "Size of the results calls served sent.");

    internal static readonly Histogram<long> ClientRequestsPerRpc = Meter.CreateHistogram<long>(
        "rpc.client.requests_per_rpc", "{count}", "Items each client or duplex stream sent.");

    internal static readonly Histogram<long> ClientResponsesPerRpc = Meter.CreateHistogram<long>(
        "rpc.client.responses_per_rpc", "{count}", "Items each server or duplex stream received.");

    internal static readonly Histogram<long> ServerRequestsPerRpc = Meter.CreateHistogram<long>(
        "rpc.server.requests_per_rpc", "{count}", "Items each client or duplex stream served received.");

    internal static readonly Histogram<long> ServerResponsesPerRpc = Meter.CreateHistogram<long>(
        "rpc.server.responses_per_rpc", "{count}", "Items each server or duplex stream served sent.");

    internal static readonly UpDownCounter<long> ClientActive = Meter.CreateUpDownCounter<long>("rpcgen.client.active_calls", "{call}", "Calls made and not finished yet.");

    internal static readonly UpDownCounter<long> ServerActive = Meter.CreateUpDownCounter<long>("rpcgen.server.active_calls", "{call}", "Calls being served.");

    internal static readonly Counter<long> Retries = Meter.CreateCounter<long>(
        "rpcgen.client.retries", unit: "{attempt}", description: "Attempts sent again by a [Retry] policy (transparent retries not included).");

    internal static readonly Counter<long> Hedges = Meter.CreateCounter<long>(
        "rpcgen.client.hedges", unit: "{attempt}", description: "Hedged attempts sent by a [Hedging] policy.");

    internal static readonly Counter<long> RetriesDenied = Meter.CreateCounter<long>(
        "rpcgen.client.retries_denied", unit: "{attempt}", description: "Retries and hedges not sent because the retry budget was spent.");

    internal static readonly Counter<long> CircuitsOpened = Meter.CreateCounter<long>(
        "rpcgen.client.circuits_opened", unit: "{circuit}", description: "Endpoint circuits that opened ([CircuitBreaker]).");

    internal static readonly Counter<long> Refused = Meter.CreateCounter<long>(
        "rpcgen.server.refused", unit: "{request}",
        description: "Connections and calls a server refused over a limit (tag rpcgen.limit: connections, calls_per_connection, calls, cancelled_calls).");

    internal static readonly Counter<long> ConnectionsClosed = Meter.CreateCounter<long>(
        "rpcgen.server.connections_closed", unit: "{connection}",
        description: "Connections a server closed on a timeout or for abuse (tag rpcgen.reason: idle, frame, handshake, tls, drain, pings, cancelled_calls).");

    internal static readonly Counter<long> HandOffs = Meter.CreateCounter<long>(
        "rpcgen.server.read_loop_handoffs", unit: "{handoff}",
        description: "Read loops handed to another thread because a handler run inline held them (it blocked or computed for over 2-4 ms).");

    internal static readonly Counter<long> ClientHandOffs = Meter.CreateCounter<long>(
        "rpcgen.client.read_loop_handoffs", unit: "{handoff}",
        description: "Read loops handed to another thread because a caller resumed on one held it (it blocked or computed for over 2-4 ms).");

    /// <summary>The limit a refusal hit (<c>rpcgen.limit</c>).</summary>
    internal const string LimitTag = "rpcgen.limit";

    /// <summary>Why a server closed a connection (<c>rpcgen.reason</c>).</summary>
    internal const string ReasonTag = "rpcgen.reason";

    /// <summary>True when a listener reads any per-call client instrument: only then does a call measure itself.</summary>
    internal static bool ClientObserved =>
        ClientDuration.Enabled || ClientResponseSize.Enabled || ClientActive.Enabled || ClientResponsesPerRpc.Enabled || ClientRequestsPerRpc.Enabled;

    /// <summary>True when a listener reads any per-call server instrument.</summary>
    internal static bool ServerObserved =>
        ServerDuration.Enabled || ServerRequestSize.Enabled || ServerResponseSize.Enabled || ServerActive.Enabled ||
        ServerRequestsPerRpc.Enabled || ServerResponsesPerRpc.Enabled;

    private static Histogram<double> Duration(string name, string description)
    {
#if NET9_0_OR_GREATER
        return Meter.CreateHistogram<double>(name, "s", description, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
#else
        return Meter.CreateHistogram<double>(name, "s", description);
#endif
    }

    /// <summary>The tags every call instrument carries: system, service, method.</summary>
    internal static TagList CallTags(string service, string method) => new()
    {
        { "rpc.system", "rpcgen" },
        { "rpc.service", service },
        { "rpc.method", method },
    };

    /// <summary>Adds <c>server.address</c> and <c>server.port</c> from an endpoint written <c>host:port</c>.</summary>
    internal static void AddServer(ref TagList tags, string? endpoint)
    {
        if (RpcGenTracing.SplitHostPort(endpoint, out string host, out int port))
        {
            tags.Add("server.address", host);
            if (port >= 0)
            {
                tags.Add("server.port", port);
            }
        }
    }

    /// <summary>The status a call ended with, as the conventions' status-code attribute (and <c>error.type</c> on failure).</summary>
    internal static void AddOutcome(ref TagList tags, Exception? error)
    {
        RpcStatusCode code = RpcGenTracing.StatusOf(error);
        tags.Add("rpc.rpcgen.status_code", (int)code);
        if (error is not null)
        {
            tags.Add("error.type", error is RpcException ? code.ToString() : error.GetType().FullName);
        }
    }

    internal static void Add(Counter<long> counter)
    {
        if (counter.Enabled)
        {
            counter.Add(1);
        }
    }

    internal static void Add(Counter<long> counter, string tag, string value)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>(tag, value));
        }
    }

    /// <summary>Counts one for a method (<c>service/method</c>) or a whole service (a circuit's scope).</summary>
    internal static void Add(Counter<long> counter, string serviceOrMethod)
    {
        if (counter.Enabled)
        {
            int slash = serviceOrMethod.IndexOf('/');
            TagList tags = slash < 0
                ? new TagList { { "rpc.system", "rpcgen" }, { "rpc.service", serviceOrMethod } }
                : CallTags(serviceOrMethod[..slash], serviceOrMethod[(slash + 1)..]);
            counter.Add(1, tags);
        }
    }
}
