using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace RpcGen.Telemetry;

/// <summary>
/// The <c>RpcGen</c> meter's resilience instruments (System.Diagnostics.Metrics: OpenTelemetry, dotnet-counters and
/// Prometheus exporters read them). Each is tagged with <c>rpc.method</c> (<c>service/method</c>). Recorded only on the
/// paths they count (retries, hedges, circuit changes), never on a successful first attempt.
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

    internal static void Add(Counter<long> counter, string method)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>("rpc.method", method));
        }
    }
}
