using System;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
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

    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 0)
        {
            _abort?.Invoke();
        }
    }

    /// <summary>Wraps an accepted or connected socket.</summary>
    public static TransportConnection FromSocket(Socket socket, string remote)
    {
        socket.NoDelay = true;
        var stream = new NetworkStream(socket, ownsSocket: true);
        PipeReader reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
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
        });
    }

    /// <summary>Connects a TCP socket with Nagle off.</summary>
    public static async Task<TransportConnection> ConnectTcpAsync(string host, int port, CancellationToken cancellationToken)
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

        return FromSocket(socket, $"{host}:{port}");
    }

    /// <summary>Two in-memory pipes; readers run inline so an in-process call needs no thread hop.</summary>
    public static (TransportConnection Client, TransportConnection Server) CreateInProcessPair(string name)
    {
        var options = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        var closed = new System.IO.IOException("The in-process connection was closed.");
        Action abort = () =>
        {
            toServer.Writer.Complete(closed);
            toClient.Writer.Complete(closed);
        };
        var client = new TransportConnection(toClient.Reader, toServer.Writer, name, abort);
        var server = new TransportConnection(toServer.Reader, toClient.Writer, "in-process client", abort);
        return (client, server);
    }
}
