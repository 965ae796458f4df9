using System;
using System.Collections.Generic;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

/// <summary>
/// The client side of one streaming call, across its attempts. A stream is a call whose response is its end: each
/// attempt (<see cref="CallAttempts"/>: pick, connect, request) binds it to its connection and pending call; the
/// server's items go to <see cref="Inbox"/> under the window this side grants, the caller's items go out under the
/// server's credit, and the final response or error ends the attempt as it ends a unary one (with trailers).
/// <para>
/// The commit rule (gRPC's): once the first item crossed (received from the server; for a client stream, taken from
/// the caller's source, which happens only after the server granted credit), the call is committed to its endpoint and
/// never retried. Until then the first message's deadline (<c>[Timeout]</c>) applies; after it, the idle timeout and the
/// hard deadline (<c>TimeoutCoversWholeStream</c>, or a deadline inherited from the call being served).
/// </para>
/// <para>
/// Every use of the attempt's pending call happens under this object's lock while the attempt is active, so a pending
/// call that ended and went back to its connection's pool is never touched again.
/// </para>
/// </summary>
internal abstract class ClientStream
{
    private readonly object _lock = new();
    private readonly TimeProvider _time;
    private readonly long _idleTicks;
    private ClientCall? _call;
    private ClientConnection? _connection;
    private PendingCall? _pending;
    private bool _active;
    private StreamCredit? _credit;
    private CancellationTokenSource? _attempt;
    private long _lastItem;
    private static ReadOnlySpan<byte> EmptyBlock => [0, 0];

    protected ClientStream(RpcClientMethod method, TimeProvider time, bool inbound)
    {
        Method = method;
        _time = time;
        Policy = method.Descriptor.StreamingPolicy ?? RpcStreamingPolicy.Default;
        if (inbound)
        {
            // The caller waits for the server's items only in server and duplex streams; in a client stream the
            // handler applies the idle timeout to the caller's items.
            _idleTicks = Policy.IdleTimeoutMs * time.TimestampFrequency / 1000;
            Inbox = new StreamInbox(Policy.WindowItems, Policy.WindowBytes, Policy.MaxWindowItems);
        }
    }

    public RpcClientMethod Method { get; }

    public RpcStreamingPolicy Policy { get; }

    /// <summary>The server's items not read yet; null for a client stream (its response is one result).</summary>
    public StreamInbox? Inbox { get; }

    /// <summary>A call that resumes a <c>[Resumable]</c> stream after a break: the method's timeout does not bound its first item.</summary>
    public bool Resumed { get; init; }

    /// <summary>Items of the caller's stream sent so far (every attempt).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    private long _sent;

    /// <summary>Items received from the server so far.</summary>
    public long Received => Inbox?.Received ?? 0;

    /// <summary>Adds to <see cref="Sent"/>.</summary>
    protected void CountSent(long items) => Interlocked.Add(ref _sent, items);

    /// <summary>
    /// The response headers the server sent ahead of its stream's first items (in the attempt that delivered them), or
    /// null; its response or error does not carry them again.
    /// </summary>
    public RpcMetadata? ResponseHeaders { get; private set; }

    /// <summary>The call's span (null when nobody listens): it records an event per item, each way (the first ones).</summary>
    public System.Diagnostics.Activity? Span { get; set; }

    /// <summary>True once the first item crossed: the call is never retried after it.</summary>
    public bool Committed { get; private set; }

    /// <summary>
    /// The deadline no part of the stream may pass: the call's own with <c>TimeoutCoversWholeStream</c>, else the one
    /// inherited from the call being served; <see cref="long.MaxValue"/> for none. It is the timeout the request carries.
    /// </summary>
    public long HardDeadline { get; private set; } = long.MaxValue;

    /// <summary>Sets the deadlines of a call that starts now.</summary>
    public void Begin(in CallDeadline deadline) =>
        HardDeadline = Policy.TimeoutCoversWholeStream ? deadline.Timestamp : deadline.Inherited;

    /// <summary>
    /// An attempt's call slot was taken: frames for its call id come here from now on (the server's credit may arrive
    /// before the request's write returns: in process, the server runs on the writing thread).
    /// </summary>
    public void BeginAttempt(ClientCall call, ClientConnection connection, PendingCall pending)
    {
        lock (_lock)
        {
            _call = call;
            _connection = connection;
            _pending = pending;
            _active = true;
            _credit = HasOutbound ? new StreamCredit() : null;
            ResponseHeaders = null; // an attempt that failed before its first item may have had some
            pending.Stream = this;
        }
    }

    /// <summary>The attempt's request was queued: grant the server its window, and start sending the caller's items.</summary>
    public void OnRequestSent(CancellationToken cancellationToken)
    {
        ClientConnection connection;
        PendingCall pending;
        StreamCredit? credit;
        CancellationToken token = default;
        lock (_lock)
        {
            if (!_active)
            {
                return;
            }

            connection = _connection!;
            pending = _pending!;
            credit = _credit;
            if (credit is not null)
            {
                _attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                token = _attempt.Token;
            }
        }

        Inbox?.Bind(connection.Output, pending.Id);
        if (credit is not null)
        {
            _ = RunOutboundAsync(connection, pending, credit, token);
        }
    }

    /// <summary>The attempt ended (its pending call completed): nothing of it is touched again.</summary>
    public void EndAttempt()
    {
        CancellationTokenSource? attempt;
        StreamCredit? credit;
        lock (_lock)
        {
            _active = false;
            _call = null;
            _connection = null;
            _pending = null;
            attempt = _attempt;
            credit = _credit;
            _attempt = null;
            _credit = null;
        }

        credit?.Close();
        if (attempt is not null)
        {
            attempt.Cancel();
            attempt.Dispose();
        }
    }

    /// <summary>True when the caller streams items (client and duplex streams).</summary>
    protected abstract bool HasOutbound { get; }

    /// <summary>Sends the caller's items once the server granted credit; ends with a stream end frame.</summary>
    protected abstract Task RunOutboundAsync(ClientConnection connection, PendingCall pending, StreamCredit credit,
        CancellationToken cancellationToken);

    /// <summary>
    /// The server granted its first credit: it accepted the stream, and the caller's source may be touched. Commits
    /// the call (false when the attempt already ended).
    /// </summary>
    protected bool TryCommitOutbound(PendingCall pending)
    {
        lock (_lock)
        {
            if (!_active || !ReferenceEquals(_pending, pending))
            {
                return false;
            }

            CommitLocked(pending, _time.GetTimestamp());
            return true;
        }
    }

    private void CommitLocked(PendingCall pending, long now)
    {
        Committed = true;
        _call!.Committed = true;
        _lastItem = now;
        pending.MoveDeadline(NextDeadline(now), now);
    }

    private long NextDeadline(long now) => _idleTicks > 0 ? Math.Min(HardDeadline, now + _idleTicks) : HardDeadline;

    /// <summary>
    /// Ends the attempt with <paramref name="error"/> (the caller's source failed, or the server broke the stream's
    /// rules): a cancel frame tells the server, and the call fails with it.
    /// </summary>
    protected void FailAttempt(PendingCall pending, Exception error)
    {
        lock (_lock)
        {
            if (_active && ReferenceEquals(_pending, pending) && _connection!.TryRemove(pending, cancel: true))
            {
                pending.Fail(error);
            }
        }
    }

    /// <summary>Queues the end of the caller's stream, while the attempt is active.</summary>
    protected void SendEnd(PendingCall pending)
    {
        lock (_lock)
        {
            if (_active && ReferenceEquals(_pending, pending))
            {
                Span<byte> frame = stackalloc byte[StreamFrames.EndLength];
                StreamFrames.WriteEnd(frame, pending.Id);
                _connection!.Output.TryEnqueue(frame);
            }
        }
    }

    /// <summary>Items, credit or headers from the server, for <paramref name="pending"/> (looked up in its connection's table).</summary>
    public void OnFrame(PendingCall pending, in FrameHeader header, ReadOnlySpan<byte> body, long arrived)
    {
        string? problem = null;
        lock (_lock)
        {
            if (!_active || !ReferenceEquals(_pending, pending))
            {
                return;
            }

            if (header.Type == FrameType.Headers)
            {
                RpcMetadata? headers = MetadataCodec.Measure(body) == body.Length ? MetadataCodec.Read(body, out problem) : null;
                if (headers is null && problem is null && !body.SequenceEqual(EmptyBlock))
                {
                    problem = "a malformed headers frame";
                }
                else if (problem is not null)
                {
                    problem = $"a malformed headers frame ({problem})";
                }
                else if (ResponseHeaders is not null)
                {
                    problem = "a second headers frame";
                }
                else
                {
                    ResponseHeaders = headers ?? new RpcMetadata();
                    ResponseHeaders.MakeReadOnly();
                }
            }
            else if (header.Type == FrameType.Credit)
            {
                if (!StreamFrames.TryReadCredit(body, out uint items, out uint bytes))
                {
                    problem = "a malformed credit frame";
                }
                else if (_credit is null)
                {
                    problem = "credit for a method that takes no stream";
                }
                else
                {
                    _credit.Grant(items, bytes);
                }
            }
            else if (Inbox is null)
            {
                problem = "stream items for a method that returns no stream";
            }
            else if (header.Encoding == 0)
            {
                problem = AddItems(pending, body, header.Flags, arrived);
            }
            else
            {
                byte[]? inflated = FrameCompression.Inflate(header.Encoding, ProtocolConstants.AllCompression, body, pending.Connection.MaxFrameBytes,
                    out int length, out problem, out _);
                if (inflated is not null)
                {
                    problem = AddItems(pending, inflated.AsSpan(0, length), header.Flags, arrived);
                    BufferPool.Return(inflated);
                }
            }
        }

        if (problem is not null)
        {
            FailAttempt(pending, new RpcException(RpcStatusCode.Internal,
                $"The server at {pending.Connection.Remote} broke the stream of '{Method.Descriptor.FullName}': {problem}.")
            {
                Endpoint = pending.Connection.Remote,
            });
        }
    }

    private string? AddItems(PendingCall pending, ReadOnlySpan<byte> body, FrameFlags flags, long arrived)
    {
        long before = Inbox!.Received;
        StreamInbox.AddResult result = Inbox.TryAddFrame(body, flags, out int count, out string? malformed);
        if (result == StreamInbox.AddResult.OverCredit)
        {
            return "it sent items beyond the credit this client granted";
        }

        if (result == StreamInbox.AddResult.Malformed)
        {
            return $"a malformed stream items frame ({malformed})";
        }

        bool added = count > 0;
        if (added && Span is { IsAllDataRequested: true } span && before < Telemetry.RpcGenTracing.MaxMessageEvents)
        {
            RecordArrivals(span, body, (flags & FrameFlags.Positions) != 0, before);
        }
        if (added)
        {
            if (!Committed)
            {
                CommitLocked(pending, arrived);
            }
            else if (_idleTicks > 0)
            {
                _lastItem = arrived;
                pending.MoveDeadline(NextDeadline(arrived), arrived);
            }
        }

        return null;
    }

    /// <summary>An event on the span for each item of a frame that arrived (the first ones of the stream only).</summary>
    private static void RecordArrivals(System.Diagnostics.Activity span, ReadOnlySpan<byte> body, bool positions, long before)
    {
        long id = before;
        while (StreamFrames.TryReadItem(ref body, positions, out _, out ReadOnlySpan<byte> json, out _) &&
               ++id <= Telemetry.RpcGenTracing.MaxMessageEvents)
        {
            Telemetry.RpcGenTracing.Message(span, sent: false, id, json.Length);
        }
    }

    /// <summary>Why the stream's deadline ended it, for its DeadlineExceeded error.</summary>
    public string DeadlineMessage(bool sent)
    {
        string name = Method.Descriptor.FullName;
        if (!Committed)
        {
            string first = Inbox is null ? "the server did not accept it" : "no item arrived";
            return sent
                ? $"The stream of '{name}' passed its timeout of {Method.TimeoutMilliseconds} ms: {first}. " +
                  "[Timeout] bounds a stream's first message; the idle timeout and TimeoutCoversWholeStream ([Streaming]) bound the rest."
                : $"The deadline of the stream of '{name}' passed before its request was sent.";
        }

        long now = _time.GetTimestamp();
        if (_idleTicks > 0 && now - Volatile.Read(ref _lastItem) >= _idleTicks)
        {
            return $"No item of the stream of '{name}' arrived for {Policy.IdleTimeoutMs} ms, its idle timeout ([Streaming(IdleTimeoutMs)]).";
        }

        return $"The deadline of the stream of '{name}' passed.";
    }
}

/// <summary>A stream whose caller also streams items of type <typeparamref name="TInput"/> (client and duplex streams).</summary>
internal sealed class ClientStream<TInput> : ClientStream
{
    private readonly IAsyncEnumerable<TInput>? _source;
    private readonly JsonTypeInfo<TInput>? _inputType;

    public ClientStream(RpcClientMethod method, TimeProvider time, bool inbound, IAsyncEnumerable<TInput>? source, JsonTypeInfo<TInput>? inputType)
        : base(method, time, inbound)
    {
        _source = source;
        _inputType = inputType;
    }

    protected override bool HasOutbound => _source is not null;

    protected override async Task RunOutboundAsync(ClientConnection connection, PendingCall pending, StreamCredit credit,
        CancellationToken cancellationToken)
    {
        try
        {
            await credit.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (credit.IsClosed || !TryCommitOutbound(pending))
            {
                return; // the attempt ended before the server accepted the stream: its source was not touched
            }

            RpcCompressionPolicy? compression =
                StreamTarget.CompressionFor(Method.Descriptor.Compression, connection.ServerCompression, connection.IsEncrypted);
            using (var sender = new StreamSender(new StreamTarget(connection.Output, pending.Id, credit, connection.MaxFrameBytes, 0, Span: Span,
                Compression: compression)))
            {
                try
                {
                    await sender.SendAsync(_source!, _inputType!, Method.Descriptor.FullName, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    CountSent(sender.Sent);
                }
            }

            if (!credit.IsClosed)
            {
                SendEnd(pending);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The attempt ended, or the caller cancelled the call (its pending call saw that first).
        }
        catch (Exception ex)
        {
            FailAttempt(pending, ex is RpcException ? ex : new StreamSourceException(Method.Descriptor.FullName, ex));
        }
    }
}

/// <summary>
/// The caller's own stream (its <c>IAsyncEnumerable</c> argument) threw: the call ends with that exception, which says
/// nothing about the endpoint (not counted against its health, never retried). The invoker throws the inner exception.
/// </summary>
internal sealed class StreamSourceException : Exception
{
    public StreamSourceException(string method, Exception inner)
        : base($"The stream passed to '{method}' threw: {inner.Message}", inner)
    {
    }
}
