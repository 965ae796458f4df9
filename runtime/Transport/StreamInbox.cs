using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>
/// The receiving side of a stream: the items that arrived and were not yet read, and the credit that bounds them. The
/// receiver grants a window (<see cref="Bind"/>: items and bytes); the read loop adds each arriving items frame whole
/// (<see cref="TryAddFrame"/>: one copy and one wake-up of the reader per frame, not per item), taking the credit of
/// its items (an item beyond the credit is the peer's protocol violation, and the frame is refused); the reader gives
/// the credit of what it read back in one grant per quarter window, as HTTP/2's WINDOW_UPDATE (a sender with a quarter
/// window left goes on while the grant travels, so a small window does not stall a fast stream on every round trip).
/// So what a stream holds is at most its window in items and its window plus one item in bytes (plus the frames'
/// item prefixes), whatever the peer does, and a reader that stops reading stalls only its own stream.
/// <para>
/// A reader that waits for items is woken by the read loop after the frame is handled (<see cref="WakeReader"/>): on
/// the read loop's own thread, inside a hand-off section, where callers and handlers resume (so a duplex round trip costs
/// what a unary call does, with no thread-pool hop per frame), or on the thread pool.
/// </para>
/// </summary>
internal sealed class StreamInbox : IValueTaskSource<bool>
{
    /// <summary>An item as read: its JSON in the array of the frame it came in (valid until the next read), and its position.</summary>
    public readonly record struct Item(byte[] Array, int Offset, int Length, long Position)
    {
        public ReadOnlySpan<byte> Json => Array.AsSpan(Offset, Length);
    }

    /// <summary>What <see cref="TryAddFrame"/> did with a frame.</summary>
    public enum AddResult
    {
        Added,

        /// <summary>The peer sent without credit: a protocol violation, and nothing was kept.</summary>
        OverCredit,

        /// <summary>The frame is not a sequence of well-formed items; nothing was kept.</summary>
        Malformed,

        /// <summary>The stream already ended; the items were dropped.</summary>
        Closed,
    }

    /// <summary>An items frame's body as it arrived, in a pooled array (given back once its last item is read).</summary>
    private readonly record struct Batch(byte[] Array, int Length, bool Positions);

    private readonly Queue<Batch> _batches = new(); // under _lock
    private readonly object _lock = new();
    private bool _ended;             // no more batches will come (under _lock)
    private bool _readerWaiting;     // the reader waits on _wake (under _lock)
    private bool _wakePending;       // a frame came while the reader waited: WakeReader completes _wake (under _lock)
    private ManualResetValueTaskSourceCore<bool> _wake;
    private CancellationToken _waitToken;
    private readonly int _maxWindowItems;
    private readonly int _windowBytes;
    private int _windowItems;        // grows up to _maxWindowItems while the sender is starved of credit (see ReadAsync)
    private long _creditItems;       // what the peer may still send
    private long _creditBytes;
    private bool _senderWaited;      // a frame said its sender had waited for credit, since the window last grew
    private int _readItems;          // read since the last grant (reader only)
    private long _readBytes;
    private Batch _current;          // the batch being read, and where its next item starts (reader only)
    private int _offset;
    private FrameOutput? _output;
    private uint _callId;
    private Exception? _error;
    private int _received;

    public StreamInbox(int windowItems, int windowBytes, int maxWindowItems = 0)
    {
        _windowItems = windowItems;
        _windowBytes = windowBytes;
        _maxWindowItems = Math.Max(windowItems, maxWindowItems);
    }

    /// <summary>The window in items now: where it started, or larger after it grew.</summary>
    public int WindowItems => Volatile.Read(ref _windowItems);

    /// <summary>Items received so far (the first one commits a client's stream to its endpoint).</summary>
    public int Received => Volatile.Read(ref _received);

    /// <summary>
    /// Grants the whole window to the sender at the other end of <paramref name="output"/> (a credit frame for
    /// <paramref name="callId"/>); a client binds once per attempt, before any item arrived.
    /// </summary>
    public void Bind(FrameOutput output, uint callId)
    {
        int items;
        lock (_lock)
        {
            _output = output;
            _callId = callId;
            _creditItems = items = _windowItems;
            _creditBytes = _windowBytes;
            _readItems = 0;
            _readBytes = 0;
        }

        SendCredit(output, callId, (uint)items, (uint)_windowBytes);
    }

    private static void SendCredit(FrameOutput output, uint callId, uint items, uint bytes)
    {
        Span<byte> frame = stackalloc byte[StreamFrames.CreditLength];
        StreamFrames.WriteCredit(frame, callId, items, bytes);
        output.TryEnqueue(frame);
    }

    /// <summary>
    /// Keeps the items of an items frame that arrived (copied: the body is the receive buffer's), if every one is well
    /// formed and the peer had credit for each; otherwise keeps none. <paramref name="count"/>: the items the frame held.
    /// </summary>
    public AddResult TryAddFrame(ReadOnlySpan<byte> body, FrameFlags flags, out int count, out string? problem)
    {
        bool positions = (flags & FrameFlags.Positions) != 0;
        count = 0;
        ReadOnlySpan<byte> rest = body;
        lock (_lock)
        {
            long items = _creditItems;
            long bytes = _creditBytes;
            while (StreamFrames.TryReadItem(ref rest, positions, out _, out ReadOnlySpan<byte> json, out problem))
            {
                if (items < 1 || bytes <= 0)
                {
                    return AddResult.OverCredit;
                }

                items--;
                bytes -= json.Length;
                count++;
            }

            if (problem is not null)
            {
                return AddResult.Malformed;
            }

            _creditItems = items;
            _creditBytes = bytes;
            _senderWaited |= (flags & FrameFlags.CreditWaited) != 0;
        }

        if (count == 0)
        {
            return AddResult.Added;
        }

        byte[] array = BufferPool.Rent(body.Length);
        body.CopyTo(array);
        lock (_lock)
        {
            if (_ended)
            {
                BufferPool.Return(array);
                return AddResult.Closed;
            }

            _batches.Enqueue(new Batch(array, body.Length, positions));
            if (_readerWaiting)
            {
                _readerWaiting = false;
                _wakePending = true;
            }
        }

        Interlocked.Add(ref _received, count);
        return AddResult.Added;
    }

    /// <summary>
    /// Wakes the reader if it waited for the items <see cref="TryAddFrame"/> kept: on this thread when
    /// <paramref name="inline"/> (the read loop, inside a hand-off section: the reader's code runs here until it waits
    /// again), else on the thread pool. The read loop calls it once the frame is handled, after any other bookkeeping.
    /// </summary>
    public void WakeReader(bool inline)
    {
        lock (_lock)
        {
            if (!_wakePending)
            {
                return;
            }

            _wakePending = false;
        }

        _wake.RunContinuationsAsynchronously = !inline;
        _wake.SetResult(true);
    }

    /// <summary>True while the reader waits for items (tests).</summary>
    internal bool IsReaderWaiting
    {
        get
        {
            lock (_lock)
            {
                return _readerWaiting;
            }
        }
    }

    /// <summary>A frame came while the reader waited (read loop only: what <see cref="TryAddFrame"/> on this thread set).</summary>
    public bool WakePending => Volatile.Read(ref _wakePending);

    /// <summary>True when the stream ended and every batch was taken by the reader. Under the lock.</summary>
    private bool IsFinishedLocked => _ended && _batches.Count == 0;

    /// <summary>Wakes a waiting reader (on the thread pool) if one waits or a wake is pending. Call after the lock.</summary>
    private bool TakeWakeLocked()
    {
        bool wake = _readerWaiting || _wakePending;
        _readerWaiting = false;
        _wakePending = false;
        return wake;
    }

    private void WakeAsync(Exception? error = null)
    {
        _wake.RunContinuationsAsynchronously = true;
        if (error is null)
        {
            _wake.SetResult(true);
        }
        else
        {
            _wake.SetException(error);
        }
    }

    /// <summary>Ends the stream: the reader reads what is here, then sees the end (or <paramref name="error"/>, thrown).</summary>
    public void Complete(Exception? error)
    {
        bool wake;
        lock (_lock)
        {
            if (_error is null && error is not null && !IsFinishedLocked)
            {
                _error = error;
            }

            _ended = true;
            wake = TakeWakeLocked();
        }

        if (wake)
        {
            WakeAsync();
        }
    }

    /// <summary>
    /// The next item; false at the end of the stream; throws the error the stream ended with. The item's bytes stay
    /// valid until the next read; give its credit back with <see cref="Release"/> once it is read. One reader only.
    /// A reader that finds nothing to read after its sender said it had waited for credit (<see cref="FrameFlags.CreditWaited"/>)
    /// is faster than the window lets the sender be: the window in items doubles, up to its maximum, and what was read
    /// goes back at once, as HTTP/2 implementations grow a stream's window when the bandwidth-delay product calls for
    /// it. A slow reader never finds the inbox empty, and a slow sender never waits for credit, so neither grows it;
    /// the window in bytes, the bound of what is held, never grows.
    /// </summary>
    public ValueTask<(bool Read, Item Item)> ReadAsync(CancellationToken cancellationToken)
    {
        if (TryTakeItem(out Item item))
        {
            return new ValueTask<(bool, Item)>((true, item));
        }

        return WaitAndReadAsync(cancellationToken);
    }

    private async ValueTask<(bool Read, Item Item)> WaitAndReadAsync(CancellationToken cancellationToken)
    {
        GrowIfStarved();
        while (true)
        {
            short version;
            lock (_lock)
            {
                if (_batches.Count == 0)
                {
                    if (_ended)
                    {
                        if (_error is not null)
                        {
                            throw _error;
                        }

                        return (false, default);
                    }

                    _wake.Reset();
                    version = _wake.Version;
                    _readerWaiting = true;
                }
                else
                {
                    version = -1;
                }
            }

            if (version != -1)
            {
                CancellationTokenRegistration registration = default;
                if (cancellationToken.CanBeCanceled)
                {
                    _waitToken = cancellationToken;
                    registration = cancellationToken.UnsafeRegister(static state => ((StreamInbox)state!).OnWaitCanceled(), this);
                }

                try
                {
                    await new ValueTask<bool>(this, version).ConfigureAwait(false);
                }
                finally
                {
                    registration.Dispose();
                }
            }

            if (TryTakeItem(out Item item))
            {
                return (true, item);
            }
        }
    }

    /// <summary>The reader's token was canceled while it waited: it wakes with the cancellation (unless already woken).</summary>
    private void OnWaitCanceled()
    {
        lock (_lock)
        {
            if (!_readerWaiting)
            {
                return;
            }

            _readerWaiting = false;
        }

        WakeAsync(new OperationCanceledException(_waitToken));
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wake.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wake.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wake.OnCompleted(continuation, state, token, flags);

    /// <summary>The next item of the current batch, or of the next one that arrived (the finished batch's array goes back).</summary>
    private bool TryTakeItem(out Item item)
    {
        while (true)
        {
            if (_current.Array is not null)
            {
                ReadOnlySpan<byte> rest = _current.Array.AsSpan(_offset, _current.Length - _offset);
                if (StreamFrames.TryReadItem(ref rest, _current.Positions, out long position, out ReadOnlySpan<byte> json, out _))
                {
                    int start = _current.Length - rest.Length - json.Length;
                    item = new Item(_current.Array, start, json.Length, position);
                    _offset = _current.Length - rest.Length;
                    return true;
                }

                BufferPool.Return(_current.Array);
                _current = default;
            }

            lock (_lock)
            {
                if (!_batches.TryDequeue(out _current))
                {
                    item = default;
                    return false;
                }
            }

            _offset = 0;
        }
    }

    private void GrowIfStarved()
    {
        uint items;
        uint bytes;
        FrameOutput? output;
        uint callId;
        lock (_lock)
        {
            output = _output;
            if (output is null || !_senderWaited || _windowItems >= _maxWindowItems || IsFinishedLocked)
            {
                return;
            }

            _senderWaited = false;
            int grow = Math.Min(_windowItems, _maxWindowItems - _windowItems);
            Volatile.Write(ref _windowItems, _windowItems + grow);
            items = (uint)(grow + _readItems);
            bytes = (uint)Math.Min(_readBytes, uint.MaxValue);
            _readItems = 0;
            _readBytes = 0;
            _creditItems += items;
            _creditBytes += bytes;
            callId = _callId;
        }

        SendCredit(output, callId, items, bytes);
    }

    /// <summary>An item was read: its credit goes back to the sender once a quarter of the window is read.</summary>
    public void Release(Item item)
    {
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
            if (IsFinishedLocked)
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

    /// <summary>
    /// Gives back the arrays of items nobody will read (the stream ended, or its reader stopped early). Any thread;
    /// only the reader itself passes <paramref name="reader"/> (the batch it is reading is its own to give back).
    /// </summary>
    public void Discard(bool reader = false)
    {
        bool wake;
        lock (_lock)
        {
            _ended = true;
            while (_batches.TryDequeue(out Batch batch))
            {
                BufferPool.Return(batch.Array);
            }

            wake = TakeWakeLocked();
        }

        if (wake)
        {
            WakeAsync();
        }

        if (reader && _current.Array is not null)
        {
            BufferPool.Return(_current.Array);
            _current = default;
        }
    }
}
