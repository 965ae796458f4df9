using System;
using System.IO;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Transport;

/// <summary>
/// The output of a connection with a receive thread: each write is a non-blocking <c>send(2)</c> on the writer's thread,
/// and only when the socket's buffer is full does it wait, on <see cref="SocketWaiter"/>, never on the socket engine (see
/// there why). A peer that does not read blocks no thread: the write waits asynchronously, as an asynchronous send would.
/// Reads come from the receive thread's pipe, never from here.
/// </summary>
internal sealed class NonBlockingSendStream : Stream
{
    private readonly Socket _socket;
    private static long s_waits;

    /// <param name="socket">In non-blocking mode (<see cref="Socket.Blocking"/> false).</param>
    public NonBlockingSendStream(Socket socket) => _socket = socket;

    /// <summary>Sends that found a socket full and waited, across the process (a test's view: one per wait, no busy retries).</summary>
    internal static long Waits => Interlocked.Read(ref s_waits);

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int sent = _socket.Send(buffer.Span, SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock)
            {
                return WaitAndWriteAsync(buffer, cancellationToken);
            }

            if (error != SocketError.Success)
            {
                throw Failed(error);
            }

            buffer = buffer.Slice(sent);
        }

        return default;
    }

    private async ValueTask WaitAndWriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            Interlocked.Increment(ref s_waits);
            await SocketWaiter.Shared.WritableAsync(_socket, cancellationToken).ConfigureAwait(false);
            while (!buffer.IsEmpty)
            {
                int sent = _socket.Send(buffer.Span, SocketFlags.None, out SocketError error);
                if (error == SocketError.WouldBlock)
                {
                    break;
                }

                if (error != SocketError.Success)
                {
                    throw Failed(error);
                }

                buffer = buffer.Slice(sent);
            }
        }
    }

    private static IOException Failed(SocketError error) =>
        new("Unable to write data to the transport connection.", new SocketException((int)error));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
