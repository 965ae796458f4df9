using System;
using System.Buffers;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Server.Internal;

/// <summary>
/// The server side of one connection: decodes request frames, runs generated handlers inline until their first await
/// (arguments are read straight from the receive buffer), and keeps the calls in flight for cancel frames and for
/// graceful shutdown.
/// </summary>
internal sealed partial class ServerConnection : FramedConnection
{
    private readonly TransportConnection _transport;
    private readonly object _lock = new();
    private readonly Dictionary<uint, RpcServerCall> _inFlight = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _goingAway;
    private uint _lastCallId;
    private int _callCount;               // calls counted against MaxConcurrentCallsPerConnection (not cancelled by the client)
    private int _streamCount;             // streaming calls open (MaxConcurrentStreamsPerConnection)
    private long _lastActivity;           // server clock: the last request or call completion (for IdleTimeout)
    private long _frameStarted;           // server clock: when the frame still arriving began; 0 when none (FrameTimeout)
    private volatile bool _established;   // the handshake is done

    private int _running;                 // handlers running, cancelled ones included (read outside the lock)
    private FixedWindowCounter _pings;    // pings per second
    private FixedWindowCounter _strikes;  // refusals for handlers of cancelled calls, per StrikeWindow
    private bool _calmed;                 // closed for abuse: its GoAway is queued
    private long _outputStuckSince;       // server clock: since when queued output has not moved (heartbeat only)
    private long _outputFlushesSeen = -1;
    private long _keepAlivePingAt;        // server clock: when the keepalive ping still unanswered was sent; 0 when none (heartbeat only)
    private readonly long _acceptedAt;    // server clock: when the socket was accepted (the handshake budget starts here)

    public ServerConnection(RpcServer server, TransportConnection transport, bool tcp, long acceptedAt)
        : base(transport, server.Options.Limits.MaxFrameSize, transport.Remote, server.Options.TimeProvider, server.Options.Limits.MaxResponseBufferSize ?? 0)
    {
        Server = server;
        _transport = transport;
        IsTcp = tcp;
        _acceptedAt = acceptedAt;
    }

    /// <summary>A TCP connection (counted against MaxConnections), not an in-process one.</summary>
    public bool IsTcp { get; }

    /// <summary>What the admin page shows of the connection: peer, TLS, age, calls and streams open, going away.</summary>
    public ConnectionView Describe()
    {
        lock (_lock)
        {
            return new ConnectionView(
                Remote, _transport.IsEncrypted, IsTcp, Server.TimeProvider.GetElapsedTime(_acceptedAt), _inFlight.Count, _streamCount, _goingAway);
        }
    }

    public RpcServer Server { get; }

    /// <summary>Completes when the connection has ended (read loop finished and output closed).</summary>
    public Task Completion => _drained.Task;

    /// <summary>Sends our preface, checks the client's, then serves until the connection ends.</summary>
    public async Task RunAsync()
    {
        try
        {
            // The preface and the settings in one write, so a client finds both in its first read.
            byte[] preface = new byte[ProtocolConstants.PrefaceLength + SettingsFrame.Length];
            Preface.Write(preface, ProtocolConstants.RoleServer, (ushort)Server.Options.Limits.MaxConcurrentCallsPerConnection);
            SettingsFrame.Write(preface.AsSpan(ProtocolConstants.PrefaceLength), ProtocolConstants.AllCompression);
            await _transport.Output.WriteAsync(preface).ConfigureAwait(false);

            // One budget from accept to the client's preface: a TLS handshake already spent part of it.
            TimeSpan left = Server.Options.Limits.HandshakeTimeout - Server.TimeProvider.GetElapsedTime(_acceptedAt);
            using var timeout = new System.Threading.CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1), Server.TimeProvider);
            (string? problem, ushort clientFlags) = await Preface.ReadAsync(_transport.Input, ProtocolConstants.RoleClient, timeout.Token).ConfigureAwait(false);
            ClientReadsMetadata = (clientFlags & ProtocolConstants.ClientReadsMetadata) != 0;
            ClientCompression = clientFlags & ProtocolConstants.ClientCompressionMask;
            if (problem is not null)
            {
                throw new System.IO.InvalidDataException(problem);
            }
        }
        catch (Exception ex)
        {
            if (ex is OperationCanceledException)
            {
                ServerTelemetry.ConnectionClosed("handshake");
            }

            if (Server.RefusalLog.ShouldLog(Telemetry.ConnectionEvent.PrefaceRefused, Remote))
            {
                Telemetry.RpcGenLog.PrefaceRefused(Server.Logger, Remote,
                    ex is OperationCanceledException ? $"no preface within {Server.Options.Limits.HandshakeTimeout.TotalMilliseconds:0} ms of the accept (RpcServerOptions.Limits.HandshakeTimeout)" : ex.Message);
            }
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

        Span<byte> frame = stackalloc byte[FrameEncoder.GoAwayLength];
        FrameEncoder.WriteGoAway(frame, last);
        Output.TryEnqueue(frame);
        if (idle)
        {
            _ = FinishAsync();
        }
    }

    /// <summary>
    /// Closes a connection whose peer abuses it (a ping flood, requests over and over while its cancelled calls still
    /// run): a GoAway that says why (so an RpcGen client's errors name the cause), then the close once it is written.
    /// A peer that does not read it is closed by the drain timeout.
    /// </summary>
    internal void CloseAbusive(string reason, string metricReason)
    {
        uint last;
        lock (_lock)
        {
            if (_calmed)
            {
                return;
            }

            _goingAway = true;
            _calmed = true;
            last = _lastCallId;
        }

        ServerTelemetry.ConnectionClosed(metricReason);
        if (Server.RefusalLog.ShouldLog(Telemetry.ConnectionEvent.ConnectionClosedForAbuse, Remote))
        {
            Telemetry.RpcGenLog.ConnectionClosedForAbuse(Server.Logger, Remote, reason);
        }
        string message = $"The server closed the connection: {reason}.";
        byte[] frame = new byte[FrameEncoder.GoAwayWithReasonLength(message)];
        FrameEncoder.WriteGoAway(frame, last, RpcStatusCode.ResourceExhausted, message);
        Output.TryEnqueue(frame);
        _ = CloseWhenWrittenAsync(message);
    }

    private async Task CloseWhenWrittenAsync(string reason)
    {
        await Output.CompleteAsync().ConfigureAwait(false);
        Close(new System.IO.IOException(reason));
    }

    /// <summary>
    /// Every call is answered after a goodbye: wait for the client to close (it does once its calls are done), still
    /// refusing any request that crossed the GoAway as not processed, and close after a linger at most. Closing at once
    /// would let such a request hit a closed socket, where the client cannot tell it was never processed (a reset can
    /// even discard the GoAway before the client reads it).
    /// </summary>
    private async Task FinishAsync()
    {
        TimeSpan linger = Server.Options.Limits.GoAwayLinger;
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
    /// <summary>Sends a deduplicated call's stored answer (its metadata only to a client that reads metadata).</summary>
    public void SendStoredAnswer(uint callId, Deduplication.DeduplicationRecord record)
    {
        ReadOnlySpan<byte> metadata = ClientReadsMetadata ? record.Metadata.Span : default;
        bool ok = record.Status == RpcStatusCode.OK;
        int length = ok
            ? FrameEncoder.ResponsePrefixLength + metadata.Length + record.Body.Length
            : FrameEncoder.ErrorLength(record.Message!, record.PushbackMilliseconds is not null, metadata.Length);
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> frame = rented.AsSpan(0, length);
            if (ok)
            {
                FrameEncoder.WriteStoredResponse(frame, callId, Server.InFlightCalls, Server.UtilizationBasisPoints, metadata, record.Body.Span);
            }
            else
            {
                FrameEncoder.WriteStoredError(
                    frame, callId, record.Status, record.Message!, record.PushbackMilliseconds, Server.InFlightCalls, Server.UtilizationBasisPoints,
                    metadata);
            }

            Output.TryEnqueue(frame);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The certificate the client presented (mutual TLS), or null.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate => _transport.PeerCertificate;

    /// <summary>True when the connection is TLS.</summary>
    public bool IsEncrypted => _transport.IsEncrypted;

    /// <summary>True when the client's preface said it reads response metadata (older clients would misread it).</summary>
    public bool ClientReadsMetadata { get; private set; }

    /// <summary>The compression algorithms the client's preface says it reads (bit <c>id</c>); 0 for none.</summary>
    public int ClientCompression { get; private set; }

    public void SendError(
        uint callId, RpcStatusCode code, string message, FrameFlags flags = FrameFlags.None, int? pushbackMs = null, RpcMetadata? headers = null, RpcMetadata? trailers = null)
    {
        int metadataLength = ClientReadsMetadata ? FrameEncoder.ResponseMetadataLength(headers, trailers) : 0;
        int length = FrameEncoder.ErrorLength(message, pushbackMs is not null, metadataLength);
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> frame = rented.AsSpan(0, length);
            FrameEncoder.WriteError(frame, callId, code, message, flags, pushbackMs, Server.InFlightCalls, Server.UtilizationBasisPoints, metadataLength, headers, trailers);
            Output.TryEnqueue(frame);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    protected override bool OnFrame(in FrameHeader header, ReadOnlySpan<byte> body)
    {
        switch (header.Type)
        {
            case FrameType.Request:
                return OnRequest(header.CallId, header.Flags, header.Encoding, body);

            case FrameType.Cancel:
            {
                RpcServerCall? call;
                int generation;
                lock (_lock)
                {
                    if (!_inFlight.TryGetValue(header.CallId, out call))
                    {
                        return true;
                    }

                    generation = call.Generation;
                    // The client freed this call's slot when it gave up; so does the server, or the client's next
                    // request (which follows this frame on the connection) would find the connection still full.
                    ReleaseSlotLocked(call);
                }

                call.Cancel(generation);
                return true;
            }

            case FrameType.StreamItems or FrameType.StreamEnd or FrameType.Credit:
                return OnStreamFrame(header, body);

            case FrameType.Ping:
            {
                // A ping flood is answered as gRPC servers answer one (GOAWAY ENHANCE_YOUR_CALM): a polite client pings
                // once per keepalive interval, far below this.
                if (_pings.Add(Server.TimeProvider, LastReadTimestamp, TimeSpan.FromSeconds(1), ServerLimits.MaxPingsPerSecond))
                {
                    CloseAbusive($"more than {ServerLimits.MaxPingsPerSecond} pings in a second", "pings");
                    return true;
                }

                TrySendPong(body);
                return true;
            }

            default:
                // Pong, GoAway from a client, and unknown types are ignored.
                return true;
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
            Telemetry.RpcGenLog.ConnectionEnded(Server.Logger, Remote, error.Message);
        }

        Server.OnConnectionClosed(this);
        _drained.TrySetResult();
    }

    protected override void AbortTransport() => _transport.Abort();
}

/// <summary>One connection as the admin page shows it.</summary>
internal readonly record struct ConnectionView(string Peer, bool Tls, bool Tcp, TimeSpan Age, int Calls, int Streams, bool GoingAway);
