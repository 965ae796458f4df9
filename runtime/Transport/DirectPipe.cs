using System;
using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace RpcGen.Transport;

/// <summary>
/// A byte pipe for one writer and one reader at a time whose flush hands what was written to a waiting reader on the
/// writer's thread, as a <see cref="Pipe"/> with inline schedulers does, but with one interlocked exchange each way
/// where <see cref="Pipe"/> takes its lock four or five times per message (flush, read, the read's result, advance,
/// the next wait). RpcGen uses it where that hand-off is per message: the in-process transport (a call is two messages;
/// 12–18 % of an in-process call, docs/benchmarks-log.md). A receive thread's hand-off is per received batch, where the
/// same change measured nothing, so it keeps <see cref="Pipe"/>.
/// <para>
/// Written bytes go into a chain of pooled segments; a flush publishes them (the segment and its length, each a volatile
/// write), the reader builds its <see cref="ReadOnlySequence{T}"/> from the published chain and gives consumed segments
/// back (one is kept for the writer's next). A flush waits while <c>pauseThreshold</c> or more bytes are unconsumed
/// and resumes below <c>resumeThreshold</c>, as <see cref="PipeOptions"/>' thresholds do: what a reader that stopped
/// reading costs is bounded by the pause threshold and one write. Reader and writer semantics are <see cref="Pipe"/>'s:
/// a read returns at once while bytes beyond the last examined position, a cancel or the writer's completion are there;
/// the writer's completion with an error is thrown by the next read; a flush after the reader completed reports it.
/// </para>
/// </summary>
internal sealed class DirectPipe
{
    private readonly long _pauseThreshold;   // unconsumed bytes at which a flush waits; 0: never
    private readonly long _resumeThreshold;
    private readonly int _segmentSize;
    private readonly int _segmentArrayLength; // what the pool gives for _segmentSize: segments of it are kept for reuse
    private readonly DirectReader _reader;
    private readonly DirectWriter _writer;

    // The writer's own.
    private Segment _tail;                   // the segment being written
    private Segment _firstUnpublished;       // the first segment with bytes written and not yet published

    // Shared: each written by one side, read by the other.
    private Segment _publishedTail;          // the last segment with published bytes (its Published says how many)
    private long _consumed;                  // the reader's consumed position, absolute
    private int _readerWaiting;              // 1: a read is pending; whoever exchanges it to 0 completes it
    private int _writerWaiting;              // 1: a flush is pending (back-pressure); likewise
    private int _readCanceled;
    private int _flushCanceled;
    private int _writerCompleting;
    private int _writerCompleted;            // set after _writerError
    private Exception? _writerError;
    private volatile bool _readerCompleted;
    private Segment? _spare;                 // a consumed segment kept for the writer's next

    // The reader's own.
    private Segment _head;
    private int _headIndex;
    private long _examined;

    public DirectPipe(long pauseThreshold, long resumeThreshold, int segmentSize)
    {
        if (pauseThreshold < 0 || resumeThreshold < 0 || (pauseThreshold > 0 && resumeThreshold > pauseThreshold))
        {
            throw new ArgumentOutOfRangeException(nameof(resumeThreshold));
        }

        _pauseThreshold = pauseThreshold;
        _resumeThreshold = resumeThreshold;
        _segmentSize = segmentSize;
        var first = new Segment(BufferPool.Rent(segmentSize));
        _tail = _firstUnpublished = _publishedTail = _head = first;
        _segmentArrayLength = first.Array.Length;
        _reader = new DirectReader(this);
        _writer = new DirectWriter(this);
    }

    public PipeReader Reader => _reader;

    public PipeWriter Writer => _writer;

    private bool WriterCompleted => Volatile.Read(ref _writerCompleted) != 0;

    // ---- writer side ----

    private Span<byte> GetWritable(int sizeHint)
    {
        if (WriterCompleted)
        {
            throw new InvalidOperationException("Writing is not allowed after the writer was completed.");
        }

        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        if (_tail.Array.Length - _tail.Written < sizeHint)
        {
            AppendSegment(sizeHint);
        }

        return _tail.Array.AsSpan(_tail.Written);
    }

    private Memory<byte> GetWritableMemory(int sizeHint)
    {
        _ = GetWritable(sizeHint);
        return _tail.Array.AsMemory(_tail.Written);
    }

    private void AppendSegment(int sizeHint)
    {
        int size = Math.Max(_segmentSize, sizeHint);
        Segment? next = Volatile.Read(ref _spare) is null ? null : Interlocked.Exchange(ref _spare, null);
        if (next is null || next.Array.Length < size)
        {
            if (next is not null)
            {
                BufferPool.Return(next.Array);
            }

            next = new Segment(BufferPool.Rent(size));
        }

        next.Reset(_tail.RunningIndex + _tail.Written);
        _tail.Seal(next); // its length is final; the reader sees it once a flush publishes the new tail
        _tail = next;
    }

    private void Advance(int count)
    {
        if ((uint)count > (uint)(_tail.Array.Length - _tail.Written))
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _tail.Written += count;
    }

    private ValueTask<FlushResult> Flush(DirectWriter writer, CancellationToken cancellationToken)
    {
        if (_readerCompleted)
        {
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }

        // Publish: every segment's length, then the tail (the reader reads the tail first, then lengths).
        for (Segment segment = _firstUnpublished; segment != _tail; segment = (Segment)segment.Next!)
        {
            Volatile.Write(ref segment.Published, segment.Written);
        }

        Volatile.Write(ref _tail.Published, _tail.Written);
        _firstUnpublished = _tail;
        Volatile.Write(ref _publishedTail, _tail);

        // Decide whether this flush waits before the reader runs: it may run inline, and hand its loop to another thread
        // meanwhile; after the wake below this flush only reads the flags its result reports.
        bool wait = false;
        short token = 0;
        if (_pauseThreshold > 0 && _tail.RunningIndex + _tail.Written - Volatile.Read(ref _consumed) >= _pauseThreshold)
        {
            token = writer.Waiter.Prepare(cancellationToken);
            Interlocked.Exchange(ref _writerWaiting, 1);
            wait = true;
            if ((Unconsumed() < _resumeThreshold || _readerCompleted) && Interlocked.CompareExchange(ref _writerWaiting, 0, 1) == 1)
            {
                writer.Waiter.Abandon(); // the reader caught up meanwhile
                wait = false;
            }
        }

        WakeReader();
        if (wait)
        {
            return new ValueTask<FlushResult>(writer, token);
        }

        bool canceled = Volatile.Read(ref _flushCanceled) != 0 && Interlocked.Exchange(ref _flushCanceled, 0) != 0;
        return new ValueTask<FlushResult>(new FlushResult(canceled, _readerCompleted));
    }

    private long Unconsumed()
    {
        Segment tail = Volatile.Read(ref _publishedTail);
        return tail.RunningIndex + Volatile.Read(ref tail.Published) - Volatile.Read(ref _consumed);
    }

    private void WakeReader()
    {
        if (Interlocked.Exchange(ref _readerWaiting, 0) == 1)
        {
            _reader.Waiter.Wake();
        }
    }

    private void WakeWriter()
    {
        if (Interlocked.Exchange(ref _writerWaiting, 0) == 1)
        {
            _writer.Waiter.Wake();
        }
    }

    private void CompleteWriter(Exception? error)
    {
        if (Interlocked.Exchange(ref _writerCompleting, 1) != 0)
        {
            return; // completed already: the first completion's error stands
        }

        _writerError = error;
        Volatile.Write(ref _writerCompleted, 1);
        WakeReader();
    }

    private void CancelPendingFlush()
    {
        Volatile.Write(ref _flushCanceled, 1);
        WakeWriter();
    }

    // ---- reader side ----

    /// <summary>A read's result when there is one to give now (bytes not yet examined, a cancel, the writer's end).</summary>
    private bool TryGetReadResult(out ReadResult result)
    {
        bool completed = WriterCompleted; // before the tail: the writer publishes before it completes
        if (completed && _writerError is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }

        bool canceled = Volatile.Read(ref _readCanceled) != 0 && Interlocked.Exchange(ref _readCanceled, 0) != 0;
        Segment tail = Volatile.Read(ref _publishedTail);
        int end = Volatile.Read(ref tail.Published);
        if (!canceled && !completed && tail.RunningIndex + end <= _examined)
        {
            result = default;
            return false;
        }

        result = new ReadResult(Buffer(tail, end), canceled, completed);
        return true;
    }

    private ReadOnlySequence<byte> Buffer(Segment tail, int end)
    {
        // Segments read to their end are given back here, so a sequence never starts with an empty one.
        while (_head != tail && _headIndex >= Volatile.Read(ref _head.Published))
        {
            Segment done = _head;
            _head = (Segment)done.Next!;
            _headIndex = 0;
            Recycle(done);
        }

        return new ReadOnlySequence<byte>(_head, _headIndex, tail, end);
    }

    private ValueTask<ReadResult> Read(DirectReader reader, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ReadResult>(cancellationToken);
        }

        if (TryGetReadResult(out ReadResult result))
        {
            return new ValueTask<ReadResult>(result);
        }

        short token = reader.Waiter.Prepare(cancellationToken);
        Interlocked.Exchange(ref _readerWaiting, 1);
        if (HasNews() && Interlocked.CompareExchange(ref _readerWaiting, 0, 1) == 1)
        {
            reader.Waiter.Abandon();
            return TryGetReadResult(out result) ? new ValueTask<ReadResult>(result) : Read(reader, cancellationToken);
        }

        return new ValueTask<ReadResult>(reader, token);
    }

    private bool HasNews()
    {
        if (WriterCompleted || Volatile.Read(ref _readCanceled) != 0)
        {
            return true;
        }

        Segment tail = Volatile.Read(ref _publishedTail);
        return tail.RunningIndex + Volatile.Read(ref tail.Published) > _examined;
    }

    /// <summary>The result a woken read returns: what there is now (a wake always has news; an empty result otherwise).</summary>
    private ReadResult WokenResult()
    {
        if (TryGetReadResult(out ReadResult result))
        {
            return result;
        }

        Segment tail = Volatile.Read(ref _publishedTail);
        return new ReadResult(Buffer(tail, Volatile.Read(ref tail.Published)), isCanceled: false, isCompleted: false);
    }

    private void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (consumed.GetObject() is not Segment segment || examined.GetObject() is not Segment examinedSegment)
        {
            if (consumed.GetObject() is null && examined.GetObject() is null)
            {
                return; // the default position of an empty buffer
            }

            throw new InvalidOperationException("The position is not from this pipe's buffer.");
        }

        while (_head != segment)
        {
            Segment done = _head;
            _head = (Segment?)done.Next ?? throw new InvalidOperationException("The position is not from this pipe's current buffer.");
            Recycle(done);
        }

        _headIndex = consumed.GetInteger();
        long consumedAt = segment.RunningIndex + _headIndex;
        _examined = Math.Max(consumedAt, examinedSegment.RunningIndex + examined.GetInteger());
        Volatile.Write(ref _consumed, consumedAt);
        if (_pauseThreshold > 0 && Unconsumed() < _resumeThreshold)
        {
            WakeWriter();
        }
    }

    private void Recycle(Segment segment)
    {
        if (segment.Array.Length == _segmentArrayLength)
        {
            Segment? displaced = Interlocked.Exchange(ref _spare, segment);
            if (displaced is not null)
            {
                BufferPool.Return(displaced.Array);
            }
        }
        else
        {
            BufferPool.Return(segment.Array);
        }
    }

    private void CancelPendingRead()
    {
        Volatile.Write(ref _readCanceled, 1);
        WakeReader();
    }

    private void CompleteReader()
    {
        _readerCompleted = true;
        WakeWriter();
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public readonly byte[] Array;
        public int Written;    // the writer's own
        public int Published;  // how many bytes the reader may read (volatile)

        public Segment(byte[] array)
        {
            Array = array;
            Memory = array;
        }

        public void Reset(long runningIndex)
        {
            RunningIndex = runningIndex;
            Memory = Array;
            Next = null;
            Written = 0;
            Published = 0;
        }

        /// <summary>The writer moves on to <paramref name="next"/>: this segment's memory ends where its bytes do.</summary>
        public void Seal(Segment next)
        {
            Memory = Array.AsMemory(0, Written);
            Next = next;
        }
    }

    /// <summary>A pending read or flush: a reusable source, completed by the other side (inline) or by a token.</summary>
    private sealed class Waiter(Func<bool> tryClaim)
    {
        private ManualResetValueTaskSourceCore<bool> _core; // continuations run inline: the hand-off is the point
        private CancellationTokenRegistration _registration;
        private CancellationToken _token;
        private bool _tokenFired;

        public short Version => _core.Version;

        public short Prepare(CancellationToken cancellationToken)
        {
            _core.Reset();
            _tokenFired = false;
            _token = cancellationToken;
            if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.UnsafeRegister(static s => ((Waiter)s!).OnTokenCanceled(), this);
            }

            return _core.Version;
        }

        /// <summary>The wait was not needed after all (the news came while it was being set up).</summary>
        public void Abandon()
        {
            _registration.Dispose();
            _registration = default;
        }

        /// <summary>Completes the wait; called by whoever exchanged the waiting flag to 0.</summary>
        public void Wake() => _core.SetResult(true);

        private void OnTokenCanceled()
        {
            if (tryClaim())
            {
                _tokenFired = true;
                _core.SetResult(true);
            }
        }

        /// <summary>Ends the completed wait: throws when its token ended it.</summary>
        public void End(short token)
        {
            _core.GetResult(token);
            Abandon();
            if (_tokenFired)
            {
                throw new OperationCanceledException(_token);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    private sealed class DirectReader(DirectPipe pipe) : PipeReader, IValueTaskSource<ReadResult>
    {
        public Waiter Waiter { get; } = new(() => Interlocked.Exchange(ref pipe._readerWaiting, 0) == 1);

        public override void AdvanceTo(SequencePosition consumed) => pipe.AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => pipe.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => pipe.CancelPendingRead();

        public override void Complete(Exception? exception = null) => pipe.CompleteReader();

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => pipe.Read(this, cancellationToken);

        public override bool TryRead(out ReadResult result) => pipe.TryGetReadResult(out result);

        public ReadResult GetResult(short token)
        {
            Waiter.End(token);
            return pipe.WokenResult();
        }

        public ValueTaskSourceStatus GetStatus(short token) => Waiter.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Waiter.OnCompleted(continuation, state, token, flags);
    }

    private sealed class DirectWriter(DirectPipe pipe) : PipeWriter, IValueTaskSource<FlushResult>
    {
        public Waiter Waiter { get; } = new(() => Interlocked.Exchange(ref pipe._writerWaiting, 0) == 1);

        public override void Advance(int bytes) => pipe.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => pipe.GetWritableMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => pipe.GetWritable(sizeHint);

        public override void CancelPendingFlush() => pipe.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => pipe.CompleteWriter(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => pipe.Flush(this, cancellationToken);

        public FlushResult GetResult(short token)
        {
            Waiter.End(token);
            return new FlushResult(Interlocked.Exchange(ref pipe._flushCanceled, 0) != 0, pipe._readerCompleted);
        }

        public ValueTaskSourceStatus GetStatus(short token) => Waiter.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Waiter.OnCompleted(continuation, state, token, flags);
    }
}
