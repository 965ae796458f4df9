using System;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Descriptors;
using RpcGen.Protocol;

using RpcGen.Server.Deduplication;

namespace RpcGen.Server.Internal;

// The calls of a server connection: parsing requests, dispatching them (inline or on the thread pool), call slots
// (MaxConcurrentCallsPerConnection) and the refusals over a limit.
internal partial class ServerConnection
{
    private bool OnRequest(uint callId, FrameFlags flags, byte encoding, ReadOnlySpan<byte> body)
    {
        string? problem = RequestBody.TryParse(body, flags, out RequestBody request);
        if (problem is not null)
        {
            SendError(callId, RpcStatusCode.Internal, $"Malformed request frame: {problem}.");
            return true;
        }

        if (!Server.Methods.TryFind(request.Method, out RpcServiceDispatcher dispatcher, out int methodIndex))
        {
            SendError(callId, RpcStatusCode.Unimplemented, Server.Methods.DescribeMissing(request.Method));
            return true;
        }

        long arrived = LastReadTimestamp; // the frame's arrival: no clock read per request
        Volatile.Write(ref _lastActivity, arrived);
        if (RefuseOverLimit(callId))
        {
            return true;
        }

        RpcMetadata? headers = null;
        if (request.Metadata.Length > MetadataCodec.EmptyLength)
        {
            if (request.Metadata.Length > Server.Options.Limits.MaxMetadataSize)
            {
                SendError(callId, RpcStatusCode.ResourceExhausted,
                    $"The request's metadata is {request.Metadata.Length} bytes, over the server's limit of {Server.Options.Limits.MaxMetadataSize} (RpcServerOptions.Limits.MaxMetadataSize); the request was not processed.",
                    FrameFlags.NotProcessed);
                return true;
            }

            headers = MetadataCodec.Read(request.Metadata, out problem);
            if (problem is not null)
            {
                SendError(callId, RpcStatusCode.Internal, $"Malformed request frame: {problem}.");
                return true;
            }
        }

        if (encoding == 0)
        {
            return Admit(callId, flags, dispatcher, methodIndex, headers, arrived, in request);
        }

        // Compressed arguments: inflated (within the largest frame, checked before anything is inflated) into a pooled
        // array that lives as long as the receive buffer would have: handlers read their arguments before this returns.
        byte[]? inflated = Transport.FrameCompression.Inflate(encoding, ProtocolConstants.AllCompression, request.Payload,
            Server.Options.Limits.MaxFrameSize, out int length, out problem, out bool tooLarge);
        if (inflated is null)
        {
            if (tooLarge)
            {
                SendError(callId, RpcStatusCode.ResourceExhausted,
                    $"The request carries {problem} (RpcServerOptions.Limits.MaxFrameSize); the request was not processed.", FrameFlags.NotProcessed);
            }
            else
            {
                SendError(callId, RpcStatusCode.Internal, $"Malformed request frame: {problem}.");
            }

            return true;
        }

        try
        {
            request.Payload = inflated.AsSpan(0, length);
            return Admit(callId, flags, dispatcher, methodIndex, headers, arrived, in request);
        }
        finally
        {
            Transport.BufferPool.Return(inflated);
        }
    }

    /// <summary>Starts a parsed request's call: its slot, its stream, then the handler (inline or on the thread pool).</summary>
    private bool Admit(uint callId, FrameFlags flags, RpcServiceDispatcher dispatcher, int methodIndex, RpcMetadata? headers, long arrived,
        in RequestBody request)
    {
        string? problem = null;
        RpcMethodDescriptor descriptor = dispatcher.Descriptor.Methods[methodIndex];
        bool streaming = descriptor.Streaming != RpcStreamingKind.None;
        if (streaming && RefuseStreamOverLimit(callId))
        {
            return true;
        }

        RpcServerCall call = Server.RentCall();
        lock (_lock)
        {
            if (_goingAway)
            {
                Server.ReturnCall(call);
                call = null!;
            }
            else if (!_inFlight.TryAdd(callId, call))
            {
                Server.ReturnCall(call);
                call = null!;
                problem = "a call with this id is already in flight";
            }
            else
            {
                _callCount++;
                _running++;
                if (callId > _lastCallId)
                {
                    _lastCallId = callId;
                }
            }
        }

        if (call is null)
        {
            if (streaming)
            {
                StreamEnded();
            }

            if (problem is null)
            {
                SendError(callId, RpcStatusCode.Unavailable, "The server is shutting down; the request was not processed.", FrameFlags.NotProcessed);
            }
            else
            {
                SendError(callId, RpcStatusCode.Internal, $"Malformed request: {problem}.");
            }

            return true;
        }

        Server.CallStarted();
        call.Start(this, callId, descriptor, request.TimeoutMilliseconds, arrived, (flags & FrameFlags.RetryAttempt) != 0, headers);
        if (streaming)
        {
            var stream = new ServerStream(descriptor);
            call.Stream = stream;
            stream.Inbox?.Bind(Output, callId); // the client may send its items now: the whole window, at once
        }

        System.Diagnostics.Activity? outer =
            ServerTelemetry.StartCall(call, Server, dispatcher, methodIndex, headers, Remote, request.Payload.Length, arrived);
        try
        {
            if (!request.CallId.IsEmpty && descriptor.Deduplicate && !streaming)
            {
                // At most once: a repeated call id gets the first run's answer (now, or when that run finishes).
                return ClaimThenDispatch(dispatcher, methodIndex, call, new Guid(request.CallId), request.Payload);
            }

            return Dispatch(dispatcher, methodIndex, call, request.Payload);
        }
        finally
        {
            ServerTelemetry.LeaveReadLoop(call, outer);
        }
    }

    /// <summary>
    /// Claims a deduplicated call's id in its store, then runs the handler; a repeat of an id that ran gets its answer,
    /// one that runs (here or on a server sharing the store) waits for it within its deadline, and an id used with other
    /// arguments is refused. A store that answers at once (in memory) keeps the call on the read loop's path.
    /// </summary>
    private bool ClaimThenDispatch(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, Guid callId, ReadOnlySpan<byte> payload)
    {
        DeduplicationGate gate = Server.Deduplication;
        IDeduplicationStore store = gate.StoreFor(call.Method);
        var key = new DeduplicationKey(callId, call.Method.FullName, System.IO.Hashing.XxHash128.HashToUInt128(payload));
        ValueTask<DeduplicationClaim> claim = Claim(store, key, gate.Lease);
        if (claim.IsCompletedSuccessfully)
        {
            DeduplicationClaim result = claim.Result;
            if (result.Status == DeduplicationClaimStatus.Claimed)
            {
                call.Dedupe = gate.Track(store, callId, key.Method, result.Token, call);
                return Dispatch(dispatcher, methodIndex, call, payload);
            }

            if (result.Status != DeduplicationClaimStatus.Running)
            {
                Answer(call, store, key, result, inReadLoop: true);
                return true;
            }
        }

        byte[] copy = Transport.BufferPool.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(copy);
        _ = ClaimThenDispatchAsync(dispatcher, methodIndex, call, store, key, claim, copy, payload.Length);
        return true;
    }

    private static ValueTask<DeduplicationClaim> Claim(IDeduplicationStore store, DeduplicationKey key, TimeSpan lease)
    {
        try
        {
            return store.ClaimAsync(key, lease);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<DeduplicationClaim>(ex);
        }
    }

    private async Task ClaimThenDispatchAsync(
        RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, IDeduplicationStore store, DeduplicationKey key,
        ValueTask<DeduplicationClaim> claim, byte[] payload, int length)
    {
        bool handedOver = false;
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                DeduplicationClaim result;
                try
                {
                    result = await claim.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Telemetry.RpcGenLog.DeduplicationStoreFailed(Server.Logger, ex, store.Name, "claim", key.CallId, key.Method);
                    call.WriteError(
                        new RpcException(RpcStatusCode.Unavailable,
                            $"The deduplication store '{store.Name}' did not answer, so '{key.Method}' could not be run at most once; " +
                            "the request was not processed."),
                        notProcessed: true);
                    Finish(call, inReadLoop: false);
                    return;
                }

                if (result.Status == DeduplicationClaimStatus.Claimed)
                {
                    call.Dedupe = Server.Deduplication.Track(store, key.CallId, key.Method, result.Token, call);
                    handedOver = true;
                    if (Server.Interceptors.Length > 0)
                    {
                        _ = InvokeInterceptedAsync(dispatcher, methodIndex, call, payload, length);
                    }
                    else
                    {
                        Invoke(dispatcher, methodIndex, call, payload, length);
                    }

                    return;
                }

                if (result.Status != DeduplicationClaimStatus.Running)
                {
                    Answer(call, store, key, result, inReadLoop: false);
                    return;
                }

                // The first run is still going, here or on a server sharing the store: wait for its answer, within this
                // request's own deadline (its token also fires on a cancel frame and when the server stops).
                CancellationToken cancellation = call.CancellationToken;
                try
                {
                    await Server.Deduplication.WaitAsync(key.CallId, attempt, cancellation).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (cancellation.IsCancellationRequested)
                {
                    call.WriteError(ex);
                    Finish(call, inReadLoop: false);
                    return;
                }

                claim = Claim(store, key, Server.Deduplication.Lease);
            }
        }
        finally
        {
            if (!handedOver)
            {
                Transport.BufferPool.Return(payload);
            }
        }
    }

    /// <summary>Ends a repeat without running the handler: the stored answer, or why it was refused.</summary>
    private void Answer(RpcServerCall call, IDeduplicationStore store, DeduplicationKey key, DeduplicationClaim result, bool inReadLoop)
    {
        switch (result.Status)
        {
            case DeduplicationClaimStatus.Completed:
                call.WriteStored(result.Record!);
                break;
            case DeduplicationClaimStatus.Conflict:
                call.WriteError(new RpcException(RpcStatusCode.AlreadyExists,
                    $"The call id {key.CallId} was already used for a call of '{key.Method}' with other arguments, or of another method; " +
                    "a call id names one call (the client makes a new one per call). The request was not run.")
                {
                    DoNotRetry = true,
                });
                break;
            default:
                call.WriteError(
                    new RpcException(RpcStatusCode.ResourceExhausted,
                        $"The deduplication store '{store.Name}' is full of calls still running; the request was not processed.")
                    {
                        RetryAfter = TimeSpan.FromMilliseconds(ServerLimits.PushbackMilliseconds),
                    },
                    notProcessed: true);
                break;
        }

        Finish(call, inReadLoop);
    }

    /// <summary>
    /// Runs the call inline, on the thread pool, or inside the interceptors. False: a handler run inline held the read
    /// loop's thread past the hand-off budget and another thread reads now.
    /// </summary>
    private bool Dispatch(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, ReadOnlySpan<byte> payload)
    {
        if (Server.Interceptors.Length > 0)
        {
            // Interceptors may await before the handler reads its arguments: they get a copy of the payload, so the
            // read loop may be handed off as soon as they start.
            byte[] copy = Transport.BufferPool.Rent(Math.Max(1, payload.Length));
            payload.CopyTo(copy);
            int token = BeginHandlerSection();
            _ = InvokeInterceptedAsync(dispatcher, methodIndex, call, copy, payload.Length);
            return ExitHandOffSection(token);
        }

        if (Server.Options.RunHandlersInline)
        {
            return Invoke(dispatcher, methodIndex, call, payload, inReadLoop: true);
        }

        // Off the read loop: the payload lives in the receive buffer only until this method returns, so copy it.
        byte[] queued = Transport.BufferPool.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(queued);
        ThreadPool.UnsafeQueueUserWorkItem(
            static state => state.Connection.Invoke(state.Dispatcher, state.MethodIndex, state.Call, state.Payload, state.Length),
            new QueuedCall(this, dispatcher, methodIndex, call, queued, payload.Length),
            preferLocal: false);
        return true;
    }

    /// <summary>
    /// Opens the read loop's hand-off section for a handler about to run on it (see <see cref="Transport.HandOffMonitor"/>): the
    /// server's monitor hands the loop to another thread if the handler is still there a few ticks later.
    /// </summary>
    internal int BeginHandlerSection() => EnterHandOffSection(Server.HandOffMonitor.Tick());

    protected override int BeginResumeSection() => BeginHandlerSection();

    protected override void OnHandedOff() => ServerTelemetry.HandedOff();

    private sealed record QueuedCall(ServerConnection Connection, RpcServiceDispatcher Dispatcher, int MethodIndex, RpcServerCall Call, byte[] Payload, int Length);

    private void Invoke(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, byte[] payload, int length)
    {
        ServerTelemetry.EnterHandler(call);

        try
        {
            Invoke(dispatcher, methodIndex, call, payload.AsSpan(0, length), inReadLoop: false);
        }
        finally
        {
            Transport.BufferPool.Return(payload); // arguments are read before the handler's first await
        }
    }

    /// <summary>
    /// Runs the generated dispatcher for one call and finishes the call when its task completes. <paramref name="inReadLoop"/>:
    /// called by the read loop, in the read that brought the request. False: the handler held the read loop past the
    /// hand-off budget, and another thread reads now.
    /// </summary>
    private bool Invoke(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, ReadOnlySpan<byte> payload, bool inReadLoop)
    {
        ValueTask pending;
        // Every handler runs with an ambient RpcCallContext: its metadata, and, for calls the handler makes, what is left
        // of the deadline and the retry marker (so retries do not multiply down a chain of services).
        RpcCallContext? previous = RpcCallContext.Enter(call.CreateContext());
        call.InReadLoop = inReadLoop;
        try
        {
            pending = dispatcher.InvokeAsync(methodIndex, call, payload);
        }
        catch (Exception ex)
        {
            call.Fail(ex);
            pending = default;
        }
        finally
        {
            RpcCallContext.Enter(previous);
        }

        call.InReadLoop = false;
        bool owner = true;
        if (call.HandOffToken != 0)
        {
            owner = ExitHandOffSection(call.HandOffToken);
            call.HandOffToken = 0;
        }

        if (pending.IsCompleted)
        {
            Finish(call, inReadLoop && owner);
        }
        else
        {
            _ = FinishWhenDoneAsync(pending, call);
        }

        return owner;
    }

    /// <summary>
    /// Runs the server's interceptors around the generated dispatcher: the handler's outcome is kept (not written) until
    /// every interceptor returned; an interceptor that throws refuses the call (the handler never runs) with what it threw.
    /// </summary>
    private async Task InvokeInterceptedAsync(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, byte[] payload, int length)
    {
        RpcCallContext context = call.CreateContext();
        RpcCallContext? previous = RpcCallContext.Enter(context);
        var intercepted = new RpcIncomingCall(context, payload.AsMemory(0, length));
        call.Intercepted = intercepted;
        try
        {
            await Intercept(0)(intercepted).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            intercepted.Failed(ex);
        }
        finally
        {
            RpcCallContext.Enter(previous);
            call.Intercepted = null;
            Transport.BufferPool.Return(payload);
        }

        intercepted.WriteOutcome(call);
        Finish(call, inReadLoop: false);

        Func<RpcIncomingCall, ValueTask> Intercept(int index)
        {
            RpcServerInterceptor[] interceptors = Server.Interceptors;
            if (index < interceptors.Length)
            {
                // next never throws: what an inner interceptor threw is the outcome outer ones see (RpcIncomingCall.Error).
                return async c =>
                {
                    try
                    {
                        await interceptors[index].InterceptAsync(c, Intercept(index + 1)).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        c.Failed(ex);
                    }
                };
            }

            return c =>
            {
                c.Ran();
                ValueTask pending;
                try
                {
                    pending = dispatcher.InvokeAsync(methodIndex, call, c.Payload.Span);
                }
                catch (Exception ex)
                {
                    call.Fail(ex);
                    return default;
                }

                return pending;
            };
        }
    }

    private async Task FinishWhenDoneAsync(ValueTask pending, RpcServerCall call)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            call.WriteError(ex);
        }

        Finish(call, inReadLoop: false);
    }

    /// <summary>
    /// Ends a call whose final frame is queued. <paramref name="inReadLoop"/>: the handler completed in the read that
    /// brought its request, whose arrival already counts as the connection's last activity (no clock read then).
    /// </summary>
    private void Finish(RpcServerCall call, bool inReadLoop)
    {
        ServerTelemetry.EndCall(call, Server);

        call.DisposeRegistered(Server.Logger);
        Server.CallEnded();
        if (call.Stream is { } stream)
        {
            stream.End();
            StreamEnded();
        }

        bool drainedNow;
        lock (_lock)
        {
            _inFlight.Remove(call.Id);
            _running--;
            ReleaseSlotLocked(call);

            drainedNow = _goingAway && _inFlight.Count == 0;
        }

        if (!inReadLoop)
        {
            Volatile.Write(ref _lastActivity, Server.TimeProvider.GetTimestamp());
        }

        Server.ReturnCall(call);
        if (drainedNow)
        {
            _ = FinishAsync();
        }
    }

    /// <summary>
    /// Stops counting the call against MaxConcurrentCallsPerConnection; called before its final frame is queued, so that
    /// a client that frees the slot on reading that frame never finds the server a step behind it.
    /// </summary>
    internal void ReleaseSlot(RpcServerCall call)
    {
        lock (_lock)
        {
            ReleaseSlotLocked(call);
        }
    }

    private void ReleaseSlotLocked(RpcServerCall call)
    {
        if (!call.Uncounted)
        {
            call.Uncounted = true;
            _callCount--;
        }
    }

    /// <summary>
    /// Load shedding: a request over the connection's or the server's limit of calls at once is refused before it runs,
    /// marked not processed and with a pushback, so the client can take it to another server at once.
    /// </summary>
    private bool RefuseOverLimit(uint callId)
    {
        RpcServerOptions options = Server.Options;
        string limit;
        string message;
        int running = Volatile.Read(ref _running);
        int tracked = ServerLimits.MaxRunningPerConnection(options);
        if (running >= tracked)
        {
            // Cancelled calls free their slot at once (the client's next request must not find the connection full),
            // but their handlers still run: without this bound, request + cancel pairs start handlers without end
            // (HTTP/2's rapid reset, CVE-2023-44487). A peer that keeps at it is closed, as Kestrel does.
            limit = "cancelled_calls";
            message = $"The connection has {running} handlers running, {running - Volatile.Read(ref _callCount)} of them for calls the client cancelled, " +
                $"its limit (twice RpcServerOptions.Limits.MaxConcurrentCallsPerConnection, at least 100); the request was not processed.";
            if (_strikes.Add(Server.TimeProvider, LastReadTimestamp, ServerLimits.StrikeWindow, ServerLimits.MaxStrikes))
            {
                ServerTelemetry.Refused(limit);
                CloseAbusive(
                    $"more than {ServerLimits.MaxStrikes} requests in {ServerLimits.StrikeWindow.TotalSeconds:0} s came while {tracked} handlers of calls it had cancelled were still running (a rapid-reset pattern)",
                    "cancelled_calls");
                return true;
            }
        }
        else if (Volatile.Read(ref _callCount) >= options.Limits.MaxConcurrentCallsPerConnection)
        {
            limit = "calls_per_connection";
            message = $"The connection has {options.Limits.MaxConcurrentCallsPerConnection} calls running, its limit (RpcServerOptions.Limits.MaxConcurrentCallsPerConnection); the request was not processed.";
        }
        else if (options.Limits.MaxConcurrentCalls is int maxCalls && Server.InFlight >= maxCalls)
        {
            limit = "calls";
            message = $"The server has {maxCalls} calls running, its limit (RpcServerOptions.Limits.MaxConcurrentCalls); the request was not processed.";
        }
        else
        {
            return false;
        }

        ServerTelemetry.Refused(limit);
        SendError(callId, RpcStatusCode.ResourceExhausted, message, FrameFlags.NotProcessed, ServerLimits.PushbackMilliseconds);
        return true;
    }
}
