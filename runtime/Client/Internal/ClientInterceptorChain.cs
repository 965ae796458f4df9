using System;
using System.Threading.Tasks;

namespace RpcGen.Client.Internal;

/// <summary>
/// Runs a client's interceptors, at the call or the attempt level, around the code that sends: <c>next</c> never throws
/// (what an inner interceptor throws is the outcome outer ones see), and the outcome comes back as a value.
/// </summary>
internal static class ClientInterceptorChain
{
    public static async ValueTask<AttemptResult> RunAsync(
        RpcClientInterceptor[] interceptors, bool attemptLevel, RpcOutgoingCall call, Func<RpcOutgoingCall, ValueTask<AttemptResult>> send)
    {
        await Next(0)(call).ConfigureAwait(false);
        AttemptResult result = call.TakeResult();
        if (call.Thrown is { } thrown)
        {
            result.Dispose();
            return AttemptResult.Failed(thrown);
        }

        return call.Sent
            ? result
            : AttemptResult.Failed(new InvalidOperationException(
                $"A client interceptor of '{call.Method.FullName}' returned from {(attemptLevel ? "an attempt" : "the call")} without calling next or throwing, so it has no outcome."));

        Func<RpcOutgoingCall, ValueTask> Next(int index) => index < interceptors.Length
            ? async c =>
            {
                try
                {
                    RpcClientInterceptor interceptor = interceptors[index];
                    await (attemptLevel ? interceptor.InterceptAttemptAsync(c, Next(index + 1)) : interceptor.InterceptCallAsync(c, Next(index + 1))).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    c.Fail(ex);
                }
            }
            : async c => c.Complete(await send(c).ConfigureAwait(false));
    }
}
