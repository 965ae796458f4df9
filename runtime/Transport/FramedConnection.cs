using System;
using System.Buffers;
using System.IO.Pipelines;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>
/// What client and server connections share: the frame reader loop (size-checked before anything is buffered) and the
/// coalescing frame output. A transport only supplies a duplex pipe; this class knows nothing of sockets.
/// </summary>
internal abstract class FramedConnection
{
    private readonly PipeReader _input;
    private readonly int _maxFrameSize;
    private long _skipRemaining;
    private int _closed;
    private readonly TimeProvider _time;
    private long _lastRead;
    private readonly long _maxQueuedOutput;       // 0: reading does not wait for the output (clients)
    private ReadOnlySequence<byte> _rest;         // the frames after the one being handled (read loop only, or after a hand-off)
    private bool _restCompleted;
    private int _section;                         // the open hand-off section's token (odd), or 0
    private int _sectionSequence;                 // read loop owner only
    private int _sectionTick;
    private bool _sectionOnPump;                  // the open section runs on the receive thread (ReceiveThread)
    private readonly ReceiveThread? _receiver;

    protected FramedConnection(IDuplexPipe pipe, int maxFrameSize, string remote, TimeProvider time, long maxQueuedOutput = 0)
    {
        _maxQueuedOutput = maxQueuedOutput;
        _time = time;
        _lastRead = time.GetTimestamp();
        _input = pipe.Input;
        _receiver = (pipe as TransportConnection)?.Receiver;
        _maxFrameSize = maxFrameSize;
        Remote = remote;
        Output = new FrameOutput(pipe.Output, OnOutputFailed);
    }

    /// <summary>The peer, for messages and logs.</summary>
    public string Remote { get; }

    public FrameOutput Output { get; }

    protected int MaxFrameSize => _maxFrameSize;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>True when a thread of the connection's own receives its bytes (<see cref="ReceiveThread"/>).</summary>
    internal bool HasReceiveThread => _receiver is not null;

    /// <summary>When the read being handled (or the last one) completed, on the connection's clock: the arrival time of its frames.</summary>
    protected long LastReadTimestamp => Volatile.Read(ref _lastRead);

    /// <summary>How long since bytes last arrived from the peer (for keepalive), on the connection's clock.</summary>
    public TimeSpan IdleTime => _time.GetElapsedTime(Volatile.Read(ref _lastRead));

    /// <summary>Answers a ping (either side may send one).</summary>
    protected bool TrySendPong(ReadOnlySpan<byte> pingBody)
    {
        Span<byte> frame = stackalloc byte[FrameEncoder.PingLength];
        FrameEncoder.WritePong(frame, pingBody);
        return Output.TryEnqueue(frame);
    }

    /// <summary>Reads frames until the peer closes or the connection fails; then calls <see cref="OnClosed"/> once.</summary>
    protected Task ReadLoopAsync() => RunReadLoopAsync(default, resume: false, resumeCompleted: false);

    /// <summary>
    /// The read loop. <paramref name="resume"/>: this thread takes over a loop whose previous thread is held by a handler
    /// (<see cref="TryHandOff"/>): it goes on with <paramref name="resumeBuffer"/>, the frames after that handler's, and
    /// inherits its cork.
    /// </summary>
    private async Task RunReadLoopAsync(ReadOnlySequence<byte> resumeBuffer, bool resume, bool resumeCompleted)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadOnlySequence<byte> buffer;
                bool completed;
                if (resume)
                {
                    resume = false;
                    buffer = resumeBuffer;
                    completed = resumeCompleted;
                }
                else
                {
                    ReadResult result = await _input.ReadAsync().ConfigureAwait(false);
                    Volatile.Write(ref _lastRead, _time.GetTimestamp());
                    buffer = result.Buffer;
                    completed = result.IsCompleted || result.IsCanceled;
                    Output.Cork();
                }

                while (true)
                {
                    ReadOutcome outcome;
                    try
                    {
                        outcome = ProcessFrames(ref buffer, completed);
                    }
                    catch
                    {
                        Output.Uncork();
                        throw;
                    }

                    if (outcome == ReadOutcome.HandedOff)
                    {
                        _receiver?.LeaveIfHandedOff(); // a receive thread stops being the pump: a new one took over
                        return; // another thread reads now, and uncorks what this one corked
                    }

                    Output.Uncork();
                    if (outcome != ReadOutcome.OutputFull)
                    {
                        break;
                    }

                    // Back-pressure: the peer is not reading what it asked for. Read no further request until the
                    // output is down to half its bound; a peer that never reads is closed by the drain timeout.
                    OnReadProcessed(midFrame: false);
                    await Output.WaitForDrainAsync(_maxQueuedOutput / 2).ConfigureAwait(false);
                    if (IsClosed)
                    {
                        break;
                    }

                    Output.Cork();
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                OnReadProcessed(midFrame: !buffer.IsEmpty || _skipRemaining > 0);
                if (completed || IsClosed)
                {
                    if (!IsClosed && (!buffer.IsEmpty || _skipRemaining > 0))
                    {
                        error = new System.IO.IOException($"The connection to {Remote} closed in the middle of a frame.");
                    }

                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }

        try
        {
            await _input.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Already torn down by the transport.
        }

        Close(error);
    }

    private enum ReadOutcome
    {
        /// <summary>A frame was handled; the loop goes on with the next.</summary>
        Processed,

        /// <summary>Every complete frame of the buffer was handled: the rest needs more bytes.</summary>
        NeedMoreData,

        /// <summary>The output is over its bound: frames are left in the buffer until it drains.</summary>
        OutputFull,

        /// <summary>A handler held this thread past the budget and another thread took the loop over.</summary>
        HandedOff,
    }

    private ReadOutcome ProcessFrames(ref ReadOnlySequence<byte> buffer, bool completed)
    {
        while (true)
        {
            if (_maxQueuedOutput > 0 && Output.QueuedBytes > _maxQueuedOutput)
            {
                return ReadOutcome.OutputFull;
            }

            ReadOutcome outcome = TryProcessFrame(ref buffer, completed);
            if (outcome != ReadOutcome.Processed)
            {
                return outcome;
            }
        }
    }

    private ReadOutcome TryProcessFrame(ref ReadOnlySequence<byte> buffer, bool completed)
    {
        if (_skipRemaining > 0)
        {
            long skip = Math.Min(_skipRemaining, buffer.Length);
            buffer = buffer.Slice(skip);
            _skipRemaining -= skip;
            if (_skipRemaining > 0)
            {
                return ReadOutcome.NeedMoreData;
            }
        }

        ReadOnlySequence<byte> afterHeader = buffer;
        if (!FrameHeader.TryRead(ref afterHeader, out FrameHeader header, out uint rawLength))
        {
            return ReadOutcome.NeedMoreData;
        }

        if (rawLength > (uint)_maxFrameSize)
        {
            // Refuse before buffering a byte of the body; skip it as it streams past.
            OnOversizeFrame(header, rawLength);
            buffer = afterHeader;
            _skipRemaining = rawLength;
            return ReadOutcome.Processed;
        }

        if (afterHeader.Length < header.Length)
        {
            return ReadOutcome.NeedMoreData;
        }

        // What follows this frame, for a thread that takes the loop over while a handler of this frame holds this one.
        _rest = afterHeader.Slice(header.Length);
        _restCompleted = completed;
        ReadOnlySequence<byte> body = afterHeader.Slice(0, header.Length);
        bool owner;
        if (body.IsSingleSegment)
        {
            owner = OnFrame(header, body.FirstSpan);
        }
        else
        {
            byte[] rented = BufferPool.Rent(header.Length);
            try
            {
                body.CopyTo(rented);
                owner = OnFrame(header, rented.AsSpan(0, header.Length));
            }
            finally
            {
                BufferPool.Return(rented);
            }
        }

        if (!owner)
        {
            return ReadOutcome.HandedOff; // the buffer belongs to the thread that took over: not a byte more of it here
        }

        buffer = _rest;
        return ReadOutcome.Processed;
    }

    /// <summary>
    /// Marks the start of code that may hold the read loop's thread for long (a handler run inline, once its arguments
    /// are read): from here until <see cref="ExitHandOffSection"/>, <see cref="TryHandOff"/> may give the loop to
    /// another thread. Called on the read loop's thread, inside <see cref="OnFrame"/>; returns the section's token.
    /// </summary>
    protected int EnterHandOffSection(int tick)
    {
        _sectionTick = tick;
        _sectionOnPump = _receiver is not null && _receiver.IsPumpThread;
        _sectionSequence += 2;
        int token = _sectionSequence | 1; // odd: open; every section's token differs from the one before
        Volatile.Write(ref _section, token);
        return token;
    }

    /// <summary>
    /// Opens a hand-off section where this side resumes user code from its read loop (a client's callers, a server's
    /// handlers), at its monitor's current tick: <see cref="EnterHandOffSection"/> with the right clock.
    /// </summary>
    protected abstract int BeginResumeSection();

    /// <summary>
    /// Wakes a stream's reader that waited for the items of the frame just handled, where this side resumes user code:
    /// on this thread inside a hand-off section when <paramref name="inline"/>, else on the thread pool. False: the reader
    /// held the loop past the budget and another thread reads now (return false from <see cref="OnFrame"/>).
    /// </summary>
    protected bool WakeStreamReader(StreamInbox inbox, bool inline)
    {
        if (!inbox.WakePending)
        {
            return true;
        }

        if (!inline)
        {
            inbox.WakeReader(inline: false);
            return true;
        }

        int token = BeginResumeSection();
        inbox.WakeReader(inline: true);
        return ExitHandOffSection(token);
    }

    /// <summary>
    /// Ends the section <see cref="EnterHandOffSection"/> began. False: the loop was handed off meanwhile, and this
    /// thread must return from <see cref="OnFrame"/> with false without touching the connection's input.
    /// </summary>
    protected bool ExitHandOffSection(int token) => Interlocked.CompareExchange(ref _section, 0, token) == token;

    /// <summary>The tick at which the open section began (meaningful while <see cref="InHandOffSection"/>).</summary>
    protected int HandOffSectionTick => Volatile.Read(ref _sectionTick);

    /// <summary>True while the read loop's thread runs a handler that may be handed off.</summary>
    protected bool InHandOffSection => (Volatile.Read(ref _section) & 1) != 0;

    /// <summary>
    /// Called by a <see cref="HandOffMonitor"/> on each tick: code that has held the read loop since two ticks ago (it
    /// blocks: sync I/O, CPU work, a lock) loses the loop to another thread, so the connection's other calls, cancels
    /// and pings go on. True while a section holds the loop.
    /// </summary>
    internal bool CheckHandOff(int tick)
    {
        if (!InHandOffSection)
        {
            return false;
        }

        if (tick - HandOffSectionTick >= HandOffMonitor.Ticks)
        {
            TryHandOff();
        }

        return true;
    }

    /// <summary>
    /// Called when <see cref="TryHandOff"/> gives the read loop to another thread, before that thread starts (metrics: so
    /// the hand-off is counted before anything the new thread reads can be answered).
    /// </summary>
    protected virtual void OnHandedOff()
    {
    }

    /// <summary>
    /// Gives the read loop to a thread-pool thread when its thread is still inside a hand-off section (a handler that
    /// blocks): the new thread handles the frames after that handler's and reads on. True when it did.
    /// </summary>
    protected bool TryHandOff()
    {
        int token = Volatile.Read(ref _section);
        if ((token & 1) == 0 || Interlocked.CompareExchange(ref _section, 0, token) != token)
        {
            return false;
        }

        // The old thread will not touch the input again (its ExitHandOffSection fails): _rest is ours to go on with.
        OnHandedOff();
        if (_sectionOnPump && _receiver is not null)
        {
            // The held thread is the one receiving: the new one must receive too.
            ReadOnlySequence<byte> rest = _rest;
            bool completed = _restCompleted;
            _receiver.HandOff(Remote, () => _ = RunReadLoopAsync(rest, resume: true, completed));
            return true;
        }

        ThreadPool.UnsafeQueueUserWorkItem(
            static state => _ = state.Connection.RunReadLoopAsync(state.Remaining, resume: true, state.Completed),
            (Connection: this, Remaining: _rest, Completed: _restCompleted),
            preferLocal: false);
        return true;
    }

    /// <summary>
    /// Called after each read's complete frames were handled; <paramref name="midFrame"/> says part of a frame is still
    /// awaited (so a peer that stops there can be timed out).
    /// </summary>
    protected virtual void OnReadProcessed(bool midFrame)
    {
    }

    /// <summary>
    /// Handles one complete frame. The body is valid only during the call. Returns false only when the read loop was
    /// handed to another thread meanwhile (<see cref="TryHandOff"/>).
    /// </summary>
    protected abstract bool OnFrame(in FrameHeader header, ReadOnlySpan<byte> body);

    /// <summary>A frame announced a body larger than the maximum frame size; its body is skipped.</summary>
    protected abstract void OnOversizeFrame(in FrameHeader header, uint length);

    /// <summary>Called once when the connection ends, with the error that ended it, if any.</summary>
    protected abstract void OnClosed(Exception? error);

    /// <summary>Tears the transport down.</summary>
    protected abstract void AbortTransport();

    private void OnOutputFailed(Exception error) => Close(error);

    /// <summary>Closes at once: pending output is dropped, the transport aborted, <see cref="OnClosed"/> called once.</summary>
    public void Close(Exception? error)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        Output.Close(error);
        try
        {
            _input.CancelPendingRead();
        }
        catch (Exception)
        {
            // The reader already completed.
        }

        AbortTransport();
        OnClosed(error);
    }
}
