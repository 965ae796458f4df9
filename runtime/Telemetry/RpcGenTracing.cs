using System;
using System.Diagnostics;

namespace RpcGen.Telemetry;

/// <summary>
/// Spans for RpcGen calls on the <c>RpcGen</c> <see cref="ActivitySource"/>, after the OpenTelemetry RPC semantic
/// conventions: name <c>{service}/{method}</c>, kind client or server, <c>rpc.system</c> = <c>rpcgen</c>,
/// <c>rpc.service</c>, <c>rpc.method</c>, <c>rpc.rpcgen.status_code</c>, and <c>error.type</c> on failure. W3C trace
/// context travels in the call's metadata (<c>traceparent</c>, <c>tracestate</c>), so a trace crosses services and the
/// calls a handler makes are its children. Nothing is created while no listener samples the source.
/// </summary>
public static class RpcGenTracing
{
    /// <summary>The activity source's name: <c>RpcGen</c> (add it with OpenTelemetry's <c>AddSource("RpcGen")</c>).</summary>
    public const string SourceName = "RpcGen";

    internal static readonly ActivitySource Source = new(SourceName);

    internal const string TraceParent = "traceparent";
    internal const string TraceState = "tracestate";
    internal const string Baggage = "baggage";

    /// <summary>
    /// The most <c>rpc.message</c> events a stream's span records in each direction: a stream without end must not grow
    /// its span without bound (the item counts, <c>rpc.rpcgen.stream.sent</c>/<c>.received</c>, are always exact).
    /// </summary>
    internal const int MaxMessageEvents = 128;

    /// <summary>
    /// An <c>rpc.message</c> event for a stream's item (OpenTelemetry RPC conventions: <c>rpc.message.type</c> SENT or
    /// RECEIVED, <c>rpc.message.id</c> the item's number from 1, <c>rpc.message.uncompressed_size</c> its JSON's bytes),
    /// on a span whose data is recorded, for the first <see cref="MaxMessageEvents"/> items each way.
    /// </summary>
    internal static void Message(Activity? span, bool sent, long id, int size)
    {
        if (span is null || id > MaxMessageEvents || !span.IsAllDataRequested)
        {
            return;
        }

        span.AddEvent(new ActivityEvent("rpc.message", tags: new ActivityTagsCollection
        {
            ["rpc.message.type"] = sent ? "SENT" : "RECEIVED",
            ["rpc.message.id"] = id,
            ["rpc.message.uncompressed_size"] = size,
        }));
    }

    /// <summary>A client span for one call, or null when nobody listens (the common case costs one check).</summary>
    internal static Activity? StartClient(string service, string method)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        Activity? activity = Source.StartActivity(service + "/" + method, ActivityKind.Client);
        Tag(activity, service, method);
        return activity;
    }

    /// <summary>A server span for one call, the child of the caller's span when the request carried a traceparent.</summary>
    internal static Activity? StartServer(string service, string method, RpcMetadata headers)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(headers.GetValue(TraceParent), headers.GetValue(TraceState), isRemote: true, out ActivityContext parent);
        Activity? activity = Source.StartActivity(service + "/" + method, ActivityKind.Server, parent);
        Tag(activity, service, method);
        if (activity is not null && headers.GetValue(Baggage) is { Length: > 0 } baggage)
        {
            RestoreBaggage(activity, baggage);
        }

        return activity;
    }

    /// <summary>The headers of a call made inside <paramref name="activity"/>, with its trace context added.</summary>
    internal static RpcMetadata Inject(Activity activity, RpcMetadata? headers)
    {
        var combined = new RpcMetadata();
        if (headers is not null)
        {
            foreach (RpcMetadataEntry entry in headers)
            {
                if (entry.Key is not (TraceParent or TraceState or Baggage))
                {
                    combined.AddChecked(entry);
                }
            }
        }

        combined.AddChecked(new RpcMetadataEntry(TraceParent, activity.Id!, null));
        if (activity.TraceStateString is { Length: > 0 } state)
        {
            combined.AddChecked(new RpcMetadataEntry(TraceState, state, null));
        }

        // W3C baggage: key=value pairs, percent-encoded, so every byte is printable ASCII as metadata requires.
        System.Text.StringBuilder? baggage = null;
        foreach (System.Collections.Generic.KeyValuePair<string, string?> item in activity.Baggage)
        {
            (baggage ??= new System.Text.StringBuilder()).Append(baggage.Length == 0 ? string.Empty : ",")
                .Append(Uri.EscapeDataString(item.Key)).Append('=').Append(Uri.EscapeDataString(item.Value ?? string.Empty));
        }

        if (baggage is not null)
        {
            combined.AddChecked(new RpcMetadataEntry(Baggage, baggage.ToString(), null));
        }

        return combined;
    }

    /// <summary>
    /// An event on the client span for each attempt: its number (retries and hedges count up; transparent re-sends
    /// of a request no server took keep it), the endpoint picked and how: the strategy, how many endpoints the client
    /// has, how many were candidates (the rest ejected or removed), how many this call excluded (tried already, or an
    /// open circuit), whether the balancer was in panic (too many ejected, so it picked among all), and for consistent
    /// hashing the key's home endpoint and whether the pick spilled off it.
    /// </summary>
    internal static void AttemptEvent(Activity span, int attempt, int transparent, string endpoint, string strategy, int endpoints, int candidates, int excluded, bool panic, string? hashHome)
    {
        if (!span.IsAllDataRequested)
        {
            return;
        }

        var tags = new ActivityTagsCollection
        {
            { "rpcgen.attempt", attempt },
            { "rpcgen.attempt.transparent", transparent },
            { "server.address", endpoint },
            { "rpcgen.balancer.strategy", strategy },
            { "rpcgen.balancer.endpoints", endpoints },
            { "rpcgen.balancer.candidates", candidates },
            { "rpcgen.balancer.excluded", excluded },
            { "rpcgen.balancer.panic", panic },
        };
        if (hashHome is not null)
        {
            // Consistent hashing: the key's home endpoint, and whether the pick spilled off it (ejected, tried, over the load bound).
            tags.Add("rpcgen.balancer.hash_home", hashHome);
            tags.Add("rpcgen.balancer.hash_spilled", hashHome != endpoint);
        }

        span.AddEvent(new ActivityEvent("rpcgen.attempt", tags: tags));
    }

    /// <summary>An event on the client span for an attempt that failed, with its status.</summary>
    internal static void AttemptFailedEvent(Activity span, int attempt, string endpoint, Exception error)
    {
        if (!span.IsAllDataRequested)
        {
            return;
        }

        span.AddEvent(new ActivityEvent("rpcgen.attempt.failed", tags: new ActivityTagsCollection
        {
            { "rpcgen.attempt", attempt },
            { "server.address", endpoint },
            { "rpc.rpcgen.status_code", (int)StatusOf(error) },
            { "rpcgen.not_processed", error is RpcException { NotProcessed: true } },
            { "exception.message", error.Message },
        }));
    }

    /// <summary>An event on the current client span: a [Retry] policy sends the call again, and why.</summary>
    internal static void RetryEvent(int attempt, TimeSpan delay, Exception? reason)
    {
        if (Activity.Current is { IsAllDataRequested: true } span && span.Source == Source && span.Kind == ActivityKind.Client)
        {
            span.AddEvent(new ActivityEvent("rpcgen.retry", tags: new ActivityTagsCollection
            {
                { "rpcgen.attempt", attempt },
                { "rpcgen.retry.delay_ms", delay.TotalMilliseconds },
                { "rpc.rpcgen.status_code", (int)StatusOf(reason) },
                { "exception.message", reason?.Message },
            }));
        }
    }

    /// <summary>An event on the current client span: a [Hedging] policy starts another attempt while earlier ones run.</summary>
    internal static void HedgeEvent(int attempt)
    {
        if (Activity.Current is { IsAllDataRequested: true } span && span.Source == Source && span.Kind == ActivityKind.Client)
        {
            span.AddEvent(new ActivityEvent("rpcgen.hedge", tags: new ActivityTagsCollection { { "rpcgen.attempt", attempt } }));
        }
    }

    /// <summary><c>server.address</c> and <c>server.port</c> of the endpoint that answered (<c>host:port</c>).</summary>
    internal static void SetServer(Activity activity, string? endpoint)
    {
        if (activity.IsAllDataRequested && SplitHostPort(endpoint, out string host, out int port))
        {
            activity.SetTag("server.address", host);
            if (port >= 0)
            {
                activity.SetTag("server.port", port);
            }
        }
    }

    /// <summary><c>network.peer.address</c> and <c>network.peer.port</c> of the caller (<c>address:port</c>), on a server span.</summary>
    internal static void SetPeer(Activity activity, string? remote)
    {
        if (SplitHostPort(remote, out string host, out int port))
        {
            activity.SetTag("network.peer.address", host);
            if (port >= 0)
            {
                activity.SetTag("network.peer.port", port);
            }
        }
    }

    /// <summary>
    /// Splits <c>host:port</c> (an endpoint's or a connection's text) into the address and port attributes want; the port
    /// is -1 when the text has none. False for an empty text.
    /// </summary>
    internal static bool SplitHostPort(string? endpoint, out string host, out int port)
    {
        host = endpoint ?? string.Empty;
        port = -1;
        if (string.IsNullOrEmpty(endpoint))
        {
            return false;
        }

        int colon = endpoint.LastIndexOf(':');
        if (colon > 0 && int.TryParse(endpoint.AsSpan(colon + 1), out port))
        {
            host = endpoint[..colon].Trim('[', ']');
        }
        else
        {
            port = -1;
        }

        return true;
    }

    /// <summary>Ends a span with the call's outcome.</summary>
    internal static void Stop(Activity? activity, Exception? error)
    {
        if (activity is null)
        {
            return;
        }

        RpcStatusCode code = StatusOf(error);
        activity.SetTag("rpc.rpcgen.status_code", (int)code);
        if (error is not null)
        {
            activity.SetTag("error.type", error is RpcException ? code.ToString() : error.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
        }

        activity.Dispose();
    }

    /// <summary>Adds the items of a W3C <c>baggage</c> header to the server span (properties after ';' are dropped; bad items skipped).</summary>
    private static void RestoreBaggage(Activity activity, string header)
    {
        foreach (string item in header.Split(','))
        {
            string pair = item.Split(';')[0];
            int equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                continue;
            }

            string key = Uri.UnescapeDataString(pair[..equals].Trim());
            if (key.Length > 0)
            {
                activity.AddBaggage(key, Uri.UnescapeDataString(pair[(equals + 1)..].Trim()));
            }
        }
    }

    /// <summary>The status code a call's outcome stands for (OK without an error).</summary>
    internal static RpcStatusCode StatusOf(Exception? error) => error switch
    {
        null => RpcStatusCode.OK,
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException => RpcStatusCode.Cancelled,
        _ => RpcStatusCode.Unknown,
    };

    private static void Tag(Activity? activity, string service, string method)
    {
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("rpc.system", "rpcgen");
            activity.SetTag("rpc.service", service);
            activity.SetTag("rpc.method", method);
        }
    }
}
