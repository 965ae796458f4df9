using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using RpcGen.Balancing;
using RpcGen.Resilience.Internal;
using RpcGen.Telemetry;

namespace RpcGen.Client.Internal;

/// <summary>
/// The balancer's view as gauges on the <c>RpcGen</c> meter, read when a listener collects (nothing is computed
/// otherwise): per endpoint of every live client, its calls in flight, latency EWMA, whether it is ejected, and the
/// state of each of its circuits. Tagged <c>rpcgen.client.name</c>, <c>server.address</c>, <c>server.port</c>.
/// </summary>
internal static class ClientMetrics
{
    private static readonly ConcurrentDictionary<RpcClient, byte> s_clients = new();

    static ClientMetrics()
    {
        RpcGenMetrics.Meter.CreateObservableGauge("rpcgen.client.endpoint.in_flight", static () => Observe(static (_, e) => e.InFlight),
            "{call}", "Calls in flight on each endpoint, as the balancer sees them.");
        RpcGenMetrics.Meter.CreateObservableGauge("rpcgen.client.endpoint.latency_ewma", static () => Observe(static (c, e) => e.GetLatencyEwma(c.TimeProvider.GetTimestamp())),
            "s", "The peak-sensitive latency EWMA of each endpoint (kept while a PeakEwma or custom balancer serves the client; 0 otherwise).");
        RpcGenMetrics.Meter.CreateObservableGauge("rpcgen.client.endpoint.ejected", static () => Observe(static (_, e) => e.IsEjected ? 1 : 0),
            "{endpoint}", "1 while outlier detection keeps the endpoint out of the balancer, else 0.");
        RpcGenMetrics.Meter.CreateObservableGauge("rpcgen.client.discovery.stale", ObserveDiscovery,
            "{source}", "1 while a client's endpoint source cannot reach its registry and serves the last known endpoints (tag rpcgen.discovery.source), else 0.");
        RpcGenMetrics.Meter.CreateObservableGauge("rpcgen.client.endpoint.circuit_state", ObserveCircuits,
            "{state}", "The state of each endpoint's circuit per breaker scope (tag rpcgen.circuit.scope): 0 closed, 1 open, 2 half-open.");
    }

    public static void Register(RpcClient client) => s_clients.TryAdd(client, 0);

    public static void Unregister(RpcClient client) => s_clients.TryRemove(client, out _);

    /// <summary>The live clients of this process (for the admin page).</summary>
    public static ICollection<RpcClient> Clients => s_clients.Keys;

    private static List<Measurement<T>> Observe<T>(System.Func<RpcClient, RpcEndpointState, T> read)
        where T : struct
    {
        var measurements = new List<Measurement<T>>();
        foreach (RpcClient client in s_clients.Keys)
        {
            foreach (RpcEndpointState endpoint in client.Endpoints)
            {
                measurements.Add(new Measurement<T>(read(client, endpoint), Tags(client, endpoint)));
            }
        }

        return measurements;
    }

    private static List<Measurement<int>> ObserveDiscovery()
    {
        var measurements = new List<Measurement<int>>();
        foreach (RpcClient client in s_clients.Keys)
        {
            if (client.Options.EndpointSource is IRpcEndpointSourceStatus status)
            {
                measurements.Add(new Measurement<int>(status.IsStale ? 1 : 0, new TagList
                {
                    { "rpcgen.client.name", client.Options.Name ?? "default" },
                    { "rpcgen.discovery.source", client.Options.EndpointSource.Name },
                }));
            }
        }

        return measurements;
    }

    private static List<Measurement<int>> ObserveCircuits()
    {
        var measurements = new List<Measurement<int>>();
        foreach (RpcClient client in s_clients.Keys)
        {
            foreach (KeyValuePair<string, CircuitBreakerGroup> breaker in client.Breakers)
            {
                foreach (RpcEndpointState endpoint in client.Endpoints)
                {
                    TagList tags = Tags(client, endpoint);
                    tags.Add("rpcgen.circuit.scope", breaker.Key);
                    measurements.Add(new Measurement<int>((int)breaker.Value.StateOf(endpoint.Id), tags));
                }
            }
        }

        return measurements;
    }

    private static TagList Tags(RpcClient client, RpcEndpointState endpoint) => new()
    {
        { "rpcgen.client.name", client.Options.Name ?? "default" },
        { "server.address", endpoint.Endpoint.Host },
        { "server.port", endpoint.Endpoint.Port },
    };
}
