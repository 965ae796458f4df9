using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Balancing;
using RpcGen.Client.Internal;
using RpcGen.Descriptors;
using RpcGen.Serialization;

namespace RpcGen.Client;

/// <summary>
/// The runtime surface generated proxies call: one <c>InvokeAsync</c> per call, with a method built once per proxy and
/// the arguments in a generated struct. A call goes: deadline (<see cref="CallDeadline"/>) → resilience for methods
/// with policies (<see cref="ResilientCalls"/>) → attempts (<see cref="CallAttempts"/>: pick, connection, request
/// frame, response) → the result, or the one exception the caller sees.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed partial class RpcCallInvoker
{
    private readonly RpcClient _client;
    private readonly bool _explicitOptions;
    private readonly CallAttempts _attempts;
    private readonly ResilientCalls _resilient;

    internal RpcCallInvoker(RpcClient client, JsonSerializerOptions? explicitOptions)
    {
        _client = client;
        _attempts = new CallAttempts(client);
        _resilient = new ResilientCalls(client, _attempts);
        _explicitOptions = explicitOptions is not null;
        SerializerOptions = explicitOptions ?? RpcDefaults.CreateSerializerOptions();
    }

    /// <summary>The serializer options arguments and results use (unless a service names its own JSON context).</summary>
    internal JsonSerializerOptions SerializerOptions { get; }

    /// <summary>
    /// Resolves the JSON contract of <typeparamref name="T"/> for <paramref name="service"/>: from the client's
    /// <c>SerializerOptions</c> when they were given, else from the service's named JSON context, else the defaults.
    /// </summary>
    public JsonTypeInfo<T> GetTypeInfo<T>(RpcServiceDescriptor service) =>
        RpcDefaults.GetTypeInfo<T>(service.Name, service.InterfaceType, service.JsonContext, SerializerOptions, _explicitOptions);

    /// <summary>Prepares a method without a result; <paramref name="balancer"/> creates the user's <c>[LoadBalance(typeof(X))]</c> balancer.</summary>
    public RpcClientMethod GetMethod(RpcMethodDescriptor descriptor, Func<ILoadBalancer>? balancer = null) =>
        _client.AddMethod(descriptor, balancer, (picked, userOwned, policies) => new RpcClientMethod(descriptor, picked, userOwned, policies, balancer));

    /// <summary>Prepares a method with a result; <paramref name="balancer"/> creates the user's <c>[LoadBalance(typeof(X))]</c> balancer.</summary>
    public RpcClientMethod<TResult> GetMethod<TResult>(RpcMethodDescriptor descriptor, Func<ILoadBalancer>? balancer = null)
    {
        JsonTypeInfo<TResult> resultType = GetTypeInfo<TResult>(descriptor.Service);
        return _client.AddMethod(descriptor, balancer, (picked, userOwned, policies) => new RpcClientMethod<TResult>(descriptor, picked, userOwned, policies, resultType, balancer));
    }

    /// <summary>Calls a method that returns a result.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<TResult> InvokeAsync<TArguments, TResult>(RpcClientMethod<TResult> method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        System.Diagnostics.Activity? span = ClientTelemetry.StartCall(method);
        long live = ClientTelemetry.LiveStart(method);
        AttemptResult result = await SendTracedAsync(method, arguments, span, cancellationToken).ConfigureAwait(false);
        ClientTelemetry.LiveEnd(method, live, result.Error);
        using (result)
        {
            RpcCallScope.Current?.Complete(result.Response.Metadata, result.Error);
            result.ThrowIfFailed();
            return method.ReadResult(result.Response.Span, result.Endpoint);
        }
    }

    /// <summary>Calls a method that returns no result.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask InvokeAsync<TArguments>(RpcClientMethod method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        System.Diagnostics.Activity? span = ClientTelemetry.StartCall(method);
        long live = ClientTelemetry.LiveStart(method);
        AttemptResult result = await SendTracedAsync(method, arguments, span, cancellationToken).ConfigureAwait(false);
        ClientTelemetry.LiveEnd(method, live, result.Error);
        RpcCallScope.Current?.Complete(result.Response.Metadata, result.Error);
        result.Dispose();
        result.ThrowIfFailed();
    }

    /// <summary>
    /// The call inside its client span and metrics, when a listener wants either: the span ends with the call's
    /// outcome, and the duration, response size and calls-in-flight are recorded. Otherwise the call goes straight on.
    /// </summary>
    private ValueTask<AttemptResult> SendTracedAsync<TArguments>(
        RpcClientMethod method, TArguments arguments, System.Diagnostics.Activity? span, CancellationToken cancellationToken,
        ClientStream? stream = null)
        where TArguments : struct, IRpcArguments
    {
        if (!ClientTelemetry.IsObserved(span))
        {
            return SendAsync(method, arguments, cancellationToken, stream);
        }

        return Observed(this, method, arguments, span, cancellationToken, stream);

        static async ValueTask<AttemptResult> Observed(
            RpcCallInvoker invoker, RpcClientMethod method, TArguments arguments, System.Diagnostics.Activity? span, CancellationToken cancellationToken,
            ClientStream? stream)
        {
            ClientTelemetry.CallObservation observation = ClientTelemetry.BeginObserved(method);
            AttemptResult result = default;
            Exception? thrown = null;
            try
            {
                result = await invoker.SendAsync(method, arguments, cancellationToken, stream).ConfigureAwait(false);
                return result;
            }
            catch (Exception ex)
            {
                thrown = ex;
                throw;
            }
            finally
            {
                if (stream is not null)
                {
                    ClientTelemetry.StreamEnded(observation, method, span, stream.Sent, stream.Received);
                }

                ClientTelemetry.EndObserved(observation, span, result.Endpoint, thrown ?? result.Error, result.Response.Span.Length);
            }
        }
    }

    /// <summary>
    /// Sends the request and waits for its response, under the method's deadline and resilience policies. Methods
    /// without policies take the direct path: one attempt, with transparent retries of requests that never reached a
    /// handler. Failures come back as values; the caller's await throws them once.
    /// </summary>
    private ValueTask<AttemptResult> SendAsync<TArguments>(
        RpcClientMethod method, TArguments arguments, CancellationToken cancellationToken, ClientStream? stream)
        where TArguments : struct, IRpcArguments
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_client.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(RpcClient));
        }

        CallDeadline deadline = CallDeadline.Begin(method, _client.TimeProvider);
        if (stream is { Resumed: true })
        {
            deadline = deadline.WithoutOwnTimeout();
        }

        ulong hashKey = method.HasHashKey ? arguments.GetHashKey() : 0;
        bool intercepted = _client.Interceptors.Length > 0;
        ClientCall call = ClientCall.Rent(_client, method, deadline, hashKey, intercepted, cancellationToken);
        if (stream is not null)
        {
            call.Stream = stream;
            stream.Begin(deadline);
        }

        return intercepted ? InterceptedSendAsync(call, arguments) : Send(call, arguments);
    }

    private ValueTask<AttemptResult> Send<TArguments>(ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments =>
        call.Policies is not null ? _resilient.SendAsync(call, arguments) : _attempts.RunAsync(call, arguments, 0, call.CancellationToken);

    /// <summary>
    /// The call inside the client's interceptors (call level; each attempt runs inside them again, at the attempt level).
    /// An interceptor that throws fails the call with what it threw.
    /// </summary>
    private async ValueTask<AttemptResult> InterceptedSendAsync<TArguments>(ClientCall call, TArguments arguments)
        where TArguments : struct, IRpcArguments
    {
        try
        {
            RpcClientInterceptor[] interceptors = _client.Interceptors;
            RpcMetadata headers = RpcMetadata.CopyOf(RpcCallScope.Outgoing(_client.Options.DefaultRequestHeaders));
            var outgoing = new RpcOutgoingCall(call.Method.Descriptor, headers, -1, _client.TimeProvider, call.Deadline, call.CancellationToken);
            int runs = 0;
            return await ClientInterceptorChain.RunAsync(interceptors, attemptLevel: false, outgoing, c =>
            {
                // An interceptor may call next more than once (a retry of its own): each run is a call of its own.
                ClientCall run = Interlocked.Increment(ref runs) == 1 ? call : call.ForExecution(call.CancellationToken);
                run.Outgoing = c;
                return Send(run, arguments);
            }).ConfigureAwait(false);
        }
        finally
        {
            ClientCall.Return(call, CallOwner.Interceptors);
        }
    }
}
