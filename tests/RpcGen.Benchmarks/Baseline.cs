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
/// No serialization, no dispatch, no deadlines: what the transport alone can do on this machine.
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
    /// Many callers on one connection: each appends its frame under a short lock; one writer loop sends everything
    /// pending in one write; a reader loop completes callers by id. The same shape as RpcGen's transport.
    /// </summary>
    public sealed class MultiplexedClient : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly Slot[] _slots;
        private readonly object _lock = new();
        private readonly SemaphoreSlim _signal = new(0);
        private ArrayBufferWriter<byte> _pending = new(64 * 1024);
        private ArrayBufferWriter<byte> _sending = new(64 * 1024);
        private bool _writerIdle = true;
        private readonly Task _writer;
        private readonly Task _reader;
        private readonly CancellationTokenSource _stop = new();

        public MultiplexedClient(int port, int callers)
        {
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            _stream = new NetworkStream(_socket, ownsSocket: true);
            _slots = Enumerable.Range(0, callers).Select(_ => new Slot()).ToArray();
            _writer = Task.Run(WriteLoopAsync);
            _reader = Task.Run(ReadLoopAsync);
        }

        public ValueTask CallAsync(int caller)
        {
            Slot slot = _slots[caller];
            ValueTask wait = slot.Arm();
            bool wake;
            lock (_lock)
            {
                Span<byte> frame = _pending.GetSpan(8 + PayloadSize).Slice(0, 8 + PayloadSize);
                BinaryPrimitives.WriteUInt32LittleEndian(frame, PayloadSize);
                BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(4), (uint)caller);
                frame.Slice(8).Fill(0x2A);
                _pending.Advance(8 + PayloadSize);
                wake = _writerIdle;
                _writerIdle = false;
            }

            if (wake)
            {
                _signal.Release();
            }

            return wait;
        }

        private async Task WriteLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                await _signal.WaitAsync(_stop.Token);
                while (true)
                {
                    lock (_lock)
                    {
                        if (_pending.WrittenCount == 0)
                        {
                            _writerIdle = true;
                            break;
                        }

                        (_pending, _sending) = (_sending, _pending);
                    }

                    await _stream.WriteAsync(_sending.WrittenMemory);
                    _sending.ResetWrittenCount();
                }
            }
        }

        private async Task ReadLoopAsync()
        {
            PipeReader reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
            byte[] header = new byte[8];
            while (!_stop.IsCancellationRequested)
            {
                ReadResult result = await reader.ReadAsync(_stop.Token);
                ReadOnlySequence<byte> buffer = result.Buffer;
                while (buffer.Length >= 8 + PayloadSize)
                {
                    buffer.Slice(0, 8).CopyTo(header);
                    _slots[BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4))].Complete();
                    buffer = buffer.Slice(8 + PayloadSize);
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _socket.Dispose();
            try
            {
                await Task.WhenAll(_writer, _reader);
            }
            catch (Exception)
            {
                // Stopped.
            }
        }

        /// <summary>A reusable awaitable per caller, completed on the thread pool like RpcGen's pending calls.</summary>
        private sealed class Slot : IValueTaskSource
        {
            private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

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
