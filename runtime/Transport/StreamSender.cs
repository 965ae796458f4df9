using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>Where a stream's items go: the connection's output, the call, the credit the receiver granted, and the size bounds.</summary>
/// <param name="Output">The connection's output.</param>
/// <param name="CallId">The call the stream belongs to.</param>
/// <param name="Credit">What the receiver granted.</param>
/// <param name="MaxFrameSize">The largest frame body the receiver takes: the bound of one item, and of a batch.</param>
/// <param name="MaxQueuedOutput">Queued output above which the sender waits for the socket to drain (0: no bound).</param>
/// <param name="BeforeFirstFrame">Runs once, right before the first items frame is queued (a server sends its response headers).</param>
/// <param name="Span">The call's span, which records an event per item sent (the first ones).</param>
/// <param name="Compression">The method's <c>[Compress]</c>, when the receiver reads its algorithm over this connection.</param>
internal sealed record StreamTarget(FrameOutput Output, uint CallId, StreamCredit Credit, int MaxFrameSize, long MaxQueuedOutput,
    Action? BeforeFirstFrame = null, System.Diagnostics.Activity? Span = null, RpcCompressionPolicy? Compression = null)
{
    /// <summary>
    /// The policy a stream's frames are compressed with over a connection whose peer reads <paramref name="accepted"/>:
    /// null when the method has none, the peer does not read its algorithm, or the connection is TLS and it does not opt in.
    /// </summary>
    public static RpcCompressionPolicy? CompressionFor(RpcCompressionPolicy? policy, int accepted, bool encrypted) =>
        policy is not null && policy.For(int.MaxValue, accepted, encrypted) != RpcCompression.None ? policy : null;
}

/// <summary>
/// Sends the items of an <see cref="IAsyncEnumerable{T}"/> as items frames: each item serialized once, taken against the
/// receiver's credit (waiting when there is none, so a receiver that stops reading holds the sender to the one item in
/// hand), and batched: items the source yields without waiting share one frame, up to <see cref="BatchBytes"/>, as
/// Orleans batches messages; an item the source has to wait for flushes what came before it. Not thread-safe: one
/// sender per stream.
/// </summary>
internal sealed class StreamSender : IDisposable
{
    /// <summary>Items are batched into frames of up to this many bytes (or the receiver's maximum frame size, if smaller).</summary>
    public const int BatchBytes = 16 * 1024;

    private readonly StreamTarget _target;
    private readonly PooledBuffer _batch = new(4096);
    private readonly Utf8JsonWriter _writer;
    private int _batched;
    private bool _positions;
    private bool _waited;            // waited for credit since the last frame
    private byte[]? _overflow;       // an item that opens the next frame (see Append)
    private PooledBuffer? _compressed; // a frame's compressed copy, for methods with [Compress]

    public StreamSender(StreamTarget target)
    {
        _target = target;
        _writer = new Utf8JsonWriter(_batch);
    }

    /// <summary>Items sent so far (in frames queued on the connection).</summary>
    public long Sent { get; private set; }

    /// <summary>
    /// Sends every item of <paramref name="source"/>; returns when the last one is queued, each item with its
    /// <paramref name="position"/> when one is given (a resumable stream). Throws what the source throws,
    /// <see cref="OperationCanceledException"/>, or an <see cref="RpcException"/> for an item that cannot be serialized
    /// or is over the receiver's maximum frame size.
    /// </summary>
    public async Task SendAsync<T>(
        IAsyncEnumerable<T> source, JsonTypeInfo<T> type, string method, CancellationToken cancellationToken,
        Func<T, long>? position = null)
    {
        _positions = position is not null;
        IAsyncEnumerator<T> items = source.GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                ValueTask<bool> next = items.MoveNextAsync();
                if (!next.IsCompleted && _batched > 0)
                {
                    await FlushAsync().ConfigureAwait(false); // the source waits: what it gave so far leaves now
                }

                bool more;
                try
                {
                    more = await next.ConfigureAwait(false);
                }
                catch when (_batched > 0)
                {
                    // The source failed after items it gave (perhaps at once): they reach the receiver before the error.
                    await FlushAsync().ConfigureAwait(false);
                    throw;
                }

                if (!more)
                {
                    break;
                }

                // An item may go while one item and one byte of credit are left, whatever its length: wait for that first.
                while (!_target.Credit.HasCredit)
                {
                    if (_batched > 0)
                    {
                        await FlushAsync().ConfigureAwait(false);
                    }

                    await _target.Credit.WaitAsync(cancellationToken).ConfigureAwait(false);
                    if (_target.Credit.IsClosed)
                    {
                        return; // the call ended meanwhile: nobody reads any more
                    }

                    _waited = true; // the next frame says so: a receiver that keeps up may grow the window
                }

                T item = items.Current;
                int length;
                try
                {
                    length = Append(item, type, method, position is null ? 0 : position(item));
                }
                catch (RpcException) when (_batched > 0)
                {
                    // An item that cannot go (not serializable, too large): the ones before it still reach the receiver.
                    await FlushAsync().ConfigureAwait(false);
                    throw;
                }

                _target.Credit.Take(length);
                if (_overflow is not null)
                {
                    await FlushOverflowAsync().ConfigureAwait(false);
                }
                else if (_batch.WrittenCount - ProtocolConstants.HeaderLength >= BatchBytes)
                {
                    await FlushAsync().ConfigureAwait(false);
                }
            }

            if (_batched > 0)
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await items.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Serializes one item into the batch behind its prefix (opening a frame when the batch is empty); returns its
    /// length. An item that would take the frame over the receiver's maximum frame size is kept aside in
    /// <see cref="_overflow"/>, to open the next frame once this one is sent.
    /// </summary>
    private int Append<T>(T value, JsonTypeInfo<T> type, string method, long position)
    {
        if (_batched == 0)
        {
            _batch.Clear();
            _batch.GetSpan(ProtocolConstants.HeaderLength);
            _batch.Advance(ProtocolConstants.HeaderLength);
        }

        int start = _batch.WrittenCount;
        int prefix = StreamFrames.ItemPrefixLength(_positions);
        _batch.GetSpan(prefix);
        _batch.Advance(prefix);
        _writer.Reset(_batch);
        try
        {
            JsonSerializer.Serialize(_writer, value, type);
            _writer.Flush();
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            _batch.Truncate(start);
            throw new RpcException(RpcStatusCode.Internal,
                $"Item {Sent + _batched + 1} of the stream of '{method}' could not be serialized: {ex.Message}", ex);
        }

        int length = _batch.WrittenCount - start - prefix;
        if (length > _target.MaxFrameSize - prefix)
        {
            _batch.Truncate(start);
            throw new RpcException(RpcStatusCode.ResourceExhausted,
                $"Item {Sent + _batched + 1} of the stream of '{method}' is {length} bytes, " +
                $"over the receiver's maximum frame size of {_target.MaxFrameSize} bytes.");
        }

        StreamFrames.WriteItemPrefix(_batch.WrittenSpanWritable.Slice(start), _positions, position, length);
        Telemetry.RpcGenTracing.Message(_target.Span, sent: true, Sent + _batched + 1, length);
        if (_batched > 0 && _batch.WrittenCount - ProtocolConstants.HeaderLength > _target.MaxFrameSize)
        {
            // Over what the receiver takes in one frame: this item opens the next one (rare: frames are sent at 16 KiB).
            _overflow = _batch.WrittenSpan.Slice(start).ToArray();
            _batch.Truncate(start);
        }

        _batched++;
        return length;
    }

    /// <summary>Sends the batch without the item kept aside, then opens the next batch with that item.</summary>
    private async ValueTask FlushOverflowAsync()
    {
        byte[] overflow = _overflow!;
        _overflow = null;
        _batched--;
        await FlushAsync().ConfigureAwait(false);
        _batch.GetSpan(ProtocolConstants.HeaderLength);
        _batch.Advance(ProtocolConstants.HeaderLength);
        _batch.Write(overflow);
        _batched = 1;
    }

    /// <summary>Queues the batch as one frame, after waiting for the output to drain when it is over its bound.</summary>
    private async ValueTask FlushAsync()
    {
        FrameOutput output = _target.Output;
        if (_target.MaxQueuedOutput > 0 && output.QueuedBytes > _target.MaxQueuedOutput)
        {
            await output.WaitForDrainAsync(_target.MaxQueuedOutput / 2).ConfigureAwait(false);
        }

        if (Sent == 0 && _target.BeforeFirstFrame is { } first)
        {
            first();
        }

        Span<byte> frame = _batch.WrittenSpanWritable;
        FrameFlags flags = (_positions ? FrameFlags.Positions : FrameFlags.None) | (_waited ? FrameFlags.CreditWaited : FrameFlags.None);
        _waited = false;
        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.StreamItems, flags, _target.CallId);
        if (_target.Compression is { } compression && frame.Length - ProtocolConstants.HeaderLength >= compression.MinSize)
        {
            frame = FrameCompression.CompressFrame(frame, ProtocolConstants.HeaderLength, compression.Algorithm, compression.Level,
                _compressed ??= new PooledBuffer(4096));
        }

        bool queued = output.TryEnqueue(frame);
        Sent += _batched;
        _batched = 0;
        _batch.Clear();
        if (!queued)
        {
            throw new RpcException(RpcStatusCode.Unavailable, "The connection closed while the stream was being sent.") { ConnectionLost = true };
        }
    }

    public void Dispose()
    {
        _writer.Dispose();
        _batch.Dispose();
        _compressed?.Dispose();
    }
}
