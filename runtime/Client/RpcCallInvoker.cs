using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;
using RpcGen.Resilience;
using RpcGen.Serialization;
using RpcGen.Transport;

namespace RpcGen.Client;

/// <summary>
/// The runtime surface generated proxies call: one <c>InvokeAsync</c> per call, with a method built once per proxy and
/// the arguments in a generated struct. Picks an endpoint, writes the request frame, waits for the response under the
/// method's deadline and the caller's token, and reads the result.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RpcCallInvoker
{
    private readonly RpcClient _client;

    private readonly bool _explicitOptions;

    internal RpcCallInvoker(RpcClient client, JsonSerializerOptions? explicitOptions)
    {
        _client = client;
        _explicitOptions = explicitOptions is not null;
        SerializerOptions = explicitOptions ?? RpcDefaults.CreateSerializerOptions();
    }

    /// <summary>The serializer options arguments and results use (unless a service names its own JSON context).</summary>
    public JsonSerializerOptions SerializerOptions { get; }

    /// <summary>
    /// Resolves the JSON contract of <typeparamref name="T"/> for <paramref name="service"/>: from the client's
    /// <c>SerializerOptions</c> when they were given, else from the service's named JSON context, else the defaults.
    /// </summary>
    public JsonTypeInfo<T> GetTypeInfo<T>(RpcServiceDescriptor service) =>
        RpcDefaults.GetTypeInfo<T>(service, SerializerOptions, _explicitOptions);

    /// <summary>Prepares a method without a result.</summary>
    public RpcClientMethod GetMethod(RpcMethodDescriptor descriptor) => new(descriptor, _client.GetBalancer(descriptor), _client.GetResilience(descriptor));

    /// <summary>Prepares a method with a result.</summary>
    public RpcClientMethod<TResult> GetMethod<TResult>(RpcMethodDescriptor descriptor) =>
        new(descriptor, _client.GetBalancer(descriptor), _client.GetResilience(descriptor), GetTypeInfo<TResult>(descriptor.Service));

    /// <summary>Calls a method that returns a result.</summary>
    public async ValueTask<TResult> InvokeAsync<TArguments, TResult>(RpcClientMethod<TResult> method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        AttemptResult result = await SendAsync(method, arguments, cancellationToken).ConfigureAwait(false);
        using (result)
        {
            return method.ReadResult(result.Response.Span, result.Endpoint);
        }
    }

    /// <summary>Calls a method that returns no result.</summary>
    public async ValueTask InvokeAsync<TArguments>(RpcClientMethod method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        AttemptResult result = await SendAsync(method, arguments, cancellationToken).ConfigureAwait(false);
        result.Dispose();
    }

    /// <summary>
    /// Sends the request and waits for its response, under the method's deadline and resilience policies. Methods
    /// without policies take the direct path: one attempt, with transparent retries of requests that never reached a
    /// handler.
    /// </summary>
    private ValueTask<AttemptResult> SendAsync<TArguments>(RpcClientMethod method, TArguments arguments, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_client.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(RpcClient));
        }

        TimeProvider time = _client.TimeProvider;
        MethodResilience? resilience = method.Resilience;
        long now = method.TimeoutMilliseconds > 0 || resilience is not null ? time.GetTimestamp() : 0;
        long deadline = method.TimeoutMilliseconds > 0
            ? now + (method.TimeoutMilliseconds * time.TimestampFrequency / 1000)
            : long.MaxValue;
        bool servingRetry = false;
        if (RpcCallContext.Current is { } served)
        {
            servingRetry = served.IsRetryAttempt;
            if (served.HasDeadline)
            {
                // Called from inside a handler: never outlive the call being served (deadline propagation).
                TimeSpan left = served.Remaining;
                if (left <= TimeSpan.Zero)
                {
                    throw new RpcException(RpcStatusCode.DeadlineExceeded,
                        $"'{method.Descriptor.FullName}' was called after the deadline of the call being served ('{served.Method.FullName}') had passed.");
                }

                long inherited = time.GetTimestamp() + (long)(left.TotalSeconds * time.TimestampFrequency);
                deadline = Math.Min(deadline, inherited);
            }
        }

        ulong hashKey = method.HasHashKey ? arguments.GetHashKey() : 0;
        if (resilience is null)
        {
            return AttemptAsync(method, arguments, deadline, hashKey, null, 0, null, cancellationToken);
        }

        if (resilience.Outer is { } outer)
        {
            return outer.ExecuteAsync(
                static (s, token) => s.Invoker.ResilientSendAsync(s.Method, s.Resilience, s.Arguments, s.Now, s.Deadline, s.HashKey, s.ServingRetry, token),
                new OuterState<TArguments>(this, method, resilience, arguments, now, deadline, hashKey, servingRetry),
                cancellationToken);
        }

        return ResilientSendAsync(method, resilience, arguments, now, deadline, hashKey, servingRetry, cancellationToken);
    }

    private readonly record struct OuterState<TArguments>(
        RpcCallInvoker Invoker, RpcClientMethod Method, MethodResilience Resilience, TArguments Arguments, long Now, long Deadline, ulong HashKey, bool ServingRetry);

    private readonly record struct AttemptState<TArguments>(RpcCallInvoker Invoker, RpcClientMethod Method, TArguments Arguments, ulong HashKey);

    /// <summary>Broadcast, hedging, or a first attempt that enters the retry pipeline only when it failed retryably.</summary>
    private async ValueTask<AttemptResult> ResilientSendAsync<TArguments>(
        RpcClientMethod method, MethodResilience resilience, TArguments arguments, long now, long deadline, ulong hashKey, bool servingRetry, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        if (resilience.Broadcast)
        {
            return await BroadcastAsync(method, resilience, arguments, deadline, cancellationToken).ConfigureAwait(false);
        }

        bool hedged = resilience.HedgingPipeline is not null && !servingRetry;
        CallState state = CallState.Rent(resilience, deadline, servingRetry, cancellationToken, concurrent: hedged);
        try
        {
            if (resilience.Retry is not null || hedged)
            {
                resilience.Budget.Deposit(now);
            }

            if (hedged)
            {
                return await ThroughPipelineAsync(resilience.HedgingPipeline!, method, arguments, hashKey, state, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                return await AttemptAsync(method, arguments, deadline, hashKey, state, state.NextAttempt(), resilience, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception first) when (resilience.RetryPipeline is not null && resilience.ShouldRetry(state, first, 0, commit: false))
            {
                state.ReplayFirst = first;
            }

            return await ThroughPipelineAsync(resilience.RetryPipeline, method, arguments, hashKey, state, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CallState.Return(state);
        }
    }

    /// <summary>Runs attempts through a Polly.Core pipeline (retry or hedging) with the call's state in its context.</summary>
    private async ValueTask<AttemptResult> ThroughPipelineAsync<TArguments>(
        Polly.ResiliencePipeline<AttemptResult> pipeline, RpcClientMethod method, TArguments arguments, ulong hashKey, CallState state, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        Polly.ResilienceContext context = Polly.ResilienceContextPool.Shared.Get(method.Descriptor.FullName, cancellationToken);
        try
        {
            MethodResilience.Attach(context, state);
            Polly.Outcome<AttemptResult> outcome = await pipeline.ExecuteOutcomeAsync(
                static (c, s) => s.Invoker.PipelineAttemptAsync(c, s),
                context,
                new AttemptState<TArguments>(this, method, arguments, hashKey)).ConfigureAwait(false);
            if (outcome.Exception is HedgeSkippedException && Volatile.Read(ref state.LastError) is { } real)
            {
                // A skipped hedge ended the call after a sent attempt failed: the caller sees that attempt's error.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(real);
            }

            outcome.ThrowIfException();
            return outcome.Result;
        }
        finally
        {
            Polly.ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>One attempt made by a pipeline: the replayed first failure, or a new attempt on an endpoint not tried yet.</summary>
    private async ValueTask<Polly.Outcome<AttemptResult>> PipelineAttemptAsync<TArguments>(Polly.ResilienceContext context, AttemptState<TArguments> s)
        where TArguments : struct, IRpcArguments
    {
        CallState state = MethodResilience.State(context);
        if (state.ReplayFirst is { } first)
        {
            state.ReplayFirst = null;
            return Polly.Outcome.FromException<AttemptResult>(first);
        }

        MethodResilience resilience = state.Resilience;
        int attempt = state.NextAttempt();
        if (attempt > 0 && state.Concurrent)
        {
            // A hedge: only when the time left can fit a typical call, and the budget allows another attempt.
            long typical = resilience.Latency?.Quantile(0.5) ?? 0;
            bool tooLate = state.Deadline != long.MaxValue && _client.TimeProvider.GetTimestamp() + typical >= state.Deadline;
            if (tooLate || !resilience.Budget.TryWithdraw())
            {
                if (!tooLate)
                {
                    Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.RetriesDenied, s.Method.Descriptor.FullName);
                }

                // A handled failure, so that the hedging strategy keeps waiting for the attempts already out.
                return Polly.Outcome.FromException<AttemptResult>(new HedgeSkippedException(s.Method.Descriptor.FullName));
            }

            Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.Hedges, s.Method.Descriptor.FullName);
        }

        try
        {
            return Polly.Outcome.FromResult(await AttemptAsync(s.Method, s.Arguments, state.Deadline, s.HashKey, state, attempt, resilience, context.CancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            Volatile.Write(ref state.LastError, ex);
            return Polly.Outcome.FromException<AttemptResult>(ex);
        }
    }

    /// <summary>Calls every available endpoint at once; fails with every endpoint's error if any failed.</summary>
    private async ValueTask<AttemptResult> BroadcastAsync<TArguments>(
        RpcClientMethod method, MethodResilience resilience, TArguments arguments, long deadline, CancellationToken cancellationToken)
        where TArguments : struct, IRpcArguments
    {
        RpcEndpointState[] endpoints = _client.EndpointSet.Candidates;
        if (endpoints.Length == 0)
        {
            throw new RpcException(RpcStatusCode.Unavailable, $"No endpoint could take the broadcast of '{method.Descriptor.FullName}'.") { NotProcessed = true };
        }

        var attempts = new Task<AttemptResult>[endpoints.Length];
        for (int i = 0; i < endpoints.Length; i++)
        {
            attempts[i] = AttemptAsync(method, arguments, deadline, 0, null, 0, resilience, cancellationToken, endpoints[i]).AsTask();
        }

        try
        {
            await Task.WhenAll(attempts).ConfigureAwait(false);
        }
        catch
        {
            // Every attempt's outcome is read below.
        }

        var errors = new List<RpcException>();
        AttemptResult? first = null;
        for (int i = 0; i < attempts.Length; i++)
        {
            Task<AttemptResult> attempt = attempts[i];
            if (attempt.IsCompletedSuccessfully)
            {
                if (first is null)
                {
                    first = attempt.Result;
                }
                else
                {
                    attempt.Result.Dispose();
                }

                continue;
            }

            Exception error = attempt.Exception?.InnerException ?? new OperationCanceledException(cancellationToken);
            if (error is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                first?.Dispose();
                throw error;
            }

            errors.Add(error as RpcException ?? new RpcException(RpcStatusCode.Unknown, error.Message, error) { Endpoint = endpoints[i].Endpoint.ToString() });
        }

        if (errors.Count > 0)
        {
            first?.Dispose();
            throw new RpcBroadcastException(method.Descriptor.FullName, endpoints.Length, errors);
        }

        return first!.Value;
    }

    /// <summary>
    /// One attempt: picks an endpoint (or uses <paramref name="pinned"/>), sends, and waits. A request that provably
    /// never reached a handler (connection refused, or refused by a server that is shutting down) is sent to another
    /// endpoint, as gRPC's transparent retry does; anything else is the caller's (or the retry policy's) to see. Each
    /// outcome feeds the endpoint's health, latency and circuit.
    /// </summary>
    private async ValueTask<AttemptResult> AttemptAsync<TArguments>(
        RpcClientMethod method, TArguments arguments, long deadline, ulong hashKey, CallState? state, int attemptNumber,
        MethodResilience? resilience, CancellationToken cancellationToken, RpcEndpointState? pinned = null)
        where TArguments : struct, IRpcArguments
    {
        TimeProvider time = _client.TimeProvider;
        TriedEndpoints tried = state?.Tried ?? default;
        RpcException? lastError = null;
        int maxAttempts = pinned is null ? _client.EndpointSet.All.Length + 2 : 1;
        CircuitBreakerGroup? breaker = resilience?.Breaker;
        pinned ??= state?.Sticky;
        if (pinned is not null)
        {
            maxAttempts = 1;
        }

        for (int transparent = 0; transparent < maxAttempts; transparent++)
        {
            long start = time.GetTimestamp();
            RpcEndpointState? endpoint = pinned ?? Pick(method, hashKey, ref tried, start, state is not null && transparent == 0, breaker);
            if (endpoint is null)
            {
                break;
            }

            state?.AddTried(endpoint.Id);
            breaker?.OnAttempt(endpoint.Id, start);
            long attemptDeadline = deadline;
            if (resilience is { PerAttemptTimeoutMs: > 0 })
            {
                attemptDeadline = Math.Min(deadline, start + (resilience.PerAttemptTimeoutMs * time.TimestampFrequency / 1000));
            }

            _client.CallStarted(endpoint);
            ClientConnection connection;
            PendingCall? call;
            try
            {
                ValueTask<ClientConnection> connecting = endpoint.GetConnectionAsync(cancellationToken);
                connection = connecting.IsCompletedSuccessfully
                    ? connecting.Result
                    : await WaitWithinDeadlineAsync(connecting.AsTask(), attemptDeadline, endpoint, method, "connecting to", cancellationToken).ConfigureAwait(false);
                call = connection.TryStartCall(out bool full);
                if (full)
                {
                    call = await StartCallAsync(connection, endpoint, method, attemptDeadline, cancellationToken).ConfigureAwait(false);
                }

                if (call is null)
                {
                    // The connection began draining between the pick and now; the next attempt opens another.
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    continue;
                }
            }
            catch (RpcException ex) when (ex.NotProcessed && ex.StatusCode != RpcStatusCode.DeadlineExceeded)
            {
                _client.CallEnded(endpoint, start, CallOutcome.ConnectFailure);
                breaker?.Record(endpoint, failure: true, time.GetTimestamp());
                lastError = ex;
                tried = tried.Add(endpoint.Id);
                continue;
            }
            catch
            {
                _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                throw;
            }

            call.Arm(cancellationToken, attemptDeadline, time);
            FrameFlags flags = attemptNumber > 0 ? FrameFlags.RetryAttempt : FrameFlags.None;
            if (!TryWriteRequest(method, ref arguments, connection, call, attemptDeadline, time, flags, state, out RpcException? writeError))
            {
                if (writeError is not null)
                {
                    connection.Return(call);
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    throw writeError;
                }

                // The connection closed before the frame left: nothing was sent, try elsewhere.
            }

            ResponseData response;
            try
            {
                response = await call.AsValueTask().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                connection.Return(call);
                CallOutcome outcome = Classify(ex);
                _client.CallEnded(endpoint, start, outcome);
                if (outcome != CallOutcome.Neutral)
                {
                    breaker?.Record(endpoint, outcome == CallOutcome.Failure, time.GetTimestamp()); // cancellations say nothing
                }
                if (ex is RpcException { NotProcessed: true } rpc && transparent + 1 < maxAttempts && time.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
                {
                    lastError = rpc;
                    tried = tried.Add(endpoint.Id);
                    continue;
                }

                if (state is not null && resilience is { Deduplicate: true, Idempotent: false } && ex is RpcException { NotProcessed: false })
                {
                    state.Sticky = endpoint; // the request reached this server: only its window can deduplicate a retry
                }

                if (ex is RpcException { StatusCode: RpcStatusCode.DeadlineExceeded } timedOut && attemptDeadline < deadline && time.GetTimestamp() < deadline)
                {
                    throw new RpcException(RpcStatusCode.DeadlineExceeded,
                        $"An attempt of '{method.Descriptor.FullName}' passed its own timeout of {resilience!.PerAttemptTimeoutMs} ms (PerAttemptTimeoutMs).", ex)
                    {
                        AttemptTimedOut = true,
                        Endpoint = timedOut.Endpoint,
                    };
                }

                throw;
            }

            connection.Return(call);
            long end = time.GetTimestamp();
            _client.CallEnded(endpoint, start, CallOutcome.Success);
            breaker?.Record(endpoint, failure: false, end);
            resilience?.Latency?.Record(end - start);
            return new AttemptResult(response, connection.Remote);
        }

        throw lastError ?? new RpcException(RpcStatusCode.Unavailable, $"No endpoint could take '{method.Descriptor.FullName}'.") { NotProcessed = true };
    }

    /// <summary>
    /// Waits for <paramref name="task"/> (a connection still being made, or a call slot on a full connection), but never
    /// past the call's deadline: a peer that accepts and never completes the handshake holds the connect for
    /// <c>ConnectTimeout</c>, the call only for the time it has left. Timers may fire early, so the clock decides.
    /// </summary>
    private async Task<T> WaitWithinDeadlineAsync<T>(Task<T> task, long deadline, RpcEndpointState endpoint, RpcClientMethod method, string waitingFor, CancellationToken cancellationToken)
    {
        if (deadline == long.MaxValue)
        {
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        TimeProvider time = _client.TimeProvider;
        while (!task.IsCompleted)
        {
            long now = time.GetTimestamp();
            if (now >= deadline)
            {
                throw new RpcException(RpcStatusCode.DeadlineExceeded,
                    $"The deadline of '{method.Descriptor.FullName}' passed while {waitingFor} {endpoint.Endpoint}; the request was not sent.")
                {
                    NotProcessed = true,
                    Endpoint = endpoint.Endpoint.ToString(),
                };
            }

            // Waits without throwing when the timer fires (exceptions are the costly part of a burst of calls timing out
            // together); the clock above says whether the deadline really passed, since timers may fire early.
            Task waited = task.WaitAsync(PendingCall.DueIn(time, now, deadline), time, cancellationToken);
            await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }

        return await task.ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a call on <paramref name="connection"/>, waiting in line while the server's limit of calls at once on a
    /// connection is reached (as HTTP/2 clients honour MAX_CONCURRENT_STREAMS). Null when the connection stopped taking calls.
    /// </summary>
    private async ValueTask<PendingCall?> StartCallAsync(ClientConnection connection, RpcEndpointState endpoint, RpcClientMethod method, long deadline, CancellationToken cancellationToken)
    {
        PendingCall? call = connection.TryStartCall(out bool full);
        while (call is null && full)
        {
            TaskCompletionSource<bool>? slot = connection.WaitForSlot();
            if (slot is not null)
            {
                try
                {
                    await WaitWithinDeadlineAsync(slot.Task, deadline, endpoint, method, "waiting for a free call slot on the connection to", cancellationToken).ConfigureAwait(false);
                }
                catch (Exception) when (GiveUpSlot(slot, connection))
                {
                    // Never runs: the filter gives the slot up without catching and rethrowing.
                }
            }

            call = connection.TryStartCall(out full);
        }

        return call;
    }

    /// <summary>A waiter that stops waiting: a wake-up it was given goes to the next in line. Always false (an exception filter).</summary>
    private static bool GiveUpSlot(TaskCompletionSource<bool> slot, ClientConnection connection)
    {
        if (!slot.TrySetCanceled())
        {
            connection.PassSlotOn(); // woken as it gave up: the slot is the next waiter's
        }

        return false;
    }

    /// <summary>
    /// Asks the method's balancer for an endpoint among the candidates this call has not tried and whose circuits let
    /// calls through. A retry that has tried every candidate may go back to one (<paramref name="allowRepeat"/>).
    /// </summary>
    private RpcEndpointState? Pick(RpcClientMethod method, ulong hashKey, ref TriedEndpoints tried, long timestamp, bool allowRepeat, CircuitBreakerGroup? breaker)
    {
        EndpointSet set = _client.EndpointSet;
        ReadOnlySpan<RpcEndpointState> candidates = set.Candidates;
        bool filterBreaker = breaker is { AnyNotClosed: true };
        if (tried.IsEmpty && !filterBreaker)
        {
            return candidates.IsEmpty ? null : method.Balancer.Pick(Context(method, set, candidates, hashKey, timestamp, tried));
        }

        // Retries and open circuits: the balancer sees the remaining candidates, in a pooled array (no allocation).
        RpcEndpointState[] pooled = System.Buffers.ArrayPool<RpcEndpointState>.Shared.Rent(Math.Max(1, candidates.Length));
        try
        {
            int remaining = 0, open = 0;
            foreach (RpcEndpointState candidate in candidates)
            {
                if (filterBreaker && breaker!.IsBlocked(candidate.Id, timestamp))
                {
                    open++;
                }
                else if (!tried.Contains(candidate.Id))
                {
                    pooled[remaining++] = candidate;
                }
            }

            if (remaining == 0 && allowRepeat && !tried.IsEmpty && open < candidates.Length)
            {
                // Every candidate was tried by earlier attempts: failover prefers new endpoints but does not require one.
                tried = default;
                return Pick(method, hashKey, ref tried, timestamp, allowRepeat: false, breaker);
            }

            if (open > 0 && open == candidates.Length)
            {
                throw new RpcException(RpcStatusCode.Unavailable,
                    $"Every endpoint's circuit is open for '{method.Descriptor.FullName}' ([CircuitBreaker]); failing fast until a break time passes.")
                {
                    NotProcessed = true,
                };
            }

            return remaining == 0 ? null : method.Balancer.Pick(Context(method, set, pooled.AsSpan(0, remaining), hashKey, timestamp, tried));
        }
        finally
        {
            System.Buffers.ArrayPool<RpcEndpointState>.Shared.Return(pooled, clearArray: true);
        }
    }

    private LoadBalancingContext Context(
        RpcClientMethod method, EndpointSet set, ReadOnlySpan<RpcEndpointState> candidates, ulong hashKey, long timestamp, TriedEndpoints tried) =>
        new(set, candidates, method.Descriptor, hashKey, method.HasHashKey, timestamp, tried, _client.TotalInFlight);

    /// <summary>What an attempt's failure says about its endpoint's health.</summary>
    private static CallOutcome Classify(Exception error) => error switch
    {
        OperationCanceledException => CallOutcome.Neutral,
        RpcException { NotProcessed: true } => CallOutcome.Neutral, // refused by a server shutting down gracefully
        RpcException { StatusCode: RpcStatusCode.Unavailable or RpcStatusCode.DeadlineExceeded } => CallOutcome.Failure,
        RpcException => CallOutcome.Success, // the server answered, with an application error
        _ => CallOutcome.Failure,
    };

    /// <summary>
    /// Serializes the arguments straight behind the frame header in a per-thread buffer and queues the frame. Returns
    /// false when the frame was not sent; <paramref name="error"/> is set when it must not be retried either.
    /// </summary>
    private bool TryWriteRequest<TArguments>(
        RpcClientMethod method, ref TArguments arguments, ClientConnection connection, PendingCall call,
        long deadline, TimeProvider time, FrameFlags flags, CallState? state, out RpcException? error)
        where TArguments : struct, IRpcArguments
    {
        error = null;
        uint timeoutMs = 0;
        if (deadline != long.MaxValue)
        {
            double remaining = time.GetElapsedTime(time.GetTimestamp(), deadline).TotalMilliseconds;
            timeoutMs = remaining <= 1 ? 1u : (uint)Math.Min(Math.Ceiling(remaining), uint.MaxValue);
        }

        byte[] name = method.NameUtf8;
        bool hasCallId = state is not null && state.CallId != Guid.Empty;
        if (hasCallId)
        {
            flags |= FrameFlags.CallId;
        }

        int prefix = ProtocolConstants.HeaderLength + RequestBody.PrefixLength(name.Length, hasCallId);
        RequestWriterCache cache = RequestWriterCache.Rent();
        try
        {
            PooledBuffer buffer = cache.Buffer;
            buffer.GetSpan(prefix);
            buffer.Advance(prefix);
            Utf8JsonWriter writer = cache.Writer;
            writer.Reset(buffer);
            try
            {
                arguments.Write(writer);
                writer.Flush();
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
            {
                if (connection.TryRemove(call))
                {
                    error = new RpcException(RpcStatusCode.InvalidArgument, $"The arguments of '{method.Descriptor.FullName}' could not be serialized: {ex.Message}", ex) { NotProcessed = true };
                }

                return false;
            }

            int bodyLength = buffer.WrittenCount - ProtocolConstants.HeaderLength;
            if (bodyLength > connection.MaxFrameBytes)
            {
                if (connection.TryRemove(call))
                {
                    error = new RpcException(
                        RpcStatusCode.ResourceExhausted,
                        $"The request for '{method.Descriptor.FullName}' is {bodyLength} bytes, over the maximum frame size of {connection.MaxFrameBytes} bytes (RpcClientOptions.MaxFrameSize).")
                    {
                        NotProcessed = true,
                    };
                }

                return false;
            }

            Span<byte> frame = buffer.WrittenSpanWritable;
            FrameHeader.Write(frame, bodyLength, FrameType.Request, flags, call.Id);
            Span<byte> callId = stackalloc byte[hasCallId ? RequestBody.CallIdLength : 0];
            if (hasCallId)
            {
                state!.CallId.TryWriteBytes(callId);
            }

            RequestBody.WritePrefix(frame.Slice(ProtocolConstants.HeaderLength), timeoutMs, name, callId);
            if (connection.TrySendRequest(call, frame, out bool closed))
            {
                return true;
            }

            if (closed && connection.TryRemove(call))
            {
                call.SetException(new RpcException(RpcStatusCode.Unavailable, $"The connection to {connection.Remote} closed before the request was sent.")
                {
                    NotProcessed = true,
                    Endpoint = connection.Remote,
                });
            }

            return false;
        }
        finally
        {
            RequestWriterCache.Return(cache);
        }
    }
}

/// <summary>
/// Per-thread buffers and JSON writers for building request and response frames without allocating. Two per thread:
/// over the in-process transport a server writes its response on the thread that is still sending the request.
/// </summary>
internal sealed class RequestWriterCache
{
    [ThreadStatic]
    private static RequestWriterCache? t_first;

    [ThreadStatic]
    private static RequestWriterCache? t_second;

    private RequestWriterCache()
    {
        Buffer = new PooledBuffer();
        Writer = new Utf8JsonWriter(Buffer);
    }

    public PooledBuffer Buffer { get; }

    public Utf8JsonWriter Writer { get; }

    /// <summary>Takes one of this thread's caches, or a new one when both are in use further up the stack.</summary>
    public static RequestWriterCache Rent()
    {
        RequestWriterCache? cache = t_first;
        if (cache is not null)
        {
            t_first = null;
        }
        else
        {
            cache = t_second;
            t_second = null;
            cache ??= new RequestWriterCache();
        }

        cache.Buffer.Clear();
        return cache;
    }

    public static void Return(RequestWriterCache cache)
    {
        cache.Buffer.Clear();
        cache.Writer.Reset(cache.Buffer);
        if (t_first is null)
        {
            t_first = cache;
        }
        else if (t_second is null)
        {
            t_second = cache;
        }
        else
        {
            cache.Writer.Dispose();
            cache.Buffer.Dispose();
        }
    }
}
