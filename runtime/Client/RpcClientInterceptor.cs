using System;
using System.Threading.Tasks;

namespace RpcGen.Client;

/// <summary>
/// Code that runs around a client's calls (logging, credentials, telemetry…), registered in
/// <see cref="RpcClientOptions.Interceptors"/> and run in that order, the first outermost. Two places, each optional:
/// around the whole call (once, with retries, hedges and failover inside it), and around each attempt (again for every
/// retry or hedge: the place for a credential that may need refreshing). Call <c>next</c> to go on; it does not throw:
/// after it the outcome is known (<see cref="RpcOutgoingCall.Error"/>: the call's failure or what an inner interceptor
/// threw; the response's metadata). Throw to fail the call (at the call level, as is; at the attempt level, as a
/// failed attempt the retry policy judges).
/// </summary>
public abstract class RpcClientInterceptor
{
    /// <summary>Around the whole call. The default calls <paramref name="next"/>.</summary>
    public virtual ValueTask InterceptCallAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next) => next(call);

    /// <summary>Around one attempt; its <see cref="RpcOutgoingCall.RequestHeaders"/> are this attempt's own. The default calls <paramref name="next"/>.</summary>
    public virtual ValueTask InterceptAttemptAsync(RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask> next) => next(call);
}
