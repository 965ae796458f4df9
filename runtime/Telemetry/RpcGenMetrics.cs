using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace RpcGen.Telemetry;

/// <summary>
/// The <c>RpcGen</c> meter's resilience and server-limit instruments (System.Diagnostics.Metrics: OpenTelemetry, dotnet-counters and
/// Prometheus exporters read them). Client instruments are tagged with <c>rpc.method</c> (<c>service/method</c>); server
/// ones with the limit or reason. Recorded only on the paths they count (retries, hedges, circuit changes, refusals,
/// timeouts), never on a successful first attempt.
/// </summary>
public static class RpcGenMetrics
{
    /// <summary>The meter's name: <c>RpcGen</c>.</summary>
    public const string MeterName = "RpcGen";

    private static readonly Meter s_meter = new(MeterName);

    internal static readonly Counter<long> Retries = s_meter.CreateCounter<long>(
        "rpcgen.client.retries", unit: "{attempt}", description: "Attempts sent again by a [Retry] policy (transparent retries not included).");

    internal static readonly Counter<long> Hedges = s_meter.CreateCounter<long>(
        "rpcgen.client.hedges", unit: "{attempt}", description: "Hedged attempts sent by a [Hedging] policy.");

    internal static readonly Counter<long> RetriesDenied = s_meter.CreateCounter<long>(
        "rpcgen.client.retries_denied", unit: "{attempt}", description: "Retries and hedges not sent because the retry budget was spent.");

    internal static readonly Counter<long> CircuitsOpened = s_meter.CreateCounter<long>(
        "rpcgen.client.circuits_opened", unit: "{circuit}", description: "Endpoint circuits that opened ([CircuitBreaker]).");

    internal static readonly Counter<long> Refused = s_meter.CreateCounter<long>(
        "rpcgen.server.refused", unit: "{request}", description: "Connections and calls a server refused over a limit (tag rpcgen.limit: connections, calls_per_connection, calls).");

    internal static readonly Counter<long> ConnectionsClosed = s_meter.CreateCounter<long>(
        "rpcgen.server.connections_closed", unit: "{connection}", description: "Connections a server closed on a timeout (tag rpcgen.reason: idle, frame, handshake).");

    /// <summary>The limit a refusal hit (<c>rpcgen.limit</c>).</summary>
    internal const string LimitTag = "rpcgen.limit";

    /// <summary>Why a server closed a connection (<c>rpcgen.reason</c>).</summary>
    internal const string ReasonTag = "rpcgen.reason";

    internal static void Add(Counter<long> counter, string tag, string value)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>(tag, value));
        }
    }

    internal static void Add(Counter<long> counter, string method)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>("rpc.method", method));
        }
    }
}
