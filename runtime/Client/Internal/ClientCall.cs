using System;
using System.Threading;
using RpcGen.Resilience.Internal;

namespace RpcGen.Client.Internal;

/// <summary>
/// The per-call context: everything one call's layers read (method, policies, deadline, cancellation, the arguments'
/// hash key, the call-level interceptors' view) and the state its attempts share (<see cref="CallState"/>: endpoints
/// tried, attempt count, call id). One object passed down instead of long parameter lists, as Polly passes its
/// <c>ResilienceContext</c> and grpc-dotnet its <c>GrpcCall</c>; a stream will carry one too.
/// </summary>
/// <remarks>
/// Pooled per thread, like Polly's <c>ResilienceContextPool</c>: a sequential call takes this thread's instance and its
/// owner (<see cref="Owner"/>) returns it when the call ends, so a call allocates no context. Calls whose attempts
/// run at once (hedging, broadcast) get their own instance and never return it: a losing hedge may still hold it.
/// </remarks>
internal sealed class ClientCall : CallState
{
    [ThreadStatic]
    private static ClientCall? t_cached;

    private ClientCall()
    {
    }

    /// <summary>The client making the call.</summary>
    public RpcClient Client { get; private set; } = null!;

    public RpcClientMethod Method { get; private set; } = null!;

    /// <summary>The method's policies, typed by what an attempt returns; null on the direct path.</summary>
    public MethodResilience<AttemptResult>? Policies { get; private set; }

    /// <summary>When the call started on the client's clock (0 when neither a timeout nor a policy needed the clock).</summary>
    public long Start { get; private set; }

    /// <summary>The stable hash of the <c>[HashKey]</c> argument (0 when the method has none).</summary>
    public ulong HashKey { get; private set; }

    /// <summary>What the call-level interceptors saw and set (their headers), or null when the client has none.</summary>
    public RpcOutgoingCall? Outgoing { get; set; }

    /// <summary>The call's streams, for a streaming method; null for a unary call.</summary>
    public ClientStream? Stream { get; set; }

    /// <summary>Which layer returns this context to the pool when the call ends.</summary>
    public CallOwner Owner { get; private set; }

    /// <summary>The first attempt of a call on the direct path starts when the call did: its clock reading is reused.</summary>
    public long FirstAttemptStart => Owner == CallOwner.Attempt ? Start : 0;

    /// <summary>A context for a call of <paramref name="method"/>, this thread's pooled one when its attempts run one at a time.</summary>
    public static ClientCall Rent(
        RpcClient client, RpcClientMethod method, CallDeadline deadline, ulong hashKey, bool intercepted, CancellationToken cancellationToken)
    {
        MethodResilience<AttemptResult>? policies = method.Resilience;
        bool concurrent = policies is not null && (policies.Broadcast || (policies.HedgingPipeline is not null && !deadline.ServingRetry));
        ClientCall? call = concurrent ? null : t_cached;
        if (call is not null)
        {
            t_cached = null;
        }
        else
        {
            call = new ClientCall();
        }

        call.Begin(policies, deadline.Timestamp, deadline.ServingRetry, cancellationToken, concurrent);
        call.Client = client;
        call.Method = method;
        call.Policies = policies;
        call.Start = deadline.Start;
        call.HashKey = hashKey;
        call.Owner = intercepted ? CallOwner.Interceptors
            : policies is null ? CallOwner.Attempt
            : policies.Outer is not null ? CallOwner.UserPipeline
            : CallOwner.Policies;
        return call;
    }

    /// <summary>
    /// A context of its own for one execution of the user's pipeline (<c>AdditionalResilience</c>), which may run the
    /// call more than once (a retry of its own) with a token of its own (a timeout of its own): each execution starts
    /// with no endpoint tried and a new call id, and is never returned to the pool.
    /// </summary>
    public ClientCall ForExecution(CancellationToken cancellationToken)
    {
        var execution = new ClientCall();
        execution.Begin(Policies, Deadline, ServingRetry, cancellationToken, Concurrent);
        execution.Client = Client;
        execution.Method = Method;
        execution.Policies = Policies;
        execution.Start = Start;
        execution.HashKey = HashKey;
        execution.Outgoing = Outgoing;
        execution.Stream = Stream;
        execution.Owner = CallOwner.None;
        return execution;
    }

    /// <summary>Returns the context when <paramref name="owner"/> owns it; a concurrent call's is left to the collector.</summary>
    public static void Return(ClientCall call, CallOwner owner)
    {
        if (call.Owner != owner || call.Concurrent)
        {
            return;
        }

        call.Clear();
        call.Client = null!;
        call.Method = null!;
        call.Policies = null;
        call.Outgoing = null;
        call.Stream = null;
        t_cached = call;
    }
}

/// <summary>The layer that ends a call and returns its <see cref="ClientCall"/> to the pool.</summary>
internal enum CallOwner
{
    /// <summary>The call's one attempt (a method without policies, no interceptors).</summary>
    Attempt,

    /// <summary>The resilience layer, after the last attempt (retries, hedging, broadcast).</summary>
    Policies,

    /// <summary>The call-level interceptors' wrapper.</summary>
    Interceptors,

    /// <summary>The user's pipeline around the call (<c>AdditionalResilience</c>), after its last execution.</summary>
    UserPipeline,

    /// <summary>Nobody: an execution's own context, left to the collector.</summary>
    None,
}
