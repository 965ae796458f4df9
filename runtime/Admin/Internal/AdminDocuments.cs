using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text.Json;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;
using RpcGen.Client;
using RpcGen.Client.Internal;
using RpcGen.Descriptors;
using RpcGen.Resilience.Internal;
using RpcGen.Server;
using RpcGen.Server.Internal;
using RpcGen.Telemetry;

namespace RpcGen.Admin.Internal;

/// <summary>
/// The admin page's JSON (docs/admin.md is its contract): the clients and their endpoints, the servers and their
/// connections, the methods with their live figures and policies, and the recent events. Each document is built when it
/// is asked for, from what the clients and servers already keep; nothing here runs unless someone asks.
/// </summary>
internal static class AdminDocuments
{
    /// <summary>The documents' version: a field renamed or removed raises it; fields are only added within a version.</summary>
    public const int Version = 1;

    /// <summary>Connections listed per server, at most (the rest are counted): a server with 10,000 open stays cheap to look at.</summary>
    public const int MaxConnectionsListed = 200;

    /// <summary>Events returned by one request, at most.</summary>
    public const int MaxEvents = RecentEvents.Capacity;

    public static byte[] Clients() => Write(static writer =>
    {
        writer.WriteStartArray("clients");
        foreach (RpcClient client in ClientMetrics.Clients)
        {
            WriteClient(writer, client);
        }

        writer.WriteEndArray();
    });

    public static byte[] Servers() => Write(static writer =>
    {
        writer.WriteStartArray("servers");
        foreach (RpcServer server in ServerRegistry.All)
        {
            WriteServer(writer, server);
        }

        writer.WriteEndArray();
    });

    public static byte[] Methods() => Write(static writer =>
    {
        writer.WriteNumber("windowSeconds", LatencyWindow.Seconds);
        writer.WriteNumber(
            "watchedSeconds", Math.Round(Math.Max(0, System.Diagnostics.Stopwatch.GetElapsedTime(LiveStats.Since).TotalSeconds), 1));
        writer.WriteStartArray("methods");
        foreach (RpcClient client in ClientMetrics.Clients)
        {
            foreach (RpcClientMethod method in client.Methods)
            {
                writer.WriteStartObject();
                writer.WriteString("side", "client");
                writer.WriteString("owner", client.DisplayName);
                writer.WriteString("service", method.Descriptor.Service.Name);
                writer.WriteString("method", method.Descriptor.Name);
                WriteFigures(writer, method.Live);
                WriteClientPolicies(writer, method);
                writer.WriteEndObject();
            }
        }

        foreach (RpcServer server in ServerRegistry.All)
        {
            foreach (RpcServiceDescriptor service in server.Services)
            {
                foreach (RpcMethodDescriptor method in service.Methods)
                {
                    writer.WriteStartObject();
                    writer.WriteString("side", "server");
                    writer.WriteString("owner", server.DisplayName);
                    writer.WriteString("service", service.Name);
                    writer.WriteString("method", method.Name);
                    WriteFigures(writer, server.LiveMethods.TryGetValue(method, out LatencyWindow? window) ? window : null);
                    WriteServerPolicies(writer, method);
                    writer.WriteEndObject();
                }
            }
        }

        writer.WriteEndArray();
    });

    public static byte[] Events(long after) => Write(writer =>
    {
        List<RecentEvent> events = RecentEvents.After(after, MaxEvents);
        writer.WriteNumber("capacity", RecentEvents.Capacity);
        writer.WriteNumber("next", RecentEvents.Next);
        writer.WriteStartArray("events");
        foreach (RecentEvent item in events)
        {
            writer.WriteStartObject();
            writer.WriteNumber("sequence", item.Sequence);
            writer.WriteString("time", item.Time);
            writer.WriteString("kind", item.Kind);
            writer.WriteString("source", item.Source);
            writer.WriteString("subject", item.Subject);
            writer.WriteString("detail", item.Detail);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    });

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", Version);
            writer.WriteString("time", DateTimeOffset.UtcNow);
            writer.WriteBoolean("live", LiveStats.Enabled);
            body(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteClient(Utf8JsonWriter writer, RpcClient client)
    {
        writer.WriteStartObject();
        writer.WriteString("name", client.Options.Name ?? "default");
        writer.WriteNumber("inFlight", client.TotalInFlight);
        EndpointSet set = client.EndpointSet;
        writer.WriteNumber("candidates", set.Candidates.Length);
        writer.WriteBoolean("panic", set.Panic);
        writer.WriteNumber("retryBudgetAvailable", Math.Round(client.RetryBudget.Available(), 2));

        if (client.Options.EndpointSource is { } source)
        {
            writer.WriteStartObject("discovery");
            writer.WriteString("source", source.Name);
            var status = source as IRpcEndpointSourceStatus;
            writer.WriteBoolean("stale", status?.IsStale ?? false);
            WriteStringOrNull(writer, "lastError", status?.LastError?.Message);
            if (source is RpcEndpointSource { LastAnswer: { } answered })
            {
                writer.WriteString("lastAnswer", answered);
                writer.WriteNumber("ageSeconds", Math.Round((DateTimeOffset.UtcNow - answered).TotalSeconds, 1));
            }
            else
            {
                writer.WriteNull("lastAnswer");
                writer.WriteNull("ageSeconds");
            }

            writer.WriteEndObject();
        }
        else
        {
            writer.WriteStartObject("discovery");
            writer.WriteString("source", "static");
            writer.WriteBoolean("stale", false);
            writer.WriteNull("lastError");
            writer.WriteNull("lastAnswer");
            writer.WriteNull("ageSeconds");
            writer.WriteEndObject();
        }

        writer.WriteStartArray("endpoints");
        long now = client.TimeProvider.GetTimestamp();
        DateTimeOffset wallNow = client.TimeProvider.GetUtcNow();
        var breakers = new List<KeyValuePair<string, CircuitBreakerGroup>>(client.Breakers);
        foreach (RpcEndpointState endpoint in set.All)
        {
            WriteEndpoint(writer, client, endpoint, now, wallNow, breakers);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteEndpoint(
        Utf8JsonWriter writer, RpcClient client, RpcEndpointState endpoint, long now, DateTimeOffset wallNow,
        List<KeyValuePair<string, CircuitBreakerGroup>> breakers)
    {
        writer.WriteStartObject();
        writer.WriteString("address", endpoint.Endpoint.ToString());
        (string connection, int failures, string? lastError) = endpoint is ClientEndpoint owned ? owned.DescribeConnection() : ("unknown", 0, null);
        EndpointHealth health = endpoint.Health;
        bool ejected = health.IsEjected;
        writer.WriteString("state", ejected ? "ejected" : connection);
        writer.WriteString("connection", connection);
        writer.WriteNumber("connectFailures", failures);
        WriteStringOrNull(writer, "lastError", lastError);
        if (ejected)
        {
            writer.WriteStartObject("ejection");
            WriteStringOrNull(writer, "reason", health.EjectionReason);
            long left = Math.Max(0, health.EjectedUntil - now);
            writer.WriteString("until", wallNow + TimeSpan.FromSeconds(left / (double)client.TimeProvider.TimestampFrequency));
            writer.WriteNumber("count", health.EjectionCount);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteNull("ejection");
        }

        writer.WriteNumber("priority", endpoint.Endpoint.Priority);
        WriteStringOrNull(writer, "zone", endpoint.Endpoint.Zone);
        writer.WriteNumber("weight", endpoint.Endpoint.Weight);
        writer.WriteNumber("effectiveWeight", Math.Round(endpoint.GetWeight(now), 3));
        writer.WriteNumber("inFlight", endpoint.InFlight);
        writer.WriteNumber("serverInFlight", endpoint.ServerInFlight);
        WriteNumberOrNull(writer, "latencyEwmaMs", endpoint.GetLatencyEwma(now) * 1000, 3);

        LatencyWindow? live = endpoint.Live;
        WindowFigures figures = live?.Read() ?? default;
        WriteNumberOrNull(writer, "picksPerSecond", live is null ? double.NaN : figures.PerSecond, 1);
        WriteNumberOrNull(writer, "successRate", live is null ? double.NaN : figures.SuccessRate, 4);
        WriteNumberOrNull(writer, "p50Ms", live is null ? double.NaN : figures.P50, 3);
        WriteNumberOrNull(writer, "p99Ms", live is null ? double.NaN : figures.P99, 3);

        writer.WriteStartArray("circuits");
        foreach (KeyValuePair<string, CircuitBreakerGroup> breaker in breakers)
        {
            writer.WriteStartObject();
            writer.WriteString("scope", breaker.Key);
            writer.WriteString("state", breaker.Value.StateOf(endpoint.Id) switch
            {
                RpcCircuitState.Open => "open",
                RpcCircuitState.HalfOpen => "half_open",
                _ => "closed",
            });
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartArray("recent");
        if (live is not null)
        {
            foreach (int outcome in live.RecentOutcomes())
            {
                writer.WriteStringValue(outcome switch
                {
                    0 => "ok",
                    1 => "failure",
                    2 => "connect_failure",
                    _ => "neutral",
                });
            }
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteServer(Utf8JsonWriter writer, RpcServer server)
    {
        writer.WriteStartObject();
        writer.WriteString("name", server.DisplayName);
        writer.WriteString("state", server.IsStopped ? "stopped" : server.IsStopping ? "draining" : server.IsRunning ? "running" : "starting");
        writer.WriteStartArray("listeners");
        foreach (RpcEndpoint endpoint in server.Endpoints)
        {
            writer.WriteStringValue(endpoint.ToString());
        }

        writer.WriteEndArray();
        writer.WriteBoolean("tls", server.Options.Tls is not null);
        writer.WriteNumber("inFlight", server.InFlight);

        RpcServerLimits limits = server.Options.Limits;
        writer.WriteStartObject("limits");
        WriteLimit(writer, "connections", server.TcpConnections, limits.MaxConnections);
        WriteLimit(writer, "calls", server.InFlight, limits.MaxConcurrentCalls);
        WriteLimit(writer, "streams", server.OpenStreams, limits.MaxConcurrentStreams);
        writer.WriteNumber("callsPerConnection", limits.MaxConcurrentCallsPerConnection);
        writer.WriteNumber("streamsPerConnection", limits.MaxConcurrentStreamsPerConnection);
        writer.WriteEndObject();

        DeduplicationOptions dedup = server.Options.Deduplication;
        writer.WriteStartObject("deduplication");
        writer.WriteNumber("entries", server.Deduplication.Memory.Count);
        writer.WriteNumber("capacity", dedup.Capacity);
        writer.WriteNumber("bytes", server.Deduplication.Memory.Bytes);
        writer.WriteNumber("maxBytes", dedup.MaxBytes);
        writer.WriteNumber("windowSeconds", dedup.Window.TotalSeconds);
        writer.WriteNumber("running", server.Deduplication.Running);
        writer.WriteStartArray("stores");
        foreach (Server.Deduplication.IDeduplicationStore store in server.Deduplication.Stores)
        {
            writer.WriteStartObject();
            writer.WriteString("name", store.Name);
            writer.WriteBoolean("default", ReferenceEquals(store, server.Deduplication.Default));
            writer.WriteStartArray("services");
            foreach (KeyValuePair<string, Server.Deduplication.IDeduplicationStore> chosen in server.Deduplication.ByService)
            {
                if (ReferenceEquals(chosen.Value, store))
                {
                    writer.WriteStringValue(chosen.Key);
                }
            }

            writer.WriteEndArray();
            if (server.Deduplication.StatusNow(store) is { } status)
            {
                writer.WriteString("health", status.Health switch
                {
                    Server.Deduplication.DeduplicationStoreHealth.Healthy => "healthy",
                    Server.Deduplication.DeduplicationStoreHealth.Degraded => "degraded",
                    _ => "unhealthy",
                });
                writer.WriteString("description", status.Description);
                writer.WriteNumber("entries", status.Entries);
                writer.WriteNumber("capacity", status.Capacity);
                writer.WriteNumber("bytes", status.Bytes);
                writer.WriteNumber("maxBytes", status.MaxBytes);
                writer.WriteNumber("evicted", status.Evicted);
            }
            else
            {
                writer.WriteString("health", "unknown");
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();

        var connections = new List<ConnectionView>();
        int total = 0;
        foreach (ServerConnection connection in server.OpenConnections.Keys)
        {
            if (total++ < MaxConnectionsListed)
            {
                connections.Add(connection.Describe());
            }
        }

        connections.Sort(static (a, b) => b.Age.CompareTo(a.Age));
        writer.WriteNumber("connectionCount", total);
        writer.WriteStartArray("connections");
        foreach (ConnectionView view in connections)
        {
            writer.WriteStartObject();
            writer.WriteString("peer", view.Peer);
            writer.WriteString("transport", view.Tcp ? (view.Tls ? "tls" : "tcp") : "in_process");
            writer.WriteNumber("ageSeconds", Math.Round(view.Age.TotalSeconds, 1));
            writer.WriteNumber("calls", view.Calls);
            writer.WriteNumber("streams", view.Streams);
            writer.WriteBoolean("goingAway", view.GoingAway);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteLimit(Utf8JsonWriter writer, string name, int used, int? max)
    {
        writer.WriteStartObject(name);
        writer.WriteNumber("used", used);
        if (max is int limit)
        {
            writer.WriteNumber("max", limit);
        }
        else
        {
            writer.WriteNull("max");
        }

        writer.WriteEndObject();
    }

    private static void WriteFigures(Utf8JsonWriter writer, LatencyWindow? window)
    {
        if (window is null)
        {
            writer.WriteNumber("calls", 0);
            writer.WriteNumber("ratePerSecond", 0);
            writer.WriteNull("successRate");
            writer.WriteNull("p50Ms");
            writer.WriteNull("p95Ms");
            writer.WriteNull("p99Ms");
            return;
        }

        WindowFigures figures = window.Read();
        writer.WriteNumber("calls", figures.Count);
        writer.WriteNumber("ratePerSecond", Math.Round(figures.PerSecond, 1));
        WriteNumberOrNull(writer, "successRate", figures.SuccessRate, 4);
        WriteNumberOrNull(writer, "p50Ms", figures.P50, 3);
        WriteNumberOrNull(writer, "p95Ms", figures.P95, 3);
        WriteNumberOrNull(writer, "p99Ms", figures.P99, 3);
    }

    private static void WriteClientPolicies(Utf8JsonWriter writer, RpcClientMethod method)
    {
        writer.WriteStartObject("policies");
        writer.WriteNumber("timeoutMs", method.TimeoutMilliseconds);
        writer.WriteString("balancer", method.Balancer.Name);
        MethodResilience? resilience = method.Resilience;
        writer.WriteBoolean("idempotent", resilience?.Idempotent ?? method.Descriptor.Idempotent);
        writer.WriteBoolean("deduplicate", resilience?.Deduplicate ?? method.Descriptor.Deduplicate);
        WriteStringOrNull(writer, "retry", resilience?.Retry?.ToString());
        WriteStringOrNull(writer, "hedging", resilience?.Hedging?.ToString());
        WriteStringOrNull(writer, "circuitBreaker", resilience?.Breaker?.Policy.ToString());
        WriteStringOrNull(writer, "compression", Compression(method.Descriptor.Compression));
        writer.WriteEndObject();
    }

    /// <summary>A method's <c>[Compress]</c> as the page shows it: "zstd ≥ 1024 B, Fastest" (", over TLS" when allowed).</summary>
    private static string? Compression(RpcCompressionPolicy? policy) => policy is null
        ? null
        : $"{policy.Algorithm.ToString().ToLowerInvariant()} ≥ {policy.MinSize} B, {policy.Level}{(policy.AllowOverTls ? ", over TLS" : "")}";

    private static void WriteServerPolicies(Utf8JsonWriter writer, RpcMethodDescriptor method)
    {
        writer.WriteStartObject("policies");
        writer.WriteNumber("timeoutMs", method.TimeoutMilliseconds);
        writer.WriteBoolean("idempotent", method.Idempotent);
        writer.WriteBoolean("deduplicate", method.Deduplicate);
        writer.WriteString("streaming", method.Streaming.ToString().ToLowerInvariant());
        WriteStringOrNull(writer, "compression", Compression(method.Compression));
        WriteStringOrNull(writer, "authorization", method.Authorization switch
        {
            null => null,
            { AllowAnonymous: true } => "anonymous",
            { Roles.Count: 0 } => "authenticated",
            { } rule => "roles: " + string.Join(" and ", ConvertAll(rule.Roles)),
        });
        writer.WriteEndObject();
    }

    private static IEnumerable<string> ConvertAll(IReadOnlyList<string[]> roles)
    {
        foreach (string[] anyOf in roles)
        {
            yield return string.Join(" or ", anyOf);
        }
    }

    private static void WriteStringOrNull(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double value, int digits)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteNumber(name, Math.Round(value, digits));
        }
    }
}
