using System;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using RpcGen.Protocol;
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

            if (Options.MaxConnections > 0 && Volatile.Read(ref _tcpConnections) >= Options.MaxConnections)
            {
                // Over the limit: closed before any buffer or read loop is spent on it.
                Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.Refused, Telemetry.RpcGenMetrics.LimitTag, "connections");
                Telemetry.RpcGenLog.ConnectionLimitReached(Logger, accepted.RemoteEndPoint, Options.MaxConnections);
                accepted.Dispose();
                continue;
            }

            Interlocked.Increment(ref _tcpConnections);
            string remote = accepted.RemoteEndPoint?.ToString() ?? "unknown";
            if (_tls is { } tls)
            {
                _ = ServeTlsAsync(accepted, remote, tls);
                continue;
            }

            Serve(TransportConnection.FromSocket(accepted, remote), tcp: true);
        }
    }

    /// <summary>The TLS handshake of an accepted connection, within the handshake timeout; a failure closes that connection only.</summary>
    private async Task ServeTlsAsync(Socket accepted, string remote, System.Net.Security.SslServerAuthenticationOptions tls)
    {
        TransportConnection transport;
        try
        {
            using var timeout = new CancellationTokenSource(Options.HandshakeTimeout, TimeProvider);
            transport = await TransportConnection.AcceptTlsAsync(accepted, remote, tls, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Interlocked.Decrement(ref _tcpConnections);
            Telemetry.RpcGenMetrics.Add(Telemetry.RpcGenMetrics.ConnectionsClosed, Telemetry.RpcGenMetrics.ReasonTag, "tls");
            Telemetry.RpcGenLog.TlsHandshakeFailed(Logger,
                remote, ex is OperationCanceledException ? $"it took longer than {Options.HandshakeTimeout.TotalMilliseconds:0} ms (RpcServerOptions.HandshakeTimeout)" : ex.Message + " (a client without TLS, or with a certificate this server does not accept?)");
            return;
        }

        if (IsStopping)
        {
            Interlocked.Decrement(ref _tcpConnections);
            transport.Abort();
            return;
        }

        Serve(transport, tcp: true);
    }

    private void Serve(TransportConnection transport, bool tcp)
    {
        var connection = new ServerConnection(this, transport, tcp);
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
        Serve(server, tcp: false);
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

    /// <summary>Looks for idle connections and frames stalled mid-way (RpcServerOptions.IdleTimeout, FrameTimeout).</summary>
    private void Heartbeat()
    {
        long now = TimeProvider.GetTimestamp();
        foreach (ServerConnection connection in _connections.Keys)
        {
            connection.CheckTimeouts(now);
        }
    }
}
