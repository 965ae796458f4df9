using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO.Pipelines;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Transport;

/// <summary>
/// The sending half of a connection. Any thread may enqueue a whole frame; frames are copied into a pending buffer
/// under a short lock and written by one writer at a time, so frames from concurrent callers are coalesced into few
/// flushes. The first caller to find the writer idle writes inline (lowest latency for a lone caller); what arrives
/// meanwhile is written by a thread-pool loop, never by a caller that is waiting for its own response.
/// <para>
/// The pending buffer holds at most <see cref="MaxPendingBytes"/> (or one frame, if larger): frames that arrive while
/// it is full wait in a backlog, each in its own array, in order, and move into the buffer as the socket drains it. So
/// the buffer never grows to hold a whole burst (and stays in the pool's size range), and what a burst queues is given
/// back as it is sent.
/// </para>
/// </summary>
internal sealed class FrameOutput
{
    /// <summary>How many bytes are coalesced into one write before further frames wait in the backlog.</summary>
    public const int MaxPendingBytes = 1024 * 1024;

    private readonly object _lock = new();
    private readonly Queue<(byte[] Array, int Length)> _backlog = new();
    private readonly PipeWriter _writer;
    private PooledBuffer _pending = new();
    private PooledBuffer _sending = new();
    private bool _writing;
    private int _corked;
    private bool _closed;
    private bool _completing;
    private TaskCompletionSource? _drained;
    private readonly Action<Exception> _onFailure;
    private long _queuedBytes;        // accepted and not yet flushed to the transport: pending, backlog and the batch being written
    private long _flushes;            // flushes completed, for a heartbeat to tell a stalled output from a busy one
    private long _drainThreshold;     // the queued bytes at or below which _drainWaiter completes
    private TaskCompletionSource? _drainWaiter;

    public FrameOutput(PipeWriter writer, Action<Exception> onFailure)
    {
        _writer = writer;
        _onFailure = onFailure;
    }

    /// <summary>
    /// Bytes accepted and not yet handed to the transport: what a peer that does not read makes this side hold. A
    /// server stops reading requests while it is over its bound (RpcServerOptions.Limits.MaxResponseBufferSize).
    /// </summary>
    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>How many flushes have completed: a heartbeat that sees bytes queued and this unchanged knows the peer is not reading.</summary>
    public long FlushCount => Volatile.Read(ref _flushes);

    /// <summary>
    /// Completes when at most <paramref name="threshold"/> bytes are queued, or the output is closed. Waiters (the
    /// connection's read loop, the senders of streams) share one task, released at the lowest threshold asked for.
    /// </summary>
    public Task WaitForDrainAsync(long threshold)
    {
        lock (_lock)
        {
            if (_closed || Volatile.Read(ref _queuedBytes) <= threshold)
            {
                return Task.CompletedTask;
            }

            if (_drainWaiter is null)
            {
                _drainThreshold = threshold;
                _drainWaiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            else if (threshold < _drainThreshold)
            {
                _drainThreshold = threshold;
            }

            return _drainWaiter.Task;
        }
    }

    /// <summary>After a flush: wakes the drain waiter when the queue has come down to its threshold.</summary>
    private void OnFlushed(int length)
    {
        long queued = Interlocked.Add(ref _queuedBytes, -length);
        Interlocked.Increment(ref _flushes);
        if (Volatile.Read(ref _drainWaiter) is not null && queued <= Volatile.Read(ref _drainThreshold))
        {
            ReleaseDrainWaiter();
        }
    }

    /// <summary>Completes the drain waiter, if any (the queue came down, or the output closed).</summary>
    private void ReleaseDrainWaiter()
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            waiter = _drainWaiter;
            _drainWaiter = null;
        }

        waiter?.TrySetResult();
    }

    /// <summary>True when no more frames are accepted.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed || _completing;
            }
        }
    }

    /// <summary>Queues one complete frame. Returns false when the output is closed (the frame was not sent).</summary>
    public bool TryEnqueue(ReadOnlySpan<byte> frame) => TryEnqueue(frame, null, (object?)null) == EnqueueResult.Queued;

    /// <summary>
    /// Queues one complete frame if <paramref name="condition"/>, run under the queue's lock, allows it: a caller's
    /// state change and its frame then happen together (a request is marked sent only if queued; a cancel follows its
    /// request or neither goes out). The condition must be short and must not queue frames itself. The write loop is
    /// started after the lock is released, never under it.
    /// </summary>
    public EnqueueResult TryEnqueue<TState>(ReadOnlySpan<byte> frame, Func<TState, bool>? condition, TState state)
    {
        bool start;
        PooledBuffer? first = null;
        lock (_lock)
        {
            if (_closed || _completing)
            {
                return EnqueueResult.Closed;
            }

            if (condition is not null && !condition(state))
            {
                return EnqueueResult.NotWanted;
            }

            Interlocked.Add(ref _queuedBytes, frame.Length);
            if (_backlog.Count > 0 || (_pending.WrittenCount > 0 && _pending.WrittenCount + frame.Length > MaxPendingBytes))
            {
                byte[] copy = BufferPool.Rent(frame.Length);
                frame.CopyTo(copy);
                _backlog.Enqueue((copy, frame.Length));
            }
            else
            {
                _pending.Write(frame);
            }

            start = !_writing && Volatile.Read(ref _corked) == 0;
            if (start)
            {
                _writing = true;
                first = TakePendingLocked();
            }
        }

        if (start)
        {
            _ = WriteLoopAsync(inline: true, first);
        }

        return EnqueueResult.Queued;
    }

    /// <summary>
    /// Holds frames back until <see cref="Uncork"/>, so a batch of responses leaves in one flush. No lock: a frame queued
    /// just before the count rises may still be written at once, which is as if the cork came a moment later. Every
    /// decrement and every test of the count happens under the lock, so an uncork and a writer never miss each other.
    /// </summary>
    public void Cork() => Interlocked.Increment(ref _corked);

    public void Uncork()
    {
        bool start;
        PooledBuffer? first = null;
        lock (_lock)
        {
            start = Interlocked.Decrement(ref _corked) == 0 && !_writing && !_closed && (_pending.WrittenCount > 0 || _completing);
            if (start)
            {
                _writing = true;
                first = _pending.WrittenCount > 0 ? TakePendingLocked() : null;
            }
        }

        if (start)
        {
            _ = WriteLoopAsync(inline: true, first);
        }
    }

    /// <summary>
    /// Swaps the pending buffer out for writing (refilling the fresh one from the backlog); under the lock, by the
    /// thread that just became the writer, so starting a write costs no second trip through the lock.
    /// </summary>
    private PooledBuffer TakePendingLocked()
    {
        PooledBuffer batch = _pending;
        _pending = _sending;
        _sending = batch;
        RefillFromBacklog();
        return batch;
    }

    /// <summary>
    /// Stops accepting frames, writes what is pending (after an uncork, if corked), then completes the pipe.
    /// </summary>
    public Task CompleteAsync()
    {
        bool completeNow = false;
        bool start = false;
        Task result;
        lock (_lock)
        {
            if (_closed)
            {
                return Task.CompletedTask;
            }

            _completing = true;
            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            result = _drained.Task;
            if (_writing || Volatile.Read(ref _corked) > 0)
            {
                // The running write loop, or the uncork, finishes the pipe once everything pending is written.
            }
            else if (_pending.WrittenCount > 0)
            {
                _writing = true;
                start = true;
            }
            else
            {
                completeNow = true;
            }
        }

        if (start)
        {
            _ = WriteLoopAsync(inline: false, null);
        }
        else if (completeNow)
        {
            Close(null);
        }

        return result;
    }

    /// <summary>Closes at once; what is pending is dropped.</summary>
    public void Close(Exception? error)
    {
        TaskCompletionSource? drained;
        bool completeWriter;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            drained = _drained;
            completeWriter = !_writing;
        }

        if (completeWriter)
        {
            CompleteWriter(error);
        }

        drained?.TrySetResult();
        ReleaseDrainWaiter();
    }

    private void CompleteWriter(Exception? error)
    {
        try
        {
            _writer.Complete(error);
        }
        catch (Exception)
        {
            // The transport is already gone; nothing left to tell it.
        }

        lock (_lock)
        {
            _pending.Dispose();
            _sending.Dispose();
            while (_backlog.TryDequeue(out (byte[] Array, int Length) frame))
            {
                BufferPool.Return(frame.Array);
            }
        }
    }

    /// <summary>Moves backlogged frames into the (just emptied) pending buffer, up to the limit. Under the lock.</summary>
    private void RefillFromBacklog()
    {
        while (_backlog.TryPeek(out (byte[] Array, int Length) frame) &&
            (_pending.WrittenCount == 0 || _pending.WrittenCount + frame.Length <= MaxPendingBytes))
        {
            _backlog.Dequeue();
            _pending.Write(frame.Array.AsSpan(0, frame.Length));
            BufferPool.Return(frame.Array);
        }
    }

    /// <summary>
    /// Writes until nothing is pending. <paramref name="first"/>: the batch its starter already took under the lock
    /// (null: take it here).
    /// </summary>
    private async Task WriteLoopAsync(bool inline, PooledBuffer? first)
    {
        while (true)
        {
            PooledBuffer batch;
            bool finish = false;
            if (first is not null)
            {
                batch = first;
                first = null;
            }
            else
            {
                lock (_lock)
                {
                    if (_closed)
                    {
                        // Closed while we were writing: completing the pipe is ours to do.
                        _writing = false;
                        finish = true;
                    }
                    else if (_pending.WrittenCount == 0 || Volatile.Read(ref _corked) > 0)
                    {
                        _writing = false;
                        if (!_completing || _pending.WrittenCount > 0)
                        {
                            return;
                        }

                        _closed = true;
                        finish = true;
                    }

                    batch = finish ? _pending : TakePendingLocked();
                }
            }

            if (finish)
            {
                CompleteWriter(null);
                _drained?.TrySetResult();
                ReleaseDrainWaiter();
                return;
            }

            try
            {
                int length = batch.WrittenCount;
                _writer.Write(batch.WrittenSpan);
                batch.Clear();
                FlushResult flush = await _writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    throw new System.IO.IOException("The connection's output was closed by the transport.");
                }

                OnFlushed(length);
            }
            catch (Exception ex)
            {
                lock (_lock)
                {
                    _writing = false;
                    _closed = true;
                }

                CompleteWriter(ex);
                _drained?.TrySetResult();
                ReleaseDrainWaiter();
                _onFailure(ex);
                return;
            }

            if (inline)
            {
                // A caller wrote its own frame (and whatever had queued with it). Anything that arrived meanwhile
                // goes to the thread pool: a caller must not keep writing other callers' frames.
                inline = false;
                bool more;
                lock (_lock)
                {
                    more = _pending.WrittenCount > 0 && Volatile.Read(ref _corked) == 0 && !_closed;
                    if (!more && !_completing)
                    {
                        _writing = false;
                        return;
                    }
                }

                if (more)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.WriteLoopAsync(inline: false, null), this, preferLocal: false);
                    return;
                }
            }
        }
    }
}

/// <summary>What <see cref="FrameOutput.TryEnqueue{TState}"/> did with a frame.</summary>
internal enum EnqueueResult
{
    /// <summary>The frame is queued.</summary>
    Queued,

    /// <summary>The output is closed; the frame was not queued.</summary>
    Closed,

    /// <summary>The condition declined; the frame was not queued.</summary>
    NotWanted,
}
