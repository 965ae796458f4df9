using System;
using System.Diagnostics;
using System.Threading;
using RpcGen.Telemetry;

namespace RpcGen.Server.Internal;

/// <summary>
/// The one place the server's call path reports to: each call's span (<see cref="RpcGenTracing"/>) and metrics
/// (<see cref="RpcGenMetrics"/>), refusals, hand-offs and closed connections. The call path says what happened; whether
/// anyone listens is decided here. With no listener a call costs two checks and allocates nothing.
/// </summary>
internal static class ServerTelemetry
{
    /// <summary>
    /// Starts observing <paramref name="call"/> (its span when a listener samples it, its metrics when one reads them)
    /// and returns the activity that was current, for <see cref="LeaveReadLoop"/>.
    /// </summary>
    public static Activity? StartCall(
        RpcServerCall call, RpcServer server, RpcServiceDispatcher dispatcher, int methodIndex, RpcMetadata? headers, string? remote, int requestSize,
        long arrived)
    {
        string service = dispatcher.Descriptor.Name;
        string method = call.Method.Name;
        Activity? outer = Activity.Current;
        call.Span = RpcGenTracing.StartServer(service, method, headers ?? RpcMetadata.Empty);
        if (call.Span is { IsAllDataRequested: true } span)
        {
            RpcGenTracing.SetPeer(span, remote);
        }

        if (RpcGenMetrics.ServerObserved)
        {
            call.MetricsStart = Stopwatch.GetTimestamp();
            call.MetricsCounted = true;
            TagList tags = RpcGenMetrics.CallTags(service, method);
            RpcGenMetrics.ServerActive.Add(1, tags);
            RpcGenMetrics.ServerRequestSize.Record(requestSize, tags);
        }
        else if (LiveStats.Enabled)
        {
            // Only the admin page's figures: timed from the read that brought the request (no clock read) when the
            // server's clock is the system's (Stopwatch ticks), or only counted (-1) past the window's sampling quota.
            LatencyWindow window =
                Volatile.Read(ref dispatcher.LiveWindows[methodIndex]) ?? LiveWindow(server, dispatcher, methodIndex, call.Method);
            call.Live = window;
            long begun = window.Begin();
            call.MetricsStart = begun < 0 ? -1 : server.TimeProvider == TimeProvider.System ? arrived : begun;
        }

        return outer;
    }

    /// <summary>A method's first watched call: its window, kept by the dispatcher for the next calls and by the server for the page.</summary>
    private static LatencyWindow LiveWindow(
        RpcServer server, RpcServiceDispatcher dispatcher, int methodIndex, Descriptors.RpcMethodDescriptor method)
    {
        LatencyWindow window = server.LiveMethods.GetOrAdd(method, static _ => new LatencyWindow());
        Volatile.Write(ref dispatcher.LiveWindows[methodIndex], window);
        return window;
    }

    /// <summary>The read loop goes on without the call's span (the span goes on with the handler).</summary>
    public static void LeaveReadLoop(RpcServerCall call, Activity? outer)
    {
        if (call.Span is not null)
        {
            Activity.Current = outer;
        }
    }

    /// <summary>A handler starting on a thread-pool thread runs inside its call's span (the item does not carry the read loop's context).</summary>
    public static void EnterHandler(RpcServerCall call)
    {
        if (call.Span is { } span)
        {
            Activity.Current = span;
        }
    }

    /// <summary>Ends the call's span with its outcome and records its duration and response size.</summary>
    public static void EndCall(RpcServerCall call, RpcServer server)
    {
        if (call.Span is { } span)
        {
            call.Span = null;
            if (call.Stream is { } stream)
            {
                SetStreamTags(span, stream);
            }

            RpcGenTracing.Stop(span, call.Outcome);
        }

        if (call.MetricsStart != 0 && LiveStats.Enabled)
        {
            RpcStatusCode code = RpcGenTracing.StatusOf(call.Outcome);
            LatencyWindow window = call.Live ?? server.LiveMethods.GetOrAdd(call.Method, static _ => new LatencyWindow());
            window.End(call.MetricsStart, (int)code, code != RpcStatusCode.OK);
        }

        call.Live = null;

        if (!call.MetricsCounted)
        {
            call.MetricsStart = 0;
        }
        else
        {
            call.MetricsCounted = false;
            TagList tags = RpcGenMetrics.CallTags(call.Method.Service.Name, call.Method.Name);
            RpcGenMetrics.ServerActive.Add(-1, tags);
            RpcGenMetrics.AddOutcome(ref tags, call.Outcome);
            if (call.Outcome is null && call.ResponseSize >= 0)
            {
                RpcGenMetrics.ServerResponseSize.Record(call.ResponseSize, tags);
            }

            RpcGenMetrics.ServerDuration.Record(Stopwatch.GetElapsedTime(call.MetricsStart).TotalSeconds, tags);
            call.MetricsStart = 0;
            if (call.Stream is { } counted)
            {
                TagList streamTags = RpcGenMetrics.CallTags(call.Method.Service.Name, call.Method.Name);
                if (counted.Inbox is { } inbox)
                {
                    RpcGenMetrics.ServerRequestsPerRpc.Record(inbox.Received, streamTags);
                }

                if (counted.Credit is not null)
                {
                    RpcGenMetrics.ServerResponsesPerRpc.Record(counted.Sent, streamTags);
                }
            }
        }
    }

    private static void SetStreamTags(Activity span, ServerStream stream)
    {
        if (stream.Inbox is { } inbox)
        {
            span.SetTag("rpc.rpcgen.stream.received", inbox.Received);
        }

        if (stream.Credit is not null)
        {
            span.SetTag("rpc.rpcgen.stream.sent", stream.Sent);
        }
    }

    /// <summary>A request (or a connection) refused at <paramref name="limit"/> (<c>calls</c>, <c>connections</c>…).</summary>
    public static void Refused(string limit) => RpcGenMetrics.Add(RpcGenMetrics.Refused, RpcGenMetrics.LimitTag, limit);

    /// <summary>A connection closed by the server for <paramref name="reason"/> (<c>idle</c>, <c>frame</c>, <c>tls</c>…).</summary>
    public static void ConnectionClosed(string reason) => RpcGenMetrics.Add(RpcGenMetrics.ConnectionsClosed, RpcGenMetrics.ReasonTag, reason);

    /// <summary>The read loop handed the rest of its batch to another thread (a handler blocked it).</summary>
    public static void HandedOff() => RpcGenMetrics.Add(RpcGenMetrics.HandOffs);
}
