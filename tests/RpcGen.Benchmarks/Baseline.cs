using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace RpcGen.Benchmarks;

/// <summary>
/// The raw-socket baseline RpcGen is measured against: length-prefixed frames with a request id
/// (<c>[u32 length][u32 id][payload]</c>) echoed by the server, over one connection, with batched flushes on both sides.
/// No serialization, no dispatch, no deadlines: what the transport alone can do on this machine. The fastest pair
/// (<see cref="StartThreadedServer"/> and a <see cref="MultiplexedClient"/> with a receive thread) receives and sends
/// with blocking calls on a thread per connection; the asynchronous pair is kept to show what the socket engine costs.
/// </summary>
internal static class Baseline
{
    public const int PayloadSize = 32; // about an RpcGen AddAsync request body (method name, deadline, "[12345,67890]")

    /// <summary>Echoes every frame; replies to all frames of one read in one flush.</summary>
    public static async Task<int> StartServerAsync(CancellationToken stop)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Socket socket = await listener.AcceptAsync(stop);
                socket.NoDelay = true;
                _ = EchoAsync(new NetworkStream(socket, ownsSocket: true));
            }
        }, stop);
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    /// <summary>
    /// Echoes every frame with a thread per connection: a blocking receive, then one blocking send of every whole frame it
    /// completed. No pipe, no socket engine, no thread pool: the fastest echo server we know how to write.
    /// </summary>
    public static int StartThreadedServer(CancellationToken stop)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        stop.Register(listener.Dispose);
        new Thread(() =>
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = listener.Accept();
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    return;
                }

                socket.NoDelay = true;
                new Thread(() => Echo(socket)) { IsBackground = true, Name = "raw echo" }.Start();
            }
        }) { IsBackground = true, Name = "raw accept" }.Start();
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    private static void Echo(Socket socket)
    {
        byte[] buffer = new byte[256 * 1024];
        int filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2); // one frame larger than the buffer
                }

                int read = socket.Receive(buffer.AsSpan(filled));
                if (read == 0)
                {
                    return;
                }

                filled += read;
                int whole = 0;
                while (filled - whole >= 8)
                {
                    int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(whole));
                    if (filled - whole < 8 + length)
                    {
                        break;
                    }

                    whole += 8 + length;
                }

                for (int sent = 0; sent < whole;)
                {
                    sent += socket.Send(buffer.AsSpan(sent, whole - sent));
                }

                Buffer.BlockCopy(buffer, whole, buffer, 0, filled - whole);
                filled -= whole;
            }
        }
        catch (SocketException)
        {
            // The client went away.
        }
        finally
        {
            socket.Dispose();
        }
    }

    private static async Task EchoAsync(NetworkStream stream)
    {
        PipeReader reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024));
        PipeWriter writer = PipeWriter.Create(stream);
        byte[] header = new byte[8];
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync();
                ReadOnlySequence<byte> buffer = result.Buffer;
                while (buffer.Length >= 8)
                {
                    buffer.Slice(0, 8).CopyTo(header);
                    int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
                    if (buffer.Length < 8 + length)
                    {
                        break;
                    }

                    ReadOnlySequence<byte> frame = buffer.Slice(0, 8 + length);
                    foreach (ReadOnlyMemory<byte> segment in frame)
                    {
                        writer.Write(segment.Span);
                    }

                    buffer = buffer.Slice(8 + length);
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                await writer.FlushAsync();
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
        }
        finally
        {
            await reader.CompleteAsync();
            await writer.CompleteAsync();
        }
    }

    /// <summary>One caller at a time, blocking socket calls: the lowest latency a round trip can have here.</summary>
    public sealed class PingPongClient : IDisposable
    {
        private readonly Socket _socket;
        private readonly byte[] _request = new byte[8 + PayloadSize];
        private readonly byte[] _response = new byte[8 + PayloadSize];

        public PingPongClient(int port)
        {
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            BinaryPrimitives.WriteUInt32LittleEndian(_request, PayloadSize);
        }

        public ValueTask CallAsync(int caller)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_request.AsSpan(4), (uint)caller);
            _socket.Send(_request);
            int read = 0;
            while (read < _response.Length)
            {
                read += _socket.Receive(_response.AsSpan(read));
            }

            return default;
        }

        public void Dispose() => _socket.Dispose();
    }

    /// <summary>
    /// The fastest multiplexed client we know how to write, and so the bar: many callers share one connection; a
    /// response completes its caller inline on the reader thread (no thread-pool hop), the caller's next request is
    /// appended to a pending buffer, and the reader sends everything its batch of completions queued in one write.
    /// A caller outside the reader (the first calls, or callers that were not just completed) sends its own frame at
    /// once when no one else is sending. No semaphore, no per-call allocation, one send per batch.
    /// </summary>
    /// <remarks>
    /// The reader is a thread of its own blocked in <c>recv</c> (<c>receiveThread</c>, the default), or a loop of
    /// asynchronous receives on the socket engine. An earlier version (completions on the thread pool, a writer task woken
    /// through a semaphore per call) reached 0.18 M calls/s at 64 callers on the 2-core CI machine; the asynchronous
    /// reader 0.54–0.60 M in the same interleaved run, with 3.5 µs of CPU per call for both processes (docs/benchmarks.md).
    /// </remarks>
    public sealed class MultiplexedClient : IAsyncDisposable
    {
        [ThreadStatic]
        private static MultiplexedClient? t_completing; // set while this client's reader completes callers

        private readonly Socket _socket;
        private readonly Slot[] _slots;
        private readonly object _lock = new();
        private byte[] _pending = new byte[64 * 1024];
        private byte[] _sending = new byte[64 * 1024];
        private int _pendingCount;
        private bool _sendingNow;
        private readonly Task _reader;
        private readonly CancellationTokenSource _stop = new();

        private readonly int _payloadSize;

        public MultiplexedClient(int port, int callers, int payloadSize = PayloadSize, bool receiveThread = true)
        {
            _payloadSize = payloadSize;
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            _slots = Enumerable.Range(0, callers).Select(_ => new Slot()).ToArray();
            if (receiveThread)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                new Thread(() =>
                {
                    ReadLoop();
                    done.SetResult();
                }) { IsBackground = true, Name = "raw receive" }.Start();
                _reader = done.Task;
            }
            else
            {
                _reader = Task.Run(ReadLoopAsync);
            }
        }

        public ValueTask CallAsync(int caller)
        {
            ValueTask wait = _slots[caller].Arm();
            lock (_lock)
            {
                while (_pending.Length - _pendingCount < 8 + _payloadSize)
                {
                    Array.Resize(ref _pending, _pending.Length * 2);
                }

                Span<byte> frame = _pending.AsSpan(_pendingCount, 8 + _payloadSize);
                BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)_payloadSize);
                BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(4), (uint)caller);
                frame.Slice(8).Fill(0x2A);
                _pendingCount += 8 + _payloadSize;
            }

            if (t_completing != this)
            {
                Flush(); // the reader flushes after its batch; anyone else sends now
            }

            return wait;
        }

        /// <summary>Sends what is pending, unless another thread is sending (it picks this up before it stops).</summary>
        private void Flush()
        {
            while (true)
            {
                int count;
                lock (_lock)
                {
                    if (_sendingNow || _pendingCount == 0)
                    {
                        return;
                    }

                    _sendingNow = true;
                    if (_sending.Length < _pending.Length)
                    {
                        _sending = new byte[_pending.Length];
                    }

                    (_pending, _sending) = (_sending, _pending);
                    count = _pendingCount;
                    _pendingCount = 0;
                }

                try
                {
                    int sent = 0;
                    while (sent < count)
                    {
                        sent += _socket.Send(_sending.AsSpan(sent, count - sent));
                    }
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                finally
                {
                    lock (_lock)
                    {
                        _sendingNow = false;
                    }
                }
            }
        }

        private void ReadLoop()
        {
            byte[] buffer = new byte[Math.Max(256 * 1024, 4 * (8 + _payloadSize))];
            int filled = 0;
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    int read = _socket.Receive(buffer.AsSpan(filled));
                    if (read == 0)
                    {
                        return;
                    }

                    filled = Complete(buffer, filled + read);
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // Stopped.
            }
        }

        private async Task ReadLoopAsync()
        {
            byte[] buffer = new byte[Math.Max(256 * 1024, 4 * (8 + _payloadSize))];
            int filled = 0;
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    int read = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    filled = Complete(buffer, filled + read);
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // Stopped.
            }
        }

        /// <summary>Completes the callers of every whole response in the buffer, then sends what they queued; returns what is left.</summary>
        private int Complete(byte[] buffer, int filled)
        {
            int offset = 0;
            t_completing = this;
            try
            {
                while (filled - offset >= 8 + _payloadSize)
                {
                    _slots[BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(offset + 4))].Complete(); // runs the caller inline
                    offset += 8 + _payloadSize;
                }
            }
            finally
            {
                t_completing = null;
            }

            Buffer.BlockCopy(buffer, offset, buffer, 0, filled - offset);
            Flush(); // one send for every request the completed callers queued
            return filled - offset;
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _socket.Dispose();
            try
            {
                await _reader;
            }
            catch (Exception)
            {
                // Stopped.
            }
        }

        /// <summary>A reusable awaitable per caller, completed inline on the reader thread.</summary>
        private sealed class Slot : IValueTaskSource
        {
            private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };

            public ValueTask Arm()
            {
                _core.Reset();
                return new ValueTask(this, _core.Version);
            }

            public void Complete() => _core.SetResult(true);

            public void GetResult(short token) => _core.GetResult(token);

            public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

            public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
                _core.OnCompleted(continuation, state, token, flags);
        }
    }
}
