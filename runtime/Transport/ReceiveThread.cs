using System;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Transport;

/// <summary>
/// Receives a TCP connection's bytes on a thread of its own. The thread waits in <c>poll(2)</c> until the socket is
/// readable, takes what arrived into a pipe whose reader runs inline, and so runs the connection's read loop (and the
/// handlers or callers that loop runs inline) itself: the kernel wakes this thread directly, where an asynchronous
/// receive is completed by the socket engine's thread and handed to the thread pool (whose idle workers spin for the
/// next item: about 40 % of a small call's CPU, docs/benchmarks-log.md). Sends stay asynchronous, so a peer that
/// does not read blocks no thread.
/// <para>
/// The thread is the connection's <em>pump</em>. When code on it holds the read loop past the hand-off budget
/// (<see cref="FramedConnection.CheckHandOff"/>), the loop moves to a new pump thread (<see cref="HandOff"/>), which goes
/// on with the frames after that code's and then receives; the old thread, once that code returns, finds it is no longer
/// the pump (<see cref="LeaveIfHandedOff"/>) and ends without touching the pipe again.
/// </para>
/// <para>
/// A server or client has a limited number of such connections at a time (<see cref="ReceiveThreadBudget"/>:
/// <c>RpcServerOptions.Limits.MaxReceiveThreads</c>, <c>RpcClientOptions.Connection.MaxReceiveThreads</c>); the others
/// receive asynchronously on the thread pool, so 10,000 connections do not make 10,000 threads.
/// </para>
/// </summary>
internal sealed class ReceiveThread
{
    private const int MinimumRead = 16 * 1024;

    [ThreadStatic]
    private static ReceiveThread? t_pumpOf; // the receiver whose pump the current thread is, if any

    private readonly Socket _socket;
    private readonly PipeWriter _writer;
    private readonly ReceiveThreadBudget _budget;

    private ReceiveThread(Socket socket, PipeWriter writer, ReceiveThreadBudget budget)
    {
        _socket = socket;
        _writer = writer;
        _budget = budget;
    }

    /// <summary>The connection's socket (non-blocking; never in the socket engine: <see cref="SocketWaiter"/>).</summary>
    internal Socket Socket => _socket;

    /// <summary>True when the current thread is this connection's pump.</summary>
    public bool IsPumpThread => t_pumpOf == this;

    /// <summary>
    /// A pipe for <paramref name="socket"/>'s input, filled by a new receive thread; null when <paramref name="budget"/> is
    /// spent (the caller then reads the socket asynchronously). The thread stops receiving while
    /// the read loop leaves more than one largest frame (<paramref name="maxFrameSize"/>) and a read unconsumed (a server
    /// waiting for its output to drain): what it buffers ahead is bounded by one frame and a read (docs/security.md).
    /// </summary>
    public static (PipeReader Input, ReceiveThread Receiver)? TryStart(Socket socket, string remote, int maxFrameSize, ReceiveThreadBudget budget)
    {
        if (!budget.TryTake())
        {
            return null;
        }

        // Pausing below a whole frame would stall the read loop on a frame it cannot complete.
        long pause = (long)maxFrameSize + Protocol.ProtocolConstants.HeaderLength + MinimumRead;
        var pipe = new Pipe(new PipeOptions(
            pauseWriterThreshold: pause,
            resumeWriterThreshold: pause / 2,
            minimumSegmentSize: MinimumRead,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false));
        socket.Blocking = false; // polled, then received and sent without waiting (NonBlockingSendStream)
        var receiver = new ReceiveThread(socket, pipe.Writer, budget);
        receiver.StartPump(remote, resume: null);
        return (pipe.Reader, receiver);
    }

    /// <summary>
    /// Called on the read loop's thread when it lost the loop to another thread: if it is this connection's pump, it stops
    /// being one (its pump loop ends when the code holding it returns).
    /// </summary>
    public void LeaveIfHandedOff()
    {
        if (t_pumpOf == this)
        {
            t_pumpOf = null;
        }
    }

    /// <summary>
    /// The read loop was taken from the pump thread (held by user code): a new pump thread runs <paramref name="resume"/>
    /// (the rest of the loop) and then receives.
    /// </summary>
    public void HandOff(string remote, Action resume) => StartPump(remote, resume);

    private void StartPump(string remote, Action? resume)
    {
        var thread = new Thread(static state =>
        {
            var (receiver, resume) = ((ReceiveThread, Action?))state!;
            receiver.Pump(resume);
        })
        {
            IsBackground = true,
            Name = "RpcGen receive " + remote,
        };
        thread.UnsafeStart((this, resume));
    }

    private void Pump(Action? resume)
    {
        t_pumpOf = this;
        Exception? error = null;
        try
        {
            resume?.Invoke();
            while (t_pumpOf == this)
            {
                if (!_socket.Poll(-1, SelectMode.SelectRead))
                {
                    continue;
                }

                Memory<byte> memory = _writer.GetMemory(MinimumRead);
                int received = _socket.Receive(memory.Span, SocketFlags.None, out SocketError socketError);
                if (socketError != SocketError.Success && socketError != SocketError.WouldBlock)
                {
                    error = new SocketException((int)socketError);
                    break;
                }

                if (received == 0)
                {
                    if (socketError == SocketError.WouldBlock)
                    {
                        continue; // readable said poll, yet nothing: try again
                    }

                    break; // the peer closed its side
                }

                _writer.Advance(received);
                ValueTask<FlushResult> flush = _writer.FlushAsync(); // runs the read loop on this thread
                if (t_pumpOf != this)
                {
                    break; // the loop moved to a new pump while this thread ran user code: the pipe is not ours any more
                }

                FlushResult result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                if (result.IsCompleted)
                {
                    break; // the reader is done
                }
            }
        }
        catch (Exception ex)
        {
            error = ex; // closed under us (the connection was aborted), or the reader completed the pipe
        }

        if (t_pumpOf != this)
        {
            return; // handed off: the new pump owns the pipe and this connection's place in the budget
        }

        t_pumpOf = null;
        _budget.Return(); // once per connection: only its last pump gets here
        try
        {
            _writer.Complete(error);
        }
        catch (InvalidOperationException)
        {
            // Completed already.
        }
    }
}

/// <summary>How many of one server's or one client's connections may receive on a thread of their own (<see cref="ReceiveThread"/>).</summary>
internal sealed class ReceiveThreadBudget
{
    /// <summary>The default limit: 4 per processor, at least 8.</summary>
    public static readonly int DefaultLimit = Math.Max(8, 4 * Environment.ProcessorCount);

    private readonly Func<int> _limit;
    private int _count;

    /// <param name="limit">Read at each connection, so a changed option applies to the next one.</param>
    public ReceiveThreadBudget(Func<int> limit) => _limit = limit;

    /// <summary>Connections receiving on a thread of their own now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>True when the next connection would get a receive thread (unless another takes the place first).</summary>
    public bool HasRoom => Count < _limit();

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _count) > _limit())
        {
            Interlocked.Decrement(ref _count);
            return false;
        }

        return true;
    }

    public void Return() => Interlocked.Decrement(ref _count);
}
