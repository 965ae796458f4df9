using System;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;
using RpcGen.Protocol;
using RpcGen.Resilience.Internal;
using RpcGen.Serialization;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

/// <summary>
/// One attempt of a call: pick an endpoint, get its connection (within the deadline), take a call slot, write the
/// request, await the response, and report the outcome to the endpoint's health, latency and circuit. A request that
/// provably never reached a handler goes to another endpoint (gRPC's transparent retry). Failures are returned as
/// values (<see cref="AttemptResult.Error"/>), never thrown.
/// </summary>
internal sealed class CallAttempts
{
    private readonly RpcClient _client;
    private readonly EndpointPicker _picker;

    public CallAttempts(RpcClient client)
    {
        _client = client;
        _picker = new EndpointPicker(client);
    }

    /// <summary>
    /// One attempt of <paramref name="call"/>: picks an endpoint (or uses <paramref name="pinned"/>), sends, and waits.
    /// A request that provably never reached a handler (connection refused, or refused by a server that is shutting
    /// down) is sent to another endpoint, as gRPC's transparent retry does; anything else is the caller's (or the retry
    /// policy's) to see. Each outcome feeds the endpoint's health, latency and circuit. <paramref name="cancellationToken"/>
    /// is the attempt's: the call's, or one a hedging pipeline cancels when another attempt wins.
    /// </summary>
    public ValueTask<AttemptResult> RunAsync<TArguments>(
        ClientCall call, TArguments arguments, int attemptNumber, CancellationToken cancellationToken, RpcEndpointState? pinned = null)
        where TArguments : struct, IRpcArguments =>
        call.Outgoing is null
            ? RunCoreAsync(call, arguments, attemptNumber, cancellationToken, pinned, null)
            : RunInterceptedAsync(call, arguments, attemptNumber, cancellationToken, pinned, call.Outgoing);

    /// <summary>
    /// One attempt inside the client's interceptors (attempt level), with headers of its own (a copy of the call's). An
    /// interceptor that throws fails the attempt with what it threw; the retry policy judges it like any failure.
    /// </summary>
    private async ValueTask<AttemptResult> RunInterceptedAsync<TArguments>(
        ClientCall call, TArguments arguments, int attemptNumber, CancellationToken cancellationToken, RpcEndpointState? pinned, RpcOutgoingCall outgoing)
        where TArguments : struct, IRpcArguments
    {
        var attempt = new RpcOutgoingCall(call.Method.Descriptor, outgoing.CopyHeaders(), attemptNumber, _client.TimeProvider, call.Deadline, cancellationToken);
        return await ClientInterceptorChain.RunAsync(_client.Interceptors, attemptLevel: true, attempt,
            c => RunCoreAsync(call, arguments, attemptNumber, cancellationToken, pinned, c.RequestHeaders)).ConfigureAwait(false);
    }

    // Every remote call suspends here (awaiting its response): a pooled builder reuses the state machine's box instead
    // of allocating one per call.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<AttemptResult> RunCoreAsync<TArguments>(
        ClientCall call, TArguments arguments, int attemptNumber, CancellationToken cancellationToken, RpcEndpointState? pinned, RpcMetadata? attemptHeaders)
        where TArguments : struct, IRpcArguments
    {
        try
        {
            RpcClientMethod method = call.Method;
            long deadline = call.Deadline;
            MethodResilience<AttemptResult>? resilience = call.Policies;
            long callStart = attemptNumber == 0 ? call.FirstAttemptStart : 0;
            if (!_client.EndpointsKnown)
            {
                // The endpoint source has not answered yet (the client was just created): wait, within the deadline.
                callStart = 0;
                string name = method.Descriptor.FullName;
                Exception? noEndpoints = await _client.WaitForEndpointsAsync(name, deadline, cancellationToken).ConfigureAwait(false);
                if (noEndpoints is not null)
                {
                    return AttemptResult.Failed(noEndpoints);
                }
            }

            TimeProvider time = _client.TimeProvider;
            ulong hashKey = call.HashKey;
            TriedEndpoints tried = call.Tried;
            RpcException? lastError = null;
            int maxAttempts = pinned is null ? _client.EndpointSet.All.Length + 2 : 1;
            CircuitBreakerGroup? breaker = resilience?.Breaker;
            pinned ??= call.Sticky;
            if (pinned is not null)
            {
                maxAttempts = 1;
            }

            for (int transparent = 0; transparent < maxAttempts; transparent++)
            {
                // The first attempt of a call that just read the clock (its deadline) starts then: nothing ran in between.
                long start = transparent == 0 && callStart != 0 ? callStart : time.GetTimestamp();
                RpcEndpointState? endpoint = pinned;
                if (endpoint is null && !_picker.TryPick(method, hashKey, ref tried, start, resilience is not null && transparent == 0, breaker, out endpoint, out RpcException? refused))
                {
                    return AttemptResult.Failed(refused);
                }

                if (endpoint is null)
                {
                    break;
                }

                ClientTelemetry.Attempt(_client, method, hashKey, attemptNumber, transparent, endpoint, pinned is not null, tried.Count);

                call.AddTried(endpoint.Id);
                breaker?.OnAttempt(endpoint.Id, start);
                long attemptDeadline = deadline;
                if (resilience is { PerAttemptTimeoutMs: > 0 })
                {
                    attemptDeadline = Math.Min(deadline, start + (resilience.PerAttemptTimeoutMs * time.TimestampFrequency / 1000));
                }

                RpcMetadata? credentialed = null;
                bool waited = false; // true once the attempt awaited something (credentials, a connection, a slot): the clock is read again to send
                if (_client.Options.Credentials is { } credentials)
                {
                    waited = true;
                    if (!endpoint.Endpoint.IsInProcess && _client.Options.Tls is null && !_client.Options.AllowCredentialsOverPlainText)
                    {
                        return AttemptResult.Failed(new RpcException(RpcStatusCode.Unauthenticated,
                            $"Refusing to send the credentials of '{method.Descriptor.FullName}' to {endpoint.Endpoint} over plain TCP, where anyone on the path can read them: use TLS (RpcClientOptions.Tls), or set RpcClientOptions.AllowCredentialsOverPlainText."));
                    }

                    try
                    {
                        credentialed = RpcMetadata.CopyOf(attemptHeaders ?? RpcCallScope.Outgoing(_client.Options.DefaultRequestHeaders));

                        await credentials.ApplyAsync(credentialed, method.Descriptor, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        return AttemptResult.Failed(ex is RpcException or OperationCanceledException ? ex
                            : new RpcException(RpcStatusCode.Unauthenticated, $"The credentials of '{method.Descriptor.FullName}' could not be obtained: {ex.Message}", ex));
                    }
                }

                _client.CallStarted(endpoint);
                CallStart started = default; // a value on every path, so each statement below can be mutated alone (Stryker)
                try
                {
                    ValueTask<CallStart> starting = StartAsync(endpoint, method, attemptDeadline, cancellationToken);
                    waited |= !starting.IsCompleted;
                    started = await starting.ConfigureAwait(false);
                }
                catch (RpcException ex) when (ex.NotProcessed && ex.StatusCode != RpcStatusCode.DeadlineExceeded)
                {
                    ClientTelemetry.AttemptFailed(attemptNumber, endpoint, ex);

                    _client.CallEnded(endpoint, start, CallOutcome.ConnectFailure);
                    breaker?.Record(endpoint, failure: true, time.GetTimestamp());
                    lastError = ex;
                    tried = tried.Add(endpoint.Id);
                    continue;
                }
                catch (Exception ex)
                {
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    return AttemptResult.Failed(ex);
                }

                if (started.Error is not null)
                {
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    return AttemptResult.Failed(started.Error);
                }

                ClientConnection connection = started.Connection!;
                PendingCall? pending = started.Call;
                if (pending is null)
                {
                    // The connection began draining between the pick and now; the next attempt opens another.
                    _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                    continue;
                }

                // One timestamp for the deadline timer and the timeout the request carries: the attempt's start, unless it
                // waited since (the few statements between start and here take well under a microsecond).
                long sendAt = waited ? time.GetTimestamp() : start;
                ClientStream? stream = call.Stream;
                long wireDeadline = attemptDeadline;
                if (stream is not null)
                {
                    // A stream's timeout bounds its first message here, on the client; the server hears only the hard deadline.
                    stream.BeginAttempt(call, connection, pending);
                    wireDeadline = stream.HardDeadline;
                }

                pending.Arm(cancellationToken, attemptDeadline, time, sendAt);
                FrameFlags flags = attemptNumber > 0 ? FrameFlags.RetryAttempt : FrameFlags.None;
                RpcMetadata? headers = credentialed ?? attemptHeaders ?? RpcCallScope.Outgoing(_client.Options.DefaultRequestHeaders);
                headers = ClientTelemetry.WithTraceContext(headers);
                var request = new RequestFrame(connection, pending, wireDeadline, sendAt, flags, headers);
                if (!RequestWriter.TryWrite(call, request, ref arguments, out RpcException? writeError))
                {
                    if (writeError is not null)
                    {
                        stream?.EndAttempt();
                        connection.Return(pending);
                        _client.CallEnded(endpoint, start, CallOutcome.Neutral);
                        return AttemptResult.Failed(writeError);
                    }

                    // The connection closed before the frame left: nothing was sent, try elsewhere.
                }
                else
                {
                    stream?.OnRequestSent(cancellationToken);
                }

                ResponseData response = await pending.AsValueTask().ConfigureAwait(false);
                stream?.EndAttempt();
                if (response.Error is { } error)
                {
                    connection.Return(pending);
                    CallOutcome outcome = Classify(error);
                    _client.CallEnded(endpoint, start, outcome);
                    if (outcome != CallOutcome.Neutral)
                    {
                        breaker?.Record(endpoint, outcome == CallOutcome.Failure, time.GetTimestamp()); // cancellations say nothing
                    }

                    ClientTelemetry.AttemptFailed(attemptNumber, endpoint, error);

                    if (error is RpcException { NotProcessed: true } rpc && transparent + 1 < maxAttempts && time.GetTimestamp() < deadline
                        && !cancellationToken.IsCancellationRequested && !call.Committed)
                    {
                        lastError = rpc;
                        tried = tried.Add(endpoint.Id);
                        continue;
                    }

                    if (resilience is { Deduplicate: true, Idempotent: false, Broadcast: false } && error is RpcException { NotProcessed: false })
                    {
                        call.Sticky = endpoint; // the request reached this server: only its window can deduplicate a retry
                    }

                    if (error is RpcException { StatusCode: RpcStatusCode.DeadlineExceeded } timedOut && attemptDeadline < deadline && time.GetTimestamp() < deadline)
                    {
                        return AttemptResult.Failed(new RpcException(RpcStatusCode.DeadlineExceeded,
                            $"An attempt of '{method.Descriptor.FullName}' passed its own timeout of {resilience!.PerAttemptTimeoutMs} ms (PerAttemptTimeoutMs).", error)
                        {
                            AttemptTimedOut = true,
                            Endpoint = timedOut.Endpoint,
                        });
                    }

                    return AttemptResult.Failed(error);
                }

                // The response's arrival (the read that brought it), so callers that resume together read the clock once.
                long answered = pending.AnsweredAt;
                long end = answered > 0 ? answered : time.GetTimestamp();
                connection.Return(pending);
                _client.CallEnded(endpoint, start, CallOutcome.Success, end);
                breaker?.Record(endpoint, failure: false, end);
                resilience?.Latency?.Record(end - start);
                return new AttemptResult(response, connection.Remote);
            }

            return AttemptResult.Failed(lastError ?? new RpcException(RpcStatusCode.Unavailable, $"No endpoint could take '{method.Descriptor.FullName}'.") { NotProcessed = true });
        }
        finally
        {
            ClientCall.Return(call, CallOwner.Attempt);
        }
    }

    /// <summary>A connection and a call started on it, or the error (deadline, cancellation) that ended the wait for them.</summary>
    private readonly record struct CallStart(ClientConnection? Connection, PendingCall? Call, Exception? Error);

    /// <summary>
    /// The endpoint's connection and a call slot on it. Completes at once when the connection is up and has a free slot
    /// (the common case: nothing awaited, nothing allocated); otherwise waits, within the deadline, for the connection
    /// to be made and then for a slot. The call is null when the connection stopped taking calls. Connecting failures
    /// are thrown (the attempt loop tells them apart); the deadline and the caller's cancellation are returned.
    /// </summary>
    private ValueTask<CallStart> StartAsync(RpcEndpointState endpoint, RpcClientMethod method, long deadline, CancellationToken cancellationToken)
    {
        ValueTask<ClientConnection> connecting = ((ClientEndpoint)endpoint).GetConnectionAsync(cancellationToken);
        if (!connecting.IsCompletedSuccessfully)
        {
            return ConnectThenStartAsync(connecting.AsTask(), endpoint, method, deadline, cancellationToken);
        }

        ClientConnection connection = connecting.Result;
        PendingCall? call = connection.TryStartCall(out bool full);
        return full
            ? WaitForCallSlotAsync(connection, endpoint, method, deadline, cancellationToken)
            : new ValueTask<CallStart>(new CallStart(connection, call, null));
    }

    private async ValueTask<CallStart> ConnectThenStartAsync(
        Task<ClientConnection> connect, RpcEndpointState endpoint, RpcClientMethod method, long deadline, CancellationToken cancellationToken)
    {
        if (await WaitWithinDeadlineAsync(connect, deadline, endpoint, method, "connecting to", cancellationToken).ConfigureAwait(false) is { } late)
        {
            return new CallStart(null, null, late);
        }

        ClientConnection connection = await connect.ConfigureAwait(false); // done: throws only if connecting failed
        PendingCall? call = connection.TryStartCall(out bool full);
        return full
            ? await WaitForCallSlotAsync(connection, endpoint, method, deadline, cancellationToken).ConfigureAwait(false)
            : new CallStart(connection, call, null);
    }

    /// <summary>
    /// Waits for <paramref name="task"/> (a connection still being made, or a call slot on a full connection), but never
    /// past the call's deadline: a peer that accepts and never completes the handshake holds the connect for
    /// <c>ConnectTimeout</c>, the call only for the time it has left. Timers may fire early, so the clock decides.
    /// Returns null once the task completed, or the error that ended the wait (deadline, caller's cancellation), which is
    /// returned rather than thrown: a burst of calls queued for call slots may time out together.
    /// </summary>
    private async ValueTask<Exception?> WaitWithinDeadlineAsync(Task task, long deadline, RpcEndpointState endpoint, RpcClientMethod method, string waitingFor, CancellationToken cancellationToken)
    {
        TimeProvider time = _client.TimeProvider;
        while (!task.IsCompleted)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return new OperationCanceledException(cancellationToken);
            }

            Task waited;
            if (deadline == long.MaxValue)
            {
                waited = task.WaitAsync(cancellationToken);
            }
            else
            {
                long now = time.GetTimestamp();
                if (now >= deadline)
                {
                    return new RpcException(RpcStatusCode.DeadlineExceeded,
                        $"The deadline of '{method.Descriptor.FullName}' passed while {waitingFor} {endpoint.Endpoint}; the request was not sent.")
                    {
                        NotProcessed = true,
                        Endpoint = endpoint.Endpoint.ToString(),
                    };
                }

                waited = task.WaitAsync(DeadlineTimer.DueIn(time, now, deadline), time, cancellationToken);
            }

            // Neither the timer nor the token throws here; the checks above decide (timers may fire early).
            await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return null;
    }

    /// <summary>
    /// Waits in line for a call slot on a <paramref name="connection"/> that has as many calls as the server allows on
    /// one connection (as HTTP/2 clients honour MAX_CONCURRENT_STREAMS). Returns the started call (null when the
    /// connection stopped taking calls), or the error that ended the wait.
    /// </summary>
    private async ValueTask<CallStart> WaitForCallSlotAsync(
        ClientConnection connection, RpcEndpointState endpoint, RpcClientMethod method, long deadline, CancellationToken cancellationToken)
    {
        PendingCall? call = null;
        bool full = true;
        while (call is null && full)
        {
            TaskCompletionSource<bool>? slot = connection.WaitForSlot();
            if (slot is not null &&
                await WaitWithinDeadlineAsync(slot.Task, deadline, endpoint, method, "waiting for a free call slot on the connection to", cancellationToken).ConfigureAwait(false) is { } error)
            {
                if (!slot.TrySetCanceled())
                {
                    connection.PassSlotOn(); // woken as it gave up: the slot is the next waiter's
                }

                return new CallStart(null, null, error);
            }

            call = connection.TryStartCall(out full);
        }

        return new CallStart(connection, call, null);
    }

    /// <summary>What an attempt's failure says about its endpoint's health.</summary>
    private static CallOutcome Classify(Exception error) => error switch
    {
        OperationCanceledException => CallOutcome.Neutral,
        StreamSourceException => CallOutcome.Neutral, // the caller's own stream threw: nothing to do with the endpoint
        RpcException { NotProcessed: true } => CallOutcome.Neutral, // refused by a server shutting down gracefully
        RpcException { ConnectionLost: true } => CallOutcome.Neutral, // the connection's loss is counted once, by its endpoint
        RpcException { StatusCode: RpcStatusCode.Unavailable or RpcStatusCode.DeadlineExceeded } => CallOutcome.Failure,
        RpcException => CallOutcome.Success, // the server answered, with an application error
        _ => CallOutcome.Failure,
    };
}
