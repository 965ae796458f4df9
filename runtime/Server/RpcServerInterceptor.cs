using System;
using System.Threading.Tasks;

namespace RpcGen.Server;

/// <summary>
/// Code that runs around every handler of a server (logging, authentication, rate limiting…), registered in
/// <see cref="RpcServerOptions.Interceptors"/> and run in that order, the first outermost. Call <c>next</c> to go on to
/// the next interceptor and finally the handler; throw (an <see cref="RpcException"/> with the status the
/// caller should see) to refuse the call, which then never runs. <c>next</c> does not throw: after it the call's
/// outcome is known (<see cref="RpcIncomingCall.Error"/>: what the handler or an inner interceptor threw) and its
/// response not yet sent, so trailers written then still go out. What the outermost interceptor leaves in
/// <see cref="RpcIncomingCall.Error"/> (or throws) is what the caller gets.
/// </summary>
public abstract class RpcServerInterceptor
{
    /// <summary>Runs around the call: its own code, then <paramref name="next"/>, then more of its own.</summary>
    public abstract ValueTask InterceptAsync(RpcIncomingCall call, Func<RpcIncomingCall, ValueTask> next);
}
