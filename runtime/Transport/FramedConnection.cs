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

    protected FramedConnection(IDuplexPipe pipe, int maxFrameSize, string remote, TimeProvider time)
    {
        _time = time;
        _lastRead = time.GetTimestamp();
        _input = pipe.Input;
        _maxFrameSize = maxFrameSize;
        Remote = remote;
        Output = new FrameOutput(pipe.Output, OnOutputFailed);
    }

    /// <summary>The peer, for messages and logs.</summary>
    public string Remote { get; }

    public FrameOutput Output { get; }

    protected int MaxFrameSize => _maxFrameSize;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

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
    protected async Task ReadLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync().ConfigureAwait(false);
                Volatile.Write(ref _lastRead, _time.GetTimestamp());
                ReadOnlySequence<byte> buffer = result.Buffer;
                Output.Cork();
                try
                {
                    while (TryProcessFrame(ref buffer))
                    {
                    }
                }
                finally
                {
                    Output.Uncork();
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                OnReadProcessed(midFrame: !buffer.IsEmpty || _skipRemaining > 0);
                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!buffer.IsEmpty || _skipRemaining > 0)
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

    private bool TryProcessFrame(ref ReadOnlySequence<byte> buffer)
    {
        if (_skipRemaining > 0)
        {
            long skip = Math.Min(_skipRemaining, buffer.Length);
            buffer = buffer.Slice(skip);
            _skipRemaining -= skip;
            if (_skipRemaining > 0)
            {
                return false;
            }
        }

        ReadOnlySequence<byte> afterHeader = buffer;
        if (!FrameHeader.TryRead(ref afterHeader, out FrameHeader header, out uint rawLength))
        {
            return false;
        }

        if (rawLength > (uint)_maxFrameSize)
        {
            // Refuse before buffering a byte of the body; skip it as it streams past.
            OnOversizeFrame(header, rawLength);
            buffer = afterHeader;
            _skipRemaining = rawLength;
            return true;
        }

        if (afterHeader.Length < header.Length)
        {
            return false;
        }

        ReadOnlySequence<byte> body = afterHeader.Slice(0, header.Length);
        if (body.IsSingleSegment)
        {
            OnFrame(header, body.FirstSpan);
        }
        else
        {
            byte[] rented = BufferPool.Rent(header.Length);
            try
            {
                body.CopyTo(rented);
                OnFrame(header, rented.AsSpan(0, header.Length));
            }
            finally
            {
                BufferPool.Return(rented);
            }
        }

        buffer = afterHeader.Slice(header.Length);
        return true;
    }

    /// <summary>
    /// Called after each read's complete frames were handled; <paramref name="midFrame"/> says part of a frame is still
    /// awaited (so a peer that stops there can be timed out).
    /// </summary>
    protected virtual void OnReadProcessed(bool midFrame)
    {
    }

    /// <summary>Handles one complete frame. The body is valid only during the call.</summary>
    protected abstract void OnFrame(in FrameHeader header, ReadOnlySpan<byte> body);

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
