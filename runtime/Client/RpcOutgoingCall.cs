using System;
using System.Threading;
using RpcGen.Client.Internal;
using RpcGen.Descriptors;
using RpcGen.Protocol;

namespace RpcGen.Client;

/// <summary>A call (or one attempt of it) as a <see cref="RpcClientInterceptor"/> sees it.</summary>
public sealed class RpcOutgoingCall
{
    private readonly TimeProvider _time;
    private readonly long _deadline;

    internal RpcOutgoingCall(RpcMethodDescriptor method, RpcMetadata requestHeaders, int attempt, TimeProvider time, long deadline, CancellationToken cancellationToken)
    {
        Method = method;
        RequestHeaders = requestHeaders;
        Attempt = attempt;
        _time = time;
        _deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>The method being called.</summary>
    public RpcMethodDescriptor Method { get; }

    /// <summary>
    /// The headers to send: at the call level, those of every attempt (the client's defaults and the scopes' to start
    /// with); at the attempt level, this attempt's (a copy of the call's).
    /// </summary>
    public RpcMetadata RequestHeaders { get; }

    /// <summary>-1 at the call level; the attempt's number (0 for the first) at the attempt level.</summary>
    public int Attempt { get; }

    /// <summary>The caller's token.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>True when the call has a deadline.</summary>
    public bool HasDeadline => _deadline != long.MaxValue;

    /// <summary>The time left until the deadline (zero once passed; <see cref="TimeSpan.MaxValue"/> without one).</summary>
    public TimeSpan Remaining => CallPropagation.TimeLeft(_time, _deadline);

    /// <summary>After <c>next</c>: why the call (or attempt) failed, or null when it succeeded.</summary>
    public Exception? Error { get; private set; }

    /// <summary>After <c>next</c>: the endpoint that answered, when one did.</summary>
    public string? Endpoint { get; private set; }

    /// <summary>After <c>next</c>: the response's headers, or null.</summary>
    public RpcMetadata? ResponseHeaders { get; private set; }

    /// <summary>After <c>next</c>: the response's trailers, or null.</summary>
    public RpcMetadata? ResponseTrailers { get; private set; }

    /// <summary>True once <c>next</c> reached the call's sending (an interceptor that neither calls it nor throws leaves the call without an outcome).</summary>
    internal bool Sent { get; private set; }

    /// <summary>What an interceptor threw: the outcome outer interceptors see, and the call's (or attempt's) failure.</summary>
    internal Exception? Thrown { get; private set; }

    internal void Fail(Exception error)
    {
        Error = error;
        Thrown = error;
    }

    private AttemptResult _result;

    /// <summary>The outcome the chain hands back (the caller disposes it); cleared here.</summary>
    internal AttemptResult TakeResult()
    {
        AttemptResult result = _result;
        _result = default;
        return result;
    }

    internal void Complete(in AttemptResult result)
    {
        _result.Dispose(); // an interceptor that called next again (its own retry) drops the earlier response
        _result = result;
        Sent = true;
        Error = result.Error;
        Endpoint = result.Error is RpcException { Endpoint: { } failed } ? failed : result.Endpoint.Length > 0 ? result.Endpoint : null;
        HeadersAndTrailers? metadata = result.Response.Metadata;
        if (result.Error is RpcException rpc)
        {
            metadata = rpc.ResponseHeaders is null && rpc.Trailers is null ? null : new HeadersAndTrailers(rpc.ResponseHeaders, rpc.Trailers);
        }

        ResponseHeaders = metadata?.Headers;
        ResponseTrailers = metadata?.Trailers;
    }

    /// <summary>A copy of the call's headers for one attempt, so an attempt's changes stay its own.</summary>
    internal RpcMetadata CopyHeaders() => RpcMetadata.CopyOf(RequestHeaders);
}
