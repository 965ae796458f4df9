using System;
using System.Diagnostics;
using RpcGen.Protocol;

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
                if (entry.Key is not (TraceParent or TraceState))
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

        return combined;
    }

    /// <summary>Ends a span with the call's outcome.</summary>
    internal static void Stop(Activity? activity, Exception? error)
    {
        if (activity is null)
        {
            return;
        }

        RpcStatusCode code = error switch
        {
            null => RpcStatusCode.OK,
            RpcException rpc => rpc.StatusCode,
            OperationCanceledException => RpcStatusCode.Cancelled,
            _ => RpcStatusCode.Unknown,
        };
        activity.SetTag("rpc.rpcgen.status_code", (int)code);
        if (error is not null)
        {
            activity.SetTag("error.type", error is RpcException ? code.ToString() : error.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
        }

        activity.Dispose();
    }

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
