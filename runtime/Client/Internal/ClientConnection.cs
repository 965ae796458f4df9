using System.Buffers.Binary;
using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading.Tasks;
using System.Threading;
using System;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

/// <summary>
/// The client side of one multiplexed connection: many concurrent calls, told apart by call id, share it.
/// <para>
/// Over a network, a response resumes its caller inline, on the read loop, while the output is corked for the read: the
/// next requests the callers of one read write leave in one write when the read's frames are handled, as the raw
/// multiplexed client's do, and no caller costs a thread-pool item. The caller's code runs inside a hand-off section
/// (<see cref="HandOffs"/>): a caller that blocks (waiting synchronously for another call, say) loses the read loop to
/// another thread after 2–4 ms, as a server's inline handler does, so the other calls' responses and its own still
/// arrive. In process, callers resume on the thread pool: there the read loop is the server's writing thread.
/// </para>
/// </summary>
internal sealed partial class ClientConnection : FramedConnection
{
    private readonly TransportConnection _transport;
    private readonly object _lock = new();
    private readonly Dictionary<uint, PendingCall> _calls = new();
    private readonly Stack<PendingCall> _pool = new();
    private readonly Dictionary<ulong, TaskCompletionSource<bool>> _pings = new();
    private readonly Action<ClientConnection> _onUnusable;
    private readonly Action<int, int, long> _onServerLoad;
    private uint _nextCallId;
    private long _goAwayLastCallId = -1; // the server's promise: no call above this id was or will be processed
    private string? _goAwayReason;       // what a GoAway said of why the server closes, if it said
    private int _goAwayTaken;            // the GoAway was reported (TryTakeGoAway)
    private readonly int _maxCalls; // the server's limit of calls at once on this connection; 0: none
    private Queue<TaskCompletionSource<bool>>? _slotWaiters;
    private ulong _nextPing;
    private volatile bool _draining;
    private int _keepAlive;
    private readonly bool _resumeInline; // callers resume on the read loop (not in process)
    private volatile int _serverCompression; // the algorithms the server's Settings frame says it reads; 0 before it

    private ClientConnection(TransportConnection transport, int maxFrameSize, TimeProvider timeProvider, Action<ClientConnection> onUnusable, Action<int, int, long> onServerLoad, int maxCalls)
        : base(transport, maxFrameSize, transport.Remote, timeProvider)
    {
        _maxCalls = maxCalls;
        _transport = transport;
        TimeProvider = timeProvider;
        _onUnusable = onUnusable;
        _onServerLoad = onServerLoad;
        _resumeInline = !transport.IsInProcess;
    }

    /// <summary>True when the connection is TLS.</summary>
    public bool IsEncrypted => _transport.IsEncrypted;

    /// <summary>
    /// The compression algorithms the server reads (bit <c>id</c>), from the Settings frame behind its preface; 0 for a
    /// server that predates compression (requests then go uncompressed).
    /// </summary>
    public int ServerCompression => _serverCompression;

    /// <summary>The process's open network connections, watched by <see cref="HandOffs"/>.</summary>
    private static readonly ConcurrentDictionary<ClientConnection, byte> s_open = new();

    /// <summary>
    /// Hands a read loop to another thread when a caller resumed on it holds it for 2–4 ms: one monitor for every
    /// client connection of the process, whose timer runs only while callers resume.
    /// </summary>
    internal static HandOffMonitor HandOffs { get; } = new(static tick =>
    {
        bool active = false;
        foreach (KeyValuePair<ClientConnection, byte> open in s_open)
        {
            active |= open.Key.CheckHandOff(tick);
        }

        return active;
    });

    /// <summary>
    /// The largest response whose caller resumes on the read loop; a larger one's resumes on the thread pool. Reading a
    /// large result costs far more than a thread hop, and on the read loop it runs in series with the next read: at 64
    /// callers of 64 KiB results, callers resumed inline made half the calls at twice the CPU per call (benchmarks-log.md).
    /// </summary>
    internal const int MaxInlineResponseBytes = 16 * 1024;

    /// <summary>
    /// Completes a call from the read loop. Over a network its caller resumes here, inside a hand-off section, so what it
    /// writes next joins this read's corked write. False: the caller held the loop past the budget and another thread
    /// reads now; this one must leave the input alone.
    /// </summary>
    private bool CompleteFromReadLoop(PendingCall call, ResponseData data)
    {
        call.AnsweredAt = LastReadTimestamp; // the attempt's end for the endpoint's figures: no clock read per call
        if (!_resumeInline || data.Length > MaxInlineResponseBytes)
        {
            call.SetResult(data);
            return true;
        }

        int token = BeginResumeSection();
        call.SetResultInline(data);
        return ExitHandOffSection(token);
    }

    protected override int BeginResumeSection() => EnterHandOffSection(HandOffs.Tick());

    public TimeProvider TimeProvider { get; }

    /// <summary>The largest frame body this side sends or accepts.</summary>
    public int MaxFrameBytes => MaxFrameSize;

    /// <summary>
    /// Set when the connection has ended without an orderly goodbye (before the owner is told it is unusable): the
    /// endpoint counts this as one connectivity failure, whatever number of calls it took down.
    /// </summary>
    public bool Lost { get; private set; }

    /// <summary>False once the server said goodbye or the connection ended: new calls go to a new connection.</summary>
    public bool IsUsable => !_draining && !IsClosed;

    /// <summary>
    /// True, once per connection, when the server sent a GoAway on it; <paramref name="reason"/> is what it said of why,
    /// if it said (the connection is reported unusable more than once: the event is recorded once).
    /// </summary>
    public bool TryTakeGoAway(out string? reason)
    {
        reason = Volatile.Read(ref _goAwayReason);
        return Interlocked.Read(ref _goAwayLastCallId) >= 0 && Interlocked.Exchange(ref _goAwayTaken, 1) == 0;
    }

    /// <summary>Exchanges prefaces, then starts reading frames in the background.</summary>
    public static async Task<ClientConnection> EstablishAsync(
        TransportConnection transport, int maxFrameSize, TimeProvider timeProvider, TimeSpan timeout,
        Action<ClientConnection> onUnusable, Action<int, int, long> onServerLoad, CancellationToken cancellationToken)
    {
        ushort maxCalls;
        int serverCompression;
        try
        {
            byte[] preface = new byte[ProtocolConstants.PrefaceLength];
            // In process there is no wire to save bytes on: the client announces no compression and sends none.
            Preface.Write(preface, ProtocolConstants.RoleClient, transport.IsInProcess
                ? ProtocolConstants.ClientReadsMetadata
                : (ushort)(ProtocolConstants.ClientReadsMetadata | ProtocolConstants.ClientCompressionMask));
            await transport.Output.WriteAsync(preface, cancellationToken).ConfigureAwait(false);

            using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutSource.CancelAfter(timeout);
            string? problem;
            try
            {
                (problem, maxCalls) = await Preface.ReadAsync(transport.Input, ProtocolConstants.RoleServer, timeoutSource.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.IO.IOException or System.Net.Sockets.SocketException)
            {
                // A reset instead of a preface: the same causes as a close, which this side cannot tell apart.
                throw new RpcException(RpcStatusCode.Unavailable, $"Cannot talk to {transport.Remote}: {ClosedBeforePreface(transport.IsEncrypted)} ({ex.Message}).", ex);
            }

            if (problem == Preface.ClosedProblem)
            {
                problem = ClosedBeforePreface(transport.IsEncrypted);
            }

            if (problem is not null)
            {
                throw new RpcException(RpcStatusCode.Unavailable, $"Cannot talk to {transport.Remote}: {problem}.");
            }

            serverCompression = ThrowIfRefused(transport);
        }
        catch
        {
            transport.Abort();
            throw;
        }

        var connection = new ClientConnection(transport, maxFrameSize, timeProvider, onUnusable, onServerLoad, maxCalls);
        connection._serverCompression = transport.IsInProcess ? 0 : serverCompression;
        if (connection._resumeInline)
        {
            s_open.TryAdd(connection, 0); // removed in OnClosed, which the read loop calls
        }

        _ = connection.ReadLoopAsync();
        return connection;
    }

    /// <summary>
    /// What a close before the server's preface may mean. The server sends its preface at once to every connection it
    /// serves, so a close means it did not serve this one, for a reason this side cannot see.
    /// </summary>
    private static string ClosedBeforePreface(bool tls) => tls
        ? "the server closed the connection after the TLS handshake, before its RpcGen preface: it may have refused this " +
          "client's certificate (mutual TLS: set RpcClientTlsOptions.ClientCertificate to one the server trusts), or be at " +
          "its connection limit (RpcServerOptions.Limits.MaxConnections); the server's log says which"
        : "the server closed the connection before its RpcGen preface: it may require TLS (set RpcClientOptions.Tls), or be at " +
          "its connection limit (RpcServerOptions.Limits.MaxConnections); the server's log says which";

    /// <summary>
    /// A server that refuses a connection it accepted (over its connection limit) sends its preface and a GoAway that
    /// says why, in one write: when that GoAway is already here, the connection attempt fails with its reason. A server
    /// that serves it sends its preface and its Settings frame in one write: the compression algorithms it reads are
    /// returned (0 when the settings are not here yet: the read loop applies them when they come).
    /// </summary>
    private static int ThrowIfRefused(TransportConnection transport)
    {
        if (!transport.Input.TryRead(out System.IO.Pipelines.ReadResult read))
        {
            return 0;
        }

        System.Buffers.ReadOnlySequence<byte> buffer = read.Buffer;
        ReadOnlySequence<byte> afterHeader = buffer;
        RpcException? refusal = null;
        int compression = 0;
        if (FrameHeader.TryRead(ref afterHeader, out FrameHeader header, out uint length) && header.Type == FrameType.GoAway &&
            length > 4 && length <= 4 + 4 + ErrorBody.MaxMessageBytes && afterHeader.Length >= length)
        {
            byte[] body = afterHeader.Slice(0, length).ToArray();
            if (BinaryPrimitives.ReadUInt32LittleEndian(body) == 0 && ErrorBody.TryRead(body.AsSpan(4), out RpcStatusCode code, out string message))
            {
                refusal = new RpcException(code, message) { NotProcessed = true, Endpoint = transport.Remote };
            }
        }
        else if (header.Type == FrameType.Settings && length <= 64 && afterHeader.Length >= length)
        {
            Span<byte> body = stackalloc byte[(int)length];
            afterHeader.Slice(0, length).CopyTo(body);
            _ = SettingsFrame.TryRead(body, out compression);
        }

        transport.Input.AdvanceTo(buffer.Start); // nothing taken: the read loop reads it all again
        if (refusal is not null)
        {
            throw refusal;
        }

        return compression;
    }

    /// <summary>True for the caller that may send the next keepalive ping (one at a time).</summary>
    public bool TryBeginKeepAlive() => Interlocked.Exchange(ref _keepAlive, 1) == 0;

    public void EndKeepAlive() => Volatile.Write(ref _keepAlive, 0);

    /// <summary>Sends a ping and waits for its pong.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken)
    {
        var pong = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        ulong id;
        lock (_lock)
        {
            id = ++_nextPing;
            _pings.Add(id, pong);
        }

        long start = TimeProvider.GetTimestamp();
        try
        {
            Span<byte> frame = stackalloc byte[FrameEncoder.PingLength];
            FrameEncoder.WritePing(frame, id);
            if (!Output.TryEnqueue(frame))
            {
                throw new RpcException(RpcStatusCode.Unavailable, $"The connection to {Remote} is closed.");
            }

            await pong.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return TimeProvider.GetElapsedTime(start);
        }
        finally
        {
            lock (_lock)
            {
                _pings.Remove(id);
            }
        }
    }

    /// <summary>
    /// Reads the headers and trailers in front of a response or error body; a malformed block fails the call with
    /// <see cref="RpcStatusCode.Internal"/> (false).
    /// </summary>
    private bool TryReadMetadata(ref ReadOnlySpan<byte> body, PendingCall call, out HeadersAndTrailers? metadata)
    {
        metadata = null;
        int headersLength = MetadataCodec.Measure(body);
        int trailersLength = headersLength < 0 ? -1 : MetadataCodec.Measure(body.Slice(headersLength));
        string? problem = trailersLength < 0 ? "its metadata is truncated" : null;
        RpcMetadata? headers = problem is null ? MetadataCodec.Read(body.Slice(0, headersLength), out problem) : null;
        RpcMetadata? trailers = problem is null ? MetadataCodec.Read(body.Slice(headersLength, trailersLength), out problem) : null;
        if (problem is not null)
        {
            call.Fail(new RpcException(RpcStatusCode.Internal, $"The server at {Remote} sent a malformed response: {problem}.") { Endpoint = Remote });
            return false;
        }

        metadata = headers is null && trailers is null ? null : new HeadersAndTrailers(headers, trailers);
        body = body.Slice(headersLength + trailersLength);
        return true;
    }

    /// <summary>A stream's end with the headers its server sent ahead of the first items (the end does not repeat them).</summary>
    private static HeadersAndTrailers? WithHeadersAhead(PendingCall call, HeadersAndTrailers? metadata) =>
        call.Stream?.ResponseHeaders is { } ahead && metadata?.Headers is null ? new HeadersAndTrailers(ahead, metadata?.Trailers) : metadata;

    protected override bool OnFrame(in FrameHeader header, ReadOnlySpan<byte> body)
    {
        if ((header.Flags & FrameFlags.LoadReport) != 0 && header.Type is FrameType.Response or FrameType.Error &&
            LoadReport.TryRead(ref body, out int serverInFlight, out int utilization))
        {
            _onServerLoad(serverInFlight, utilization, LastReadTimestamp);
        }

        switch (header.Type)
        {
            case FrameType.Response:
            {
                PendingCall? call = TryRemove(header.CallId);
                if (call is null)
                {
                    return true; // cancelled or timed out meanwhile
                }

                HeadersAndTrailers? metadata = null;
                if ((header.Flags & FrameFlags.Metadata) != 0 && !TryReadMetadata(ref body, call, out metadata))
                {
                    return true;
                }

                byte[]? array = null;
                int length = body.Length;
                if (header.Encoding != 0)
                {
                    // Within this side's largest frame, checked before anything is inflated (docs/protocol.md, "Compression").
                    array = FrameCompression.Inflate(header.Encoding, ProtocolConstants.AllCompression, body, MaxFrameSize, out length,
                        out string? problem, out bool tooLarge);
                    if (array is null)
                    {
                        call.Fail(new RpcException(tooLarge ? RpcStatusCode.ResourceExhausted : RpcStatusCode.Internal,
                            $"The response from {Remote} carries {problem}" + (tooLarge ? " (RpcClientOptions.Connection.MaxFrameSize)." : ".")));
                        return true;
                    }
                }
                else if (body.Length > 0)
                {
                    array = BufferPool.Rent(body.Length);
                    body.CopyTo(array);
                }

                return CompleteFromReadLoop(call, new ResponseData(array, length, WithHeadersAhead(call, metadata)));
            }

            case FrameType.Error:
            {
                PendingCall? call = TryRemove(header.CallId);
                if (call is null)
                {
                    return true;
                }

                HeadersAndTrailers? metadata = null;
                if ((header.Flags & FrameFlags.Metadata) != 0 && !TryReadMetadata(ref body, call, out metadata))
                {
                    return true;
                }

                if (!ErrorBody.TryRead(body, out RpcStatusCode code, out string message))
                {
                    code = RpcStatusCode.Internal;
                    message = "The server sent a malformed error frame.";
                }

                int? pushback = (header.Flags & FrameFlags.Pushback) != 0 ? ErrorBody.ReadPushback(body) : null;
                metadata = WithHeadersAhead(call, metadata);
                return CompleteFromReadLoop(call, new ResponseData(new RpcException(code, message)
                {
                    NotProcessed = (header.Flags & FrameFlags.NotProcessed) != 0,
                    Endpoint = Remote,
                    DoNotRetry = pushback < 0,
                    RetryAfter = pushback >= 0 ? TimeSpan.FromMilliseconds(pushback.Value) : null,
                    ResponseHeaders = metadata?.Headers,
                    Trailers = metadata?.Trailers,
                }));
            }

            case FrameType.StreamItems or FrameType.Credit or FrameType.Headers:
            {
                PendingCall? call;
                ClientStream? stream;
                lock (_lock)
                {
                    stream = _calls.TryGetValue(header.CallId, out call) ? call.Stream : null;
                }

                // The stream checks, under its own lock, that the call is still its attempt's before using it.
                if (stream is null)
                {
                    return true;
                }

                stream.OnFrame(call!, header, body, LastReadTimestamp);
                return stream.Inbox is not { } inbox || WakeStreamReader(inbox, _resumeInline);
            }

            case FrameType.Ping:
                TrySendPong(body);
                return true;

            case FrameType.Pong:
                if (body.Length == 8)
                {
                    ulong id = BinaryPrimitives.ReadUInt64LittleEndian(body);
                    TaskCompletionSource<bool>? waiter;
                    lock (_lock)
                    {
                        _pings.Remove(id, out waiter);
                    }

                    waiter?.TrySetResult(true);
                }

                return true;

            case FrameType.GoAway:
                if (body.Length >= 4)
                {
                    Interlocked.Exchange(ref _goAwayLastCallId, BinaryPrimitives.ReadUInt32LittleEndian(body));
                }

                if (body.Length > 4 && ErrorBody.TryRead(body.Slice(4), out _, out string reason))
                {
                    Volatile.Write(ref _goAwayReason, reason); // why the server closes: the calls it fails say so
                }

                BeginDraining();
                return true;

            case FrameType.Settings:
                if (header.CallId == 0 && !_transport.IsInProcess && SettingsFrame.TryRead(body, out int compression))
                {
                    _serverCompression = compression;
                }

                return true;

            default:
                // Unknown frame types are ignored so that later protocol versions can add some.
                return true;
        }
    }

    /// <summary>Takes no new calls; closes once the calls in flight have finished (endpoint removed, or goaway).</summary>
    public void Drain() => BeginDraining();

    private void BeginDraining()
    {
        bool closeNow;
        lock (_lock)
        {
            if (_draining)
            {
                return;
            }

            _draining = true;
            closeNow = _calls.Count == 0;
        }

        _onUnusable(this);
        ReleaseAllWaiters();
        if (closeNow)
        {
            _ = Output.CompleteAsync();
        }
    }

    protected override void OnOversizeFrame(in FrameHeader header, uint length)
    {
        PendingCall? call = TryRemove(header.CallId);
        call?.Fail(new RpcException(
            RpcStatusCode.ResourceExhausted,
            $"The response of {length} bytes exceeds the client's maximum frame size of {MaxFrameSize} bytes (RpcClientOptions.Connection.MaxFrameSize).")
        {
            Endpoint = Remote,
        });
    }

    protected override void OnClosed(Exception? error)
    {
        s_open.TryRemove(this, out _);
        List<PendingCall> failed;
        List<TaskCompletionSource<bool>> pings;
        bool saidGoodbye;
        lock (_lock)
        {
            saidGoodbye = _draining; // a GoAway (or our own drain) came first: an orderly close
            failed = new List<PendingCall>(_calls.Values);
            _calls.Clear();
            pings = new List<TaskCompletionSource<bool>>(_pings.Values);
            _pings.Clear();
            _draining = true;
            while (_pool.TryPop(out PendingCall? pooled))
            {
                pooled.DisposeTimer(); // pooled calls keep their deadline timer armed; a timer must not keep the connection alive
            }
        }

        // Lost: torn down (a reset, an unanswered keepalive, a close mid-frame) or closed under calls without a goodbye.
        Lost = error is not null || (!saidGoodbye && failed.Count > 0);
        string reason = Volatile.Read(ref _goAwayReason) ?? (error is null ? "the server closed it" : error.Message);
        long goAwayLast = Interlocked.Read(ref _goAwayLastCallId);
        foreach (PendingCall call in failed)
        {
            call.Fail(new RpcException(RpcStatusCode.Unavailable, $"The connection to {Remote} was lost while the call was in flight ({reason}).", error)
            {
                // A request that never left this process cannot have run anywhere; nor can one above the id a server
                // said goodbye with (it refuses those unprocessed, even when it closes before they arrive).
                NotProcessed = !call.Sent || (goAwayLast >= 0 && call.Id > goAwayLast),
                Endpoint = Remote,
                ConnectionLost = Lost,
            });
        }

        foreach (TaskCompletionSource<bool> ping in pings)
        {
            ping.TrySetException(new RpcException(RpcStatusCode.Unavailable, $"The connection to {Remote} was lost."));
        }

        _onUnusable(this);
        ReleaseAllWaiters();
    }

    protected override void AbortTransport() => _transport.Abort();

    /// <summary>A caller resumed on the read loop held it past the hand-off budget (rpcgen.client.read_loop_handoffs).</summary>
    protected override void OnHandedOff() => Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.ClientHandOffs);
}
