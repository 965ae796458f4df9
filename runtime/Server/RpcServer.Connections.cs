using System;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Server.Internal;
using RpcGen.Transport;

namespace RpcGen.Server;

// How a server takes connections: the accept loops (with the connection limit), in-process connections, and the
// heartbeat that closes idle and stalled ones.
public partial class RpcServer
{
    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception) when (IsStopping)
            {
                return;
            }
            catch (SocketException ex)
            {
                Telemetry.RpcGenLog.AcceptFailed(Logger, ex.Message);
                continue;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            if (IsStopping)
            {
                accepted.Dispose();
                return;
            }

            if (Options.Limits.MaxConnections is int maxConnections && Volatile.Read(ref _tcpConnections) >= maxConnections)
            {
                // Over the limit: closed before any buffer or read loop is spent on it.
                ServerTelemetry.Refused("connections");
                if (RefusalLog.ShouldLog(Telemetry.ConnectionEvent.ConnectionLimitReached, accepted.RemoteEndPoint))
                {
                    Telemetry.RpcGenLog.ConnectionLimitReached(Logger, accepted.RemoteEndPoint, maxConnections);
                }

                Refuse(accepted);
                continue;
            }

            long acceptedAt = TimeProvider.GetTimestamp();
            Interlocked.Increment(ref _tcpConnections);
            string remote = accepted.RemoteEndPoint?.ToString() ?? "unknown";
            if (_tls is { } tls)
            {
                _ = ServeTlsAsync(accepted, remote, tls, acceptedAt);
                continue;
            }

            Serve(TransportConnection.FromSocket(accepted, remote, Options.Limits.MaxFrameSize, ReceiveThreads), tcp: true, acceptedAt);
        }
    }

    /// <summary>
    /// Closes a connection over <see cref="RpcServerLimits.MaxConnections"/>, telling the client why where it can: on
    /// plain TCP, the server's preface and a GoAway whose reason the client reports (a TLS client would read them as a
    /// broken handshake; it gets the close, and a message that names this cause among others). The refusal is written
    /// without blocking and the socket lingers at most <see cref="ServerLimits.RefusalLinger"/> for the client to read
    /// it, no more than <see cref="ServerLimits.MaxLingeringRefusals"/> at once; beyond that, refused sockets just close.
    /// </summary>
    private void Refuse(Socket accepted)
    {
        if (_tls is not null)
        {
            accepted.Dispose();
            return;
        }

        if (Interlocked.Increment(ref _lingeringRefusals) > ServerLimits.MaxLingeringRefusals)
        {
            Interlocked.Decrement(ref _lingeringRefusals);
            accepted.Dispose();
            return;
        }

        _ = LingerAsync(accepted, _refusal ??= RefusalFrames());

        async Task LingerAsync(Socket socket, byte[] refusal)
        {
            try
            {
                socket.Blocking = false;
                socket.Send(refusal, SocketFlags.None);
                socket.Shutdown(SocketShutdown.Send);
                // Read what the client sent until it closes (it does once it has read the refusal), so the close is a
                // FIN and not a reset that could discard the refusal before the client reads it.
                using var linger = new CancellationTokenSource(ServerLimits.RefusalLinger);
                byte[] sink = new byte[64];
                while (await socket.ReceiveAsync(sink, SocketFlags.None, linger.Token).ConfigureAwait(false) > 0)
                {
                }
            }
            catch (Exception)
            {
                // The client went first, or the linger ran out: close either way.
            }
            finally
            {
                socket.Dispose();
                Interlocked.Decrement(ref _lingeringRefusals);
            }
        }
    }

    private int _lingeringRefusals;
    private byte[]? _refusal; // made on the first refusal; two accept loops racing make the same bytes

    /// <summary>The server's preface, then a GoAway (last call id 0) saying the server is at its connection limit.</summary>
    private byte[] RefusalFrames()
    {
        string reason = $"The server refused the connection: it has {Options.Limits.MaxConnections} connections open, its limit (RpcServerOptions.Limits.MaxConnections).";
        byte[] bytes = new byte[Protocol.ProtocolConstants.PrefaceLength + Protocol.FrameEncoder.GoAwayWithReasonLength(reason)];
        Protocol.Preface.Write(bytes, Protocol.ProtocolConstants.RoleServer, (ushort)Options.Limits.MaxConcurrentCallsPerConnection);
        Protocol.FrameEncoder.WriteGoAway(bytes.AsSpan(Protocol.ProtocolConstants.PrefaceLength), 0, RpcStatusCode.ResourceExhausted, reason);
        return bytes;
    }

    /// <summary>The TLS handshake of an accepted connection, within the handshake timeout; a failure closes that connection only.</summary>
    private async Task ServeTlsAsync(Socket accepted, string remote, System.Net.Security.SslServerAuthenticationOptions tls, long acceptedAt)
    {
        TransportConnection transport;
        try
        {
            using var timeout = new CancellationTokenSource(Options.Limits.HandshakeTimeout, TimeProvider);
            transport = await TransportConnection.AcceptTlsAsync(accepted, remote, tls, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Interlocked.Decrement(ref _tcpConnections);
            ServerTelemetry.ConnectionClosed("tls");
            if (RefusalLog.ShouldLog(Telemetry.ConnectionEvent.TlsHandshakeFailed, remote))
            {
                Telemetry.RpcGenLog.TlsHandshakeFailed(Logger, remote, ex is OperationCanceledException
                    ? $"it took longer than {Options.Limits.HandshakeTimeout.TotalMilliseconds:0} ms (RpcServerOptions.Limits.HandshakeTimeout)"
                    : ex.Message + " (a client without TLS, or with a certificate this server does not accept?)");
            }
            return;
        }

        if (IsStopping)
        {
            Interlocked.Decrement(ref _tcpConnections);
            transport.Abort();
            return;
        }

        Serve(transport, tcp: true, acceptedAt);
    }

    private void Serve(TransportConnection transport, bool tcp, long acceptedAt)
    {
        var connection = new ServerConnection(this, transport, tcp, acceptedAt);
        _connections.TryAdd(connection, 0);
        _ = connection.RunAsync();
    }

    /// <summary>Opens an in-process connection (called by clients given <see cref="InProcessEndpoint"/>).</summary>
    private TransportConnection AcceptInProcess()
    {
        if (Volatile.Read(ref _state) != 1)
        {
            throw new RpcException(RpcStatusCode.Unavailable, "The in-process server is not running.") { NotProcessed = true };
        }

        (TransportConnection client, TransportConnection server) = TransportConnection.CreateInProcessPair($"inproc:{_inProcessName}#{Interlocked.Increment(ref _inProcessCount)}");
        Serve(server, tcp: false, TimeProvider.GetTimestamp());
        return client;
    }

    internal void OnConnectionClosed(ServerConnection connection)
    {
        if (_connections.TryRemove(connection, out _) && connection.IsTcp)
        {
            Interlocked.Decrement(ref _tcpConnections);
        }
    }

    /// <summary>Connections open now (TCP and in-process).</summary>
    internal int ConnectionCount => _connections.Count;

    /// <summary>Looks for idle connections and frames stalled mid-way (RpcServerOptions.Limits.IdleTimeout, FrameTimeout).</summary>
    private void Heartbeat()
    {
        long now = TimeProvider.GetTimestamp();
        foreach (System.Collections.Generic.KeyValuePair<ServerConnection, byte> open in _connections)
        {
            open.Key.CheckTimeouts(now);
        }

        RefusalLog.Flush();
    }
}
