using System;
using System.IO;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Transport;

/// <summary>A connected duplex byte stream as a pair of pipes, plus a way to tear it down.</summary>
internal sealed class TransportConnection : IDuplexPipe
{
    private readonly Action? _abort;
    private int _aborted;

    public TransportConnection(PipeReader input, PipeWriter output, string remote, Action? abort)
    {
        Input = input;
        Output = output;
        Remote = remote;
        _abort = abort;
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public string Remote { get; }

    /// <summary>The thread that receives this connection's bytes, when it has one of its own (<see cref="ReceiveThread"/>).</summary>
    public ReceiveThread? Receiver { get; init; }

    /// <summary>The certificate the peer presented in a TLS handshake (mutual TLS), or null.</summary>
    public X509Certificate2? PeerCertificate { get; init; }

    /// <summary>True when the bytes travel inside TLS.</summary>
    public bool IsEncrypted { get; init; }

    /// <summary>
    /// True for the in-memory pair of <see cref="CreateInProcessPair"/>: its readers run inline on the writer's thread,
    /// so there is no read batch to coalesce the next requests with.
    /// </summary>
    public bool IsInProcess { get; init; }

    /// <summary>Unconsumed bytes at which an in-process pipe's writer waits for its reader.</summary>
    internal const int InProcessPauseThreshold = 64 * 1024;

    /// <summary>The size of an in-process pipe's segments (larger writes get a segment of their size).</summary>
    internal const int InProcessSegmentSize = 4096;

    /// <summary>The ALPN protocol id of RpcGen's TLS connections.</summary>
    public static readonly SslApplicationProtocol Alpn = new("rpcgen/1");

    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 0)
        {
            _abort?.Invoke();
        }
    }

    /// <summary>
    /// Wraps an accepted or connected socket: received on a thread of its own while <paramref name="receiveThreads"/> has
    /// room, else asynchronously. <paramref name="maxFrameSize"/>: the largest frame body the connection accepts (a
    /// receive thread buffers up to one such frame ahead of the read loop).
    /// </summary>
    public static TransportConnection FromSocket(Socket socket, string remote, int maxFrameSize, ReceiveThreadBudget receiveThreads)
    {
        socket.NoDelay = true;
        if (ReceiveThread.TryStart(socket, remote, maxFrameSize, receiveThreads) is { } received)
        {
            // Sent without the socket engine too (NonBlockingSendStream): the socket never enters its epoll.
            return FromStream(new NonBlockingSendStream(socket), socket, remote, input: received.Input, receiver: received.Receiver);
        }

        socket.Blocking = true; // connected without waiting, in case the budget had room then (ConnectTcpAsync)
        return FromStream(new NetworkStream(socket, ownsSocket: true), socket, remote);
    }

    /// <summary>Wraps a stream over <paramref name="socket"/> (the socket's own, or TLS over it).</summary>
    private static TransportConnection FromStream(Stream stream, Socket socket, string remote, X509Certificate2? peerCertificate = null,
        PipeReader? input = null, ReceiveThread? receiver = null)
    {
        PipeReader reader = input ?? PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
        PipeWriter writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true));
        return new TransportConnection(reader, writer, remote, () =>
        {
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception)
            {
                // Not connected any more; disposing is all that is left.
            }

            stream.Dispose();
            socket.Dispose(); // the stream may not own it (NonBlockingSendStream)
        })
        {
            PeerCertificate = peerCertificate,
            IsEncrypted = stream is SslStream,
            Receiver = receiver,
        };
    }

    /// <summary>
    /// The server side of a TLS handshake on an accepted socket, bounded by <paramref name="cancellationToken"/>; the
    /// socket is closed when it fails (the exception says why).
    /// </summary>
    public static async Task<TransportConnection> AcceptTlsAsync(Socket socket, string remote, SslServerAuthenticationOptions options, CancellationToken cancellationToken)
    {
        socket.NoDelay = true;
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        X509Certificate2? client = ssl.RemoteCertificate as X509Certificate2 ?? (ssl.RemoteCertificate is { } other ? new X509Certificate2(other) : null);
        return FromStream(ssl, socket, remote, client);
    }

    /// <summary>Connects a TCP socket and runs the client side of a TLS handshake over it.</summary>
    public static async Task<TransportConnection> ConnectTlsAsync(string host, int port, SslClientAuthenticationOptions options, CancellationToken cancellationToken)
    {
        Socket socket = await ConnectSocketAsync(host, port, cancellationToken).ConfigureAwait(false);
        socket.NoDelay = true;
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return FromStream(ssl, socket, $"{host}:{port}");
    }

    /// <summary>
    /// Connects a TCP socket with Nagle off. While <paramref name="receiveThreads"/> has room the connect waits on
    /// <see cref="SocketWaiter"/>, not on the socket engine, so the connection's receive thread finds the socket outside it.
    /// </summary>
    public static async Task<TransportConnection> ConnectTcpAsync(string host, int port, int maxFrameSize, ReceiveThreadBudget receiveThreads,
        CancellationToken cancellationToken)
    {
        Socket socket = receiveThreads.HasRoom
            ? await ConnectWithoutEngineAsync(host, port, cancellationToken).ConfigureAwait(false)
            : await ConnectSocketAsync(host, port, cancellationToken).ConfigureAwait(false);
        return FromSocket(socket, $"{host}:{port}", maxFrameSize, receiveThreads);
    }

    /// <summary>A non-blocking connect to each of the host's addresses in turn, waiting on <see cref="SocketWaiter"/>.</summary>
    private static async Task<Socket> ConnectWithoutEngineAsync(string host, int port, CancellationToken cancellationToken)
    {
        IPAddress[] addresses = IPAddress.TryParse(host, out IPAddress? address)
            ? [address]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        SocketException? failed = null;
        foreach (IPAddress candidate in addresses)
        {
            var socket = new Socket(candidate.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                try
                {
                    socket.Connect(new IPEndPoint(candidate, port));
                }
                catch (SocketException started) when (started.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
                {
                    await SocketWaiter.Shared.WritableAsync(socket, cancellationToken).ConfigureAwait(false);
                    int error = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                    if (error != 0)
                    {
                        throw new SocketException(error);
                    }

                    _ = socket.Connected; // brings the socket's own view of the connect up to date
                }

                return socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                failed = ex; // the next address, as Socket.ConnectAsync(host, port) does
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw failed ?? new SocketException((int)SocketError.HostNotFound);
    }

    private static async Task<Socket> ConnectSocketAsync(string host, int port, CancellationToken cancellationToken)
    {
        Socket socket;
        if (IPAddress.TryParse(host, out IPAddress? address))
        {
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        else
        {
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        return socket;
    }

    /// <summary>
    /// Two in-memory pipes (<see cref="DirectPipe"/>): a flush runs the peer's read loop on the writer's thread, so an
    /// in-process call needs no thread hop. Each pipe holds at most 64 KiB unconsumed (and one write) before its writer
    /// waits, as <see cref="Pipe"/>'s default thresholds do.
    /// </summary>
    public static (TransportConnection Client, TransportConnection Server) CreateInProcessPair(string name)
    {
        var toServer = new DirectPipe(InProcessPauseThreshold, InProcessPauseThreshold / 2, InProcessSegmentSize);
        var toClient = new DirectPipe(InProcessPauseThreshold, InProcessPauseThreshold / 2, InProcessSegmentSize);
        var closed = new System.IO.IOException("The in-process connection was closed.");
        Action abort = () =>
        {
            toServer.Writer.Complete(closed);
            toClient.Writer.Complete(closed);
        };
        var client = new TransportConnection(toClient.Reader, toServer.Writer, name, abort) { IsInProcess = true };
        var server = new TransportConnection(toServer.Reader, toClient.Writer, "in-process client", abort) { IsInProcess = true };
        return (client, server);
    }
}
