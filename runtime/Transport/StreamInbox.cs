using System;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>
/// The receiving side of a stream: the items that arrived and were not yet read, and the credit that bounds them. The
/// receiver grants a window (<see cref="Bind"/>: items and bytes); the read loop adds each arriving item, taking its
/// credit (an item beyond the credit is the peer's protocol violation, refused); the reader gives the credit of what it
/// read back in one grant per quarter window, as HTTP/2's WINDOW_UPDATE (a sender with a quarter window left goes on
/// while the grant travels, so a small window does not stall a fast stream on every round trip). So what a stream holds is at most its window in
/// items and its window plus one item in bytes, whatever the peer does, and a reader that stops reading stalls only its
/// own stream.
/// </summary>
internal sealed class StreamInbox
{
    /// <summary>An item as it arrived: its JSON in a pooled array (given back once read), and its position.</summary>
    public readonly record struct Item(byte[] Array, int Length, long Position);

    /// <summary>What <see cref="TryAdd"/> did with an item.</summary>
    public enum AddResult
    {
        Added,

        /// <summary>The peer sent without credit: a protocol violation, and nothing was kept.</summary>
        OverCredit,

        /// <summary>The stream already ended; the item was dropped.</summary>
        Closed,
    }

    private readonly Channel<Item> _items = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly object _lock = new();
    private readonly int _windowItems;
    private readonly int _windowBytes;
    private long _creditItems;       // what the peer may still send
    private long _creditBytes;
    private int _readItems;          // read since the last grant (reader only)
    private long _readBytes;
    private FrameOutput? _output;
    private uint _callId;
    private Exception? _error;
    private int _received;

    public StreamInbox(int windowItems, int windowBytes)
    {
        _windowItems = windowItems;
        _windowBytes = windowBytes;
    }

    /// <summary>Items received so far (the first one commits a client's stream to its endpoint).</summary>
    public int Received => Volatile.Read(ref _received);


    /// <summary>
    /// Grants the whole window to the sender at the other end of <paramref name="output"/> (a credit frame for
    /// <paramref name="callId"/>); a client binds once per attempt, before any item arrived.
    /// </summary>
    public void Bind(FrameOutput output, uint callId)
    {
        lock (_lock)
        {
            _output = output;
            _callId = callId;
            _creditItems = _windowItems;
            _creditBytes = _windowBytes;
            _readItems = 0;
            _readBytes = 0;
        }

        SendCredit(output, callId, (uint)_windowItems, (uint)_windowBytes);
    }

    private static void SendCredit(FrameOutput output, uint callId, uint items, uint bytes)
    {
        Span<byte> frame = stackalloc byte[StreamFrames.CreditLength];
        StreamFrames.WriteCredit(frame, callId, items, bytes);
        output.TryEnqueue(frame);
    }

    /// <summary>Keeps an item that arrived (copied: the body is the receive buffer's), if the peer had credit for it.</summary>
    public AddResult TryAdd(ReadOnlySpan<byte> json, long position)
    {
        lock (_lock)
        {
            if (_creditItems < 1 || _creditBytes <= 0)
            {
                return AddResult.OverCredit;
            }

            _creditItems--;
            _creditBytes -= json.Length;
        }

        byte[] array = BufferPool.Rent(json.Length);
        json.CopyTo(array);
        if (!_items.Writer.TryWrite(new Item(array, json.Length, position)))
        {
            BufferPool.Return(array);
            return AddResult.Closed;
        }

        Interlocked.Increment(ref _received);
        return AddResult.Added;
    }

    /// <summary>Ends the stream: the reader reads what is here, then sees the end (or <paramref name="error"/>, thrown).</summary>
    public void Complete(Exception? error)
    {
        lock (_lock)
        {
            if (_error is null && error is not null && !_items.Reader.Completion.IsCompleted)
            {
                _error = error;
            }
        }

        _items.Writer.TryComplete();
    }

    /// <summary>
    /// The next item; false at the end of the stream; throws the error the stream ended with. Give the item back with
    /// <see cref="Release"/> once it is read.
    /// </summary>
    public async ValueTask<(bool Read, Item Item)> ReadAsync(CancellationToken cancellationToken)
    {
        ChannelReader<Item> reader = _items.Reader;
        while (true)
        {
            if (reader.TryRead(out Item item))
            {
                return (true, item);
            }

            if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                Exception? error;
                lock (_lock)
                {
                    error = _error;
                }

                if (error is not null)
                {
                    throw error;
                }

                return (false, default);
            }
        }
    }

    /// <summary>An item was read: its array goes back, and its credit back to the sender once a quarter of the window is read.</summary>
    public void Release(Item item)
    {
        BufferPool.Return(item.Array);
        _readItems++;
        _readBytes += item.Length;
        if (_readItems < Math.Max(1, _windowItems / 4) && _readBytes < Math.Max(1, _windowBytes / 4))
        {
            return;
        }

        uint items = (uint)_readItems;
        uint bytes = (uint)Math.Min(_readBytes, uint.MaxValue);
        _readItems = 0;
        _readBytes = 0;
        FrameOutput? output;
        uint callId;
        lock (_lock)
        {
            if (_items.Reader.Completion.IsCompleted)
            {
                return;
            }

            _creditItems += items;
            _creditBytes += bytes;
            output = _output;
            callId = _callId;
        }

        if (output is not null)
        {
            SendCredit(output, callId, items, bytes);
        }
    }

    /// <summary>Gives back the arrays of items nobody will read (the reader stopped early).</summary>
    public void Discard()
    {
        _items.Writer.TryComplete();
        while (_items.Reader.TryRead(out Item item))
        {
            BufferPool.Return(item.Array);
        }
    }
}
