using System;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;
using RpcGen.Descriptors;
using RpcGen.Telemetry;

namespace RpcGen.Client.Internal;

/// <summary>
/// The one place the client's call path reports to: its spans (<see cref="RpcGenTracing"/>), metrics
/// (<see cref="RpcGenMetrics"/>) and logs (<see cref="RpcGenLog"/>). The call path says what happened; whether anyone
/// listens, and what that costs, is decided here (as Polly's <c>ResilienceStrategyTelemetry</c> does for its
/// strategies). With no listener every method returns after one check, allocating nothing.
/// </summary>
internal static class ClientTelemetry
{
    /// <summary>The client span of a call, started when a listener samples it (null otherwise).</summary>
    public static Activity? StartCall(RpcClientMethod method) => RpcGenTracing.StartClient(method.Descriptor.Service.Name, method.Descriptor.Name);

    /// <summary>True when the call must be observed: a span was started, or a listener reads a per-call client metric.</summary>
    public static bool IsObserved(Activity? span) => span is not null || RpcGenMetrics.ClientObserved;

    /// <summary>
    /// A call starts while the admin page watches: a timestamp, or -1 when the window only counts it (see
    /// <see cref="LatencyWindow.Begin"/>); 0 when nobody watches, the call path's one check.
    /// </summary>
    public static long LiveStart(RpcClientMethod method) => LiveStats.Enabled ? method.LiveWindow().Begin() : 0;

    /// <summary>A call that began with <paramref name="start"/> (from <see cref="LiveStart"/>) ended: its method's live window.</summary>
    public static void LiveEnd(RpcClientMethod method, long start, Exception? error)
    {
        if (start != 0)
        {
            RpcStatusCode code = RpcGenTracing.StatusOf(error);
            method.LiveWindow().End(start, (int)code, code != RpcStatusCode.OK);
        }
    }

    /// <summary>What the metrics of an observed call need from its start (a span alone needs none of them).</summary>
    public static CallObservation BeginObserved(RpcClientMethod method)
    {
        if (!RpcGenMetrics.ClientObserved)
        {
            return new CallObservation(Stopwatch.GetTimestamp(), default, metrics: false);
        }

        TagList tags = RpcGenMetrics.CallTags(method.Descriptor.Service.Name, method.Descriptor.Name);
        RpcGenMetrics.ClientActive.Add(1, tags);
        return new CallObservation(Stopwatch.GetTimestamp(), tags, metrics: true);
    }

    /// <summary>Ends an observed call: its span with the outcome and server, its duration, response size and in-flight count.</summary>
    public static void EndObserved(in CallObservation observation, Activity? span, string? endpoint, Exception? error, int responseSize)
    {
        if (!observation.Metrics)
        {
            if (span is not null)
            {
                RpcGenTracing.SetServer(span, endpoint);
                RpcGenTracing.Stop(span, error);
            }

            return;
        }

        TagList tags = observation.Tags;
        RpcGenMetrics.ClientActive.Add(-1, tags);
        RpcGenMetrics.AddServer(ref tags, endpoint);
        if (span is not null)
        {
            RpcGenTracing.SetServer(span, endpoint);
            RpcGenTracing.Stop(span, error);
        }

        if (error is null && RpcGenMetrics.ClientResponseSize.Enabled)
        {
            RpcGenMetrics.ClientResponseSize.Record(responseSize, tags);
        }

        RpcGenMetrics.AddOutcome(ref tags, error);
        RpcGenMetrics.ClientDuration.Record(Stopwatch.GetElapsedTime(observation.Start).TotalSeconds, tags);
    }

    /// <summary>A stream's item counts: on its span (<c>rpc.rpcgen.stream.sent</c>, <c>.received</c>) and in the per-RPC histograms.</summary>
    public static void StreamEnded(in CallObservation observation, RpcClientMethod method, Activity? span, long sent, long received)
    {
        RpcStreamingKind kind = method.Descriptor.Streaming;
        bool outbound = kind is RpcStreamingKind.Client or RpcStreamingKind.Duplex;
        bool inbound = kind is RpcStreamingKind.Server or RpcStreamingKind.Duplex;
        if (span is not null)
        {
            if (outbound)
            {
                span.SetTag("rpc.rpcgen.stream.sent", sent);
            }

            if (inbound)
            {
                span.SetTag("rpc.rpcgen.stream.received", received);
            }
        }

        if (!observation.Metrics)
        {
            return;
        }

        if (outbound)
        {
            RpcGenMetrics.ClientRequestsPerRpc.Record(sent, observation.Tags);
        }

        if (inbound)
        {
            RpcGenMetrics.ClientResponsesPerRpc.Record(received, observation.Tags);
        }
    }

    /// <summary>The attempt's pick, as an event on the call's span (when there is one).</summary>
    public static void Attempt(
        RpcClient client, RpcClientMethod method, ulong hashKey, int attemptNumber, int transparent, RpcEndpointState endpoint, bool pinned, int excluded)
    {
        if (CurrentSpan() is not { } span)
        {
            return;
        }

        EndpointSet set = client.EndpointSet;
        string? home = method.HasHashKey && method.Balancer is ConsistentHashLoadBalancer hashing
            ? hashing.HomeOf(hashKey)?.Endpoint.ToString()
            : null;
        RpcGenTracing.AttemptEvent(span, attemptNumber + 1, transparent, endpoint.Endpoint.ToString(), pinned ? "pinned" : method.Balancer.Name,
            set.All.Length, set.Candidates.Length, excluded, set.Panic, home);
    }

    /// <summary>A failed attempt, as an event on the call's span (when there is one).</summary>
    public static void AttemptFailed(int attemptNumber, RpcEndpointState endpoint, Exception error)
    {
        if (CurrentSpan() is { } span)
        {
            RpcGenTracing.AttemptFailedEvent(span, attemptNumber + 1, endpoint.Endpoint.ToString(), error);
        }
    }

    /// <summary>The headers with the call span's W3C trace context added (so the server's span is its child); as given without a span.</summary>
    public static RpcMetadata? WithTraceContext(RpcMetadata? headers) => CurrentSpan() is { } span ? RpcGenTracing.Inject(span, headers) : headers;

    /// <summary>The size of a request sent to <paramref name="remote"/>.</summary>
    public static void RequestSent(RpcClientMethod method, string? remote, int size)
    {
        if (RpcGenMetrics.ClientRequestSize.Enabled)
        {
            TagList tags = RpcGenMetrics.CallTags(method.Descriptor.Service.Name, method.Descriptor.Name);
            RpcGenMetrics.AddServer(ref tags, remote);
            RpcGenMetrics.ClientRequestSize.Record(size, tags);
        }
    }

    public static void Connected(RpcClient client, RpcEndpoint endpoint, bool afterFailures)
    {
        RpcGenLog.Connected(client.Logger, endpoint);
        if (afterFailures)
        {
            RecentEvents.Add("connected", client.DisplayName, endpoint.ToString(), "connected again after failed attempts");
        }
    }

    /// <summary>A connection could not be made; the first of a run of failures is also an event of the admin page.</summary>
    public static void ConnectFailed(RpcClient client, RpcEndpoint endpoint, int failures, string error)
    {
        RpcGenLog.ConnectFailed(client.Logger, endpoint, failures, error);
        if (failures == 1)
        {
            RecentEvents.Add("connect_failed", client.DisplayName, endpoint.ToString(), error);
        }
    }

    public static void KeepAliveTimedOut(RpcClient client, RpcEndpoint endpoint, TimeSpan limit)
    {
        RpcGenLog.KeepAliveTimedOut(client.Logger, endpoint, limit);
        RecentEvents.Add("keepalive_timeout", client.DisplayName, endpoint.ToString(),
            $"no answer to a keepalive ping within {limit.TotalMilliseconds:0} ms");
    }

    public static void EndpointRemoved(RpcClient client, RpcEndpoint endpoint, int inFlight)
    {
        RpcGenLog.EndpointRemoved(client.Logger, endpoint, inFlight);
        RecentEvents.Add("endpoint_removed", client.DisplayName, endpoint.ToString(), $"removed by discovery; draining {inFlight} calls in flight");
    }

    /// <summary>A server said it is going away (draining, stopping, or closing the connection for a reason).</summary>
    public static void GoAwayReceived(RpcClient client, RpcEndpoint endpoint, string? reason) =>
        RecentEvents.Add("goaway", client.DisplayName, endpoint.ToString(), reason ?? "the server is going away (draining or stopping)");

    public static void HedgingNeedsIdempotent(ILogger logger, string method) => RpcGenLog.HedgingNeedsIdempotent(logger, method);

    /// <summary>A [Resumable] stream broke and is called again from <paramref name="position"/> (null: from its start).</summary>
    public static void StreamResumed(RpcClient client, RpcClientMethod method, long? position, int resume) =>
        RpcGenLog.StreamResumed(
            client.Logger, method.Descriptor.FullName, position?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", resume);

    /// <summary>The current span when it is one of RpcGen's client spans.</summary>
    private static Activity? CurrentSpan() => Activity.Current is { } span && span.Source == RpcGenTracing.Source ? span : null;

    /// <summary>When an observed call started, and the tags of its metrics (when a listener reads them).</summary>
    public readonly struct CallObservation
    {
        public CallObservation(long start, TagList tags, bool metrics)
        {
            Start = start;
            Tags = tags;
            Metrics = metrics;
        }

        public long Start { get; }

        public TagList Tags { get; }

        /// <summary>True when the metrics were started (and must be ended).</summary>
        public bool Metrics { get; }
    }
}
