using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using RpcGen.Descriptors;
using RpcGen.Protocol;
using RpcGen.Server;
using RpcGen.Transport;

namespace RpcGen.Server;

/// <summary>
/// The server side of one connection: decodes request frames, runs generated handlers inline until their first await
/// (arguments are read straight from the receive buffer), and keeps the calls in flight for cancel frames and for
/// graceful shutdown.
/// </summary>
internal sealed class ServerConnection : FramedConnection
{
    private readonly TransportConnection _transport;
    private readonly object _lock = new();
    private readonly Dictionary<uint, RpcServerCall> _inFlight = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _goingAway;
    private uint _lastCallId;
    private int _callCount;               // calls counted against MaxConcurrentCallsPerConnection (not cancelled by the client)
    private long _lastActivity;           // server clock: the last request or call completion (for IdleTimeout)
    private long _frameStarted;           // server clock: when the frame still arriving began; 0 when none (FrameTimeout)
    private volatile bool _established;   // the handshake is done

    public ServerConnection(RpcServer server, TransportConnection transport, bool tcp)
        : base(transport, server.Options.MaxFrameSize, transport.Remote, server.Options.TimeProvider)
    {
        Server = server;
        _transport = transport;
        IsTcp = tcp;
    }

    /// <summary>A TCP connection (counted against MaxConnections), not an in-process one.</summary>
    public bool IsTcp { get; }

    public RpcServer Server { get; }

    /// <summary>Completes when the connection has ended (read loop finished and output closed).</summary>
    public Task Completion => _drained.Task;

    /// <summary>Sends our preface, checks the client's, then serves until the connection ends.</summary>
    public async Task RunAsync()
    {
        try
        {
            byte[] preface = new byte[ProtocolConstants.PrefaceLength];
            Preface.Write(preface, ProtocolConstants.RoleServer, (ushort)Server.Options.MaxConcurrentCallsPerConnection);
            await _transport.Output.WriteAsync(preface).ConfigureAwait(false);

            using var timeout = new System.Threading.CancellationTokenSource(Server.Options.HandshakeTimeout, Server.TimeProvider);
            (string? problem, _) = await Preface.ReadAsync(_transport.Input, ProtocolConstants.RoleClient, timeout.Token).ConfigureAwait(false);
            if (problem is not null)
            {
                throw new System.IO.InvalidDataException(problem);
            }
        }
        catch (Exception ex)
        {
            if (ex is OperationCanceledException)
            {
                Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.ConnectionsClosed, Telemetry.RpcGenMetrics.ReasonTag, "handshake");
            }

            Server.Logger.LogWarning("Refused a connection from {Remote}: {Reason}.", Remote,
                ex is OperationCanceledException ? "no preface within the handshake timeout" : ex.Message);
            Close(ex);
            return;
        }

        Volatile.Write(ref _lastActivity, Server.TimeProvider.GetTimestamp());
        _established = true;

        if (Server.IsStopping)
        {
            BeginGoAway();
        }

        await ReadLoopAsync().ConfigureAwait(false);
    }

    /// <summary>Says goodbye: in-flight calls finish, new ones are refused as not processed, then the connection closes.</summary>
    public void BeginGoAway()
    {
        uint last;
        bool idle;
        lock (_lock)
        {
            if (_goingAway)
            {
                return;
            }

            _goingAway = true;
            last = _lastCallId;
            idle = _inFlight.Count == 0;
        }

        Span<byte> body = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(body, last);
        TrySendSmall(FrameType.GoAway, FrameFlags.None, 0, body);
        if (idle)
        {
            _ = FinishAsync();
        }
    }

    /// <summary>
    /// Every call is answered after a goodbye: wait for the client to close (it does once its calls are done), still
    /// refusing any request that crossed the GoAway as not processed, and close after a linger at most. Closing at once
    /// would let such a request hit a closed socket, where the client cannot tell it was never processed (a reset can
    /// even discard the GoAway before the client reads it).
    /// </summary>
    private async Task FinishAsync()
    {
        TimeSpan linger = Server.Options.GoAwayLinger;
        if (linger > TimeSpan.Zero)
        {
            // Wall-clock: an I/O grace period, not call timing (a manual test clock must not hold a shutdown open).
            using var timeout = new System.Threading.CancellationTokenSource(linger);
            try
            {
                await Completion.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The client kept the connection open; close it now.
            }
        }

        await Output.CompleteAsync().ConfigureAwait(false);
        Close(null);
    }

    /// <summary>Sends a deduplicated call's stored result (null: no result) to a repeat of that call.</summary>
    public void SendStoredResponse(uint callId, byte[]? body)
    {
        int bodyLength = LoadReport.Length + (body?.Length ?? 0);
        byte[] rented = System.Buffers.ArrayPool<byte>.Shared.Rent(ProtocolConstants.HeaderLength + bodyLength);
        try
        {
            Span<byte> frame = rented.AsSpan(0, ProtocolConstants.HeaderLength + bodyLength);
            Server.WriteLoadReport(frame.Slice(ProtocolConstants.HeaderLength));
            body?.CopyTo(frame.Slice(ProtocolConstants.HeaderLength + LoadReport.Length));
            FrameHeader.Write(frame, bodyLength, FrameType.Response, FrameFlags.LoadReport, callId);
            Output.TryEnqueue(frame);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public void SendError(uint callId, RpcStatusCode code, string message, FrameFlags flags = FrameFlags.None, int? pushbackMs = null)
    {
        Span<byte> load = stackalloc byte[LoadReport.Length];
        Server.WriteLoadReport(load);
        TrySendError(callId, code, message, flags | FrameFlags.LoadReport, load, pushbackMs);
    }

    protected override void OnFrame(in FrameHeader header, ReadOnlySpan<byte> body)
    {
        switch (header.Type)
        {
            case FrameType.Request:
                OnRequest(header.CallId, header.Flags, body);
                return;

            case FrameType.Cancel:
            {
                RpcServerCall? call;
                int generation;
                lock (_lock)
                {
                    if (!_inFlight.TryGetValue(header.CallId, out call))
                    {
                        return;
                    }

                    generation = call.Generation;
                    // The client freed this call's slot when it gave up; so does the server, or the client's next
                    // request (which follows this frame on the connection) would find the connection still full.
                    ReleaseSlotLocked(call);
                }

                call.Cancel(generation);
                return;
            }

            case FrameType.Ping:
                TrySendSmall(FrameType.Pong, FrameFlags.None, 0, body.Length == 8 ? body : stackalloc byte[8]);
                return;

            default:
                // Pong, GoAway from a client, and unknown types are ignored.
                return;
        }
    }

    private void OnRequest(uint callId, FrameFlags flags, ReadOnlySpan<byte> body)
    {
        string? problem = RequestBody.TryParse(body, flags, out RequestBody request);
        if (problem is not null)
        {
            SendError(callId, RpcStatusCode.Internal, $"Malformed request frame: {problem}.");
            return;
        }

        if (!Server.Methods.TryFind(request.Method, out RpcServiceDispatcher dispatcher, out int methodIndex))
        {
            SendError(callId, RpcStatusCode.Unimplemented, Server.Methods.DescribeMissing(request.Method));
            return;
        }

        Volatile.Write(ref _lastActivity, Server.TimeProvider.GetTimestamp());
        if (RefuseOverLimit(callId))
        {
            return;
        }

        RpcMethodDescriptor descriptor = dispatcher.Descriptor.Methods[methodIndex];
        DeduplicationWindow.Entry? dedupe = null;
        if (!request.CallId.IsEmpty && descriptor.Deduplicate)
        {
            // At most once: a repeated call id gets the first run's answer (now, or when that run finishes).
            dedupe = Server.Deduplication.Begin(new Guid(request.CallId), descriptor.FullName, this, callId);
            if (dedupe is null)
            {
                return;
            }
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
                if (callId > _lastCallId)
                {
                    _lastCallId = callId;
                }
            }
        }

        if (call is null)
        {
            if (dedupe is not null)
            {
                Server.Deduplication.Abandon(dedupe, RpcStatusCode.Unavailable, "The server is shutting down; the request was not processed.");
            }

            if (problem is null)
            {
                SendError(callId, RpcStatusCode.Unavailable, "The server is shutting down; the request was not processed.", FrameFlags.NotProcessed);
            }
            else
            {
                SendError(callId, RpcStatusCode.Internal, $"Malformed request: {problem}.");
            }

            return;
        }

        Server.CallStarted();
        call.Start(this, callId, descriptor, request.TimeoutMilliseconds, (flags & FrameFlags.RetryAttempt) != 0);
        call.Dedupe = dedupe;
        if (Server.Options.RunHandlersInline)
        {
            Invoke(dispatcher, methodIndex, call, request.Payload);
            return;
        }

        // Off the read loop: the payload lives in the receive buffer only until this method returns, so copy it.
        byte[] payload = Transport.BufferPool.Rent(Math.Max(1, request.Payload.Length));
        request.Payload.CopyTo(payload);
        ThreadPool.UnsafeQueueUserWorkItem(
            static state => state.Connection.Invoke(state.Dispatcher, state.MethodIndex, state.Call, state.Payload, state.Length),
            new QueuedCall(this, dispatcher, methodIndex, call, payload, request.Payload.Length),
            preferLocal: false);
    }

    private sealed record QueuedCall(ServerConnection Connection, RpcServiceDispatcher Dispatcher, int MethodIndex, RpcServerCall Call, byte[] Payload, int Length);

    private void Invoke(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, byte[] payload, int length)
    {
        try
        {
            Invoke(dispatcher, methodIndex, call, payload.AsSpan(0, length));
        }
        finally
        {
            Transport.BufferPool.Return(payload); // arguments are read before the handler's first await
        }
    }

    /// <summary>Runs the generated dispatcher for one call and finishes the call when its task completes.</summary>
    private void Invoke(RpcServiceDispatcher dispatcher, int methodIndex, RpcServerCall call, ReadOnlySpan<byte> payload)
    {
        ValueTask pending;
        // Calls with a deadline or the retry marker run with an ambient RpcCallContext, so calls the handler makes inherit
        // what is left of the deadline and do not multiply retries.
        RpcCallContext? previous = call.HasDeadline || call.IsRetryAttempt ? RpcCallContext.Enter(call.CreateContext()) : null;
        try
        {
            pending = dispatcher.InvokeAsync(methodIndex, call, payload);
        }
        catch (Exception ex)
        {
            call.WriteError(ex);
            pending = default;
        }
        finally
        {
            if (call.HasDeadline || call.IsRetryAttempt)
            {
                RpcCallContext.Enter(previous);
            }
        }

        if (pending.IsCompleted)
        {
            Finish(call);
        }
        else
        {
            _ = FinishWhenDoneAsync(pending, call);
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

        Finish(call);
    }

    private void Finish(RpcServerCall call)
    {
        Server.CallEnded();
        bool drainedNow;
        lock (_lock)
        {
            _inFlight.Remove(call.Id);
            ReleaseSlotLocked(call);

            drainedNow = _goingAway && _inFlight.Count == 0;
        }

        Volatile.Write(ref _lastActivity, Server.TimeProvider.GetTimestamp());

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
        if (Volatile.Read(ref _callCount) >= options.MaxConcurrentCallsPerConnection)
        {
            limit = "calls_per_connection";
            message = $"The connection has {options.MaxConcurrentCallsPerConnection} calls running, its limit (RpcServerOptions.MaxConcurrentCallsPerConnection); the request was not processed.";
        }
        else if (options.MaxConcurrentCalls > 0 && Server.InFlight >= options.MaxConcurrentCalls)
        {
            limit = "calls";
            message = $"The server has {options.MaxConcurrentCalls} calls running, its limit (RpcServerOptions.MaxConcurrentCalls); the request was not processed.";
        }
        else
        {
            return false;
        }

        Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.Refused, Telemetry.RpcGenMetrics.LimitTag, limit);
        SendError(callId, RpcStatusCode.ResourceExhausted, message, FrameFlags.NotProcessed, ServerLimits.PushbackMilliseconds);
        return true;
    }

    protected override void OnReadProcessed(bool midFrame)
    {
        if (!midFrame)
        {
            Volatile.Write(ref _frameStarted, 0);
        }
        else if (Volatile.Read(ref _frameStarted) == 0)
        {
            Volatile.Write(ref _frameStarted, Math.Max(1, Server.TimeProvider.GetTimestamp()));
        }
    }

    /// <summary>
    /// The server's heartbeat: closes the connection when a frame has been arriving for longer than FrameTimeout (a
    /// peer stalled mid-frame), and says goodbye when it has had no call and no request for IdleTimeout.
    /// </summary>
    internal void CheckTimeouts(long now)
    {
        if (!_established || IsClosed)
        {
            return;
        }

        RpcServerOptions options = Server.Options;
        TimeProvider time = Server.TimeProvider;
        long frameStarted = Volatile.Read(ref _frameStarted);
        if (frameStarted != 0 && time.GetElapsedTime(frameStarted, now) >= options.FrameTimeout)
        {
            Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.ConnectionsClosed, Telemetry.RpcGenMetrics.ReasonTag, "frame");
            Server.Logger.LogWarning("Closing the connection from {Remote}: a frame did not finish arriving within {Timeout} (RpcServerOptions.FrameTimeout).", Remote, options.FrameTimeout);
            Close(new System.IO.IOException($"A frame from {Remote} did not finish arriving within {options.FrameTimeout.TotalMilliseconds:0} ms."));
            return;
        }

        if (options.IdleTimeout != Timeout.InfiniteTimeSpan && Volatile.Read(ref _callCount) == 0 &&
            time.GetElapsedTime(Volatile.Read(ref _lastActivity), now) >= options.IdleTimeout)
        {
            bool goingAway;
            lock (_lock)
            {
                goingAway = _goingAway || _inFlight.Count > 0;
            }

            if (!goingAway)
            {
                Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.ConnectionsClosed, Telemetry.RpcGenMetrics.ReasonTag, "idle");
                Server.Logger.LogDebug("Closing the connection from {Remote}: idle for {Timeout} (RpcServerOptions.IdleTimeout).", Remote, options.IdleTimeout);
                BeginGoAway();
            }
        }
    }

    protected override void OnOversizeFrame(in FrameHeader header, uint length)
    {
        if (header.Type == FrameType.Request)
        {
            SendError(header.CallId, RpcStatusCode.ResourceExhausted,
                $"The request of {length} bytes exceeds the server's maximum frame size of {MaxFrameSize} bytes (RpcServerOptions.MaxFrameSize).",
                FrameFlags.NotProcessed);
        }
    }

    protected override void OnClosed(Exception? error)
    {
        List<(RpcServerCall Call, int Generation)> abandoned;
        lock (_lock)
        {
            _goingAway = true;
            abandoned = new List<(RpcServerCall, int)>(_inFlight.Count);
            foreach (RpcServerCall call in _inFlight.Values)
            {
                abandoned.Add((call, call.Generation));
            }
        }

        // Nobody can receive these results any more: tell the handlers to stop.
        foreach ((RpcServerCall call, int generation) in abandoned)
        {
            call.Cancel(generation);
        }

        if (error is not null && error is not OperationCanceledException)
        {
            Server.Logger.LogDebug("Connection from {Remote} ended: {Error}", Remote, error.Message);
        }

        Server.OnConnectionClosed(this);
        _drained.TrySetResult();
    }

    protected override void AbortTransport() => _transport.Abort();
}
