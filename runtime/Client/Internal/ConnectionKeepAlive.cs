using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Balancing;

namespace RpcGen.Client.Internal;

/// <summary>
/// Keepalive for one client's connections: every quarter of <see cref="ConnectionOptions.KeepAliveInterval"/> it pings
/// the connections that have been silent for the interval and closes those that do not answer within
/// <see cref="ConnectionOptions.KeepAliveTimeout"/> (reported to health as a connect failure). Idleness is measured by
/// the connections themselves on the client's clock, so a fake clock drives keepalive too.
/// </summary>
internal sealed class ConnectionKeepAlive : IDisposable
{
    private readonly RpcClient _client;
    private readonly ITimer? _timer;

    public ConnectionKeepAlive(RpcClient client)
    {
        _client = client;
        TimeSpan keepAlive = client.Options.Connection.KeepAliveInterval;
        if (keepAlive != Timeout.InfiniteTimeSpan)
        {
            TimeSpan every = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 10, keepAlive.Ticks / 4));
            _timer = client.TimeProvider.CreateTimer(static s => ((ConnectionKeepAlive)s!).CheckIdleConnections(), this, every, every);
        }
    }

    /// <summary>Pings connections that have been silent for the keepalive interval; closes those that do not answer.</summary>
    internal void CheckIdleConnections()
    {
        if (_client.IsDisposed)
        {
            return;
        }

        TimeSpan idleLimit = _client.Options.Connection.KeepAliveInterval;
        foreach (RpcEndpointState endpoint in _client.EndpointSet.All)
        {
            if (((ClientEndpoint)endpoint).CurrentConnection is { IsClosed: false } connection && connection.IdleTime >= idleLimit && connection.TryBeginKeepAlive())
            {
                _ = KeepAliveAsync(endpoint, connection);
            }
        }
    }

    private async Task KeepAliveAsync(RpcEndpointState endpoint, ClientConnection connection)
    {
        TimeSpan limit = _client.Options.Connection.KeepAliveTimeout;
        try
        {
            using var timeout = new CancellationTokenSource(limit, _client.TimeProvider);
            await connection.PingAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            ClientTelemetry.KeepAliveTimedOut(_client, endpoint.Endpoint, limit);
            // Closing with an error marks the connection lost: its endpoint records one connectivity failure (before
            // the calls it fails, which count as neutral), so a ping can re-admit it once the network is back.
            connection.Close(new IOException($"The connection to {endpoint.Endpoint} did not answer a keepalive ping within {limit.TotalMilliseconds:0} ms."));
        }
        catch (Exception)
        {
            // Closed meanwhile: nothing to do.
        }
        finally
        {
            connection.EndKeepAlive();
        }
    }

    public void Dispose() => _timer?.Dispose();
}
