using System;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Balancing;
using RpcGen.Balancing.Internal;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

/// <summary>
/// An endpoint of one client with its connection: the load view balancers read (<see cref="RpcEndpointState"/>), one
/// multiplexed connection, a connect shared by all callers, and a reconnection backoff after failures (exponential,
/// capped, ±20% jitter).
/// </summary>
internal sealed class ClientEndpoint : RpcEndpointState
{
    private readonly RpcClient _client;
    private readonly object _lock = new();
    private volatile ClientConnection? _connection;
    private Task<ClientConnection>? _connecting;
    private int _failures;
    private long _retryAfter;
    private Exception? _lastError;

    public ClientEndpoint(RpcClient client, EndpointLoadSettings settings, RpcEndpoint endpoint, int id)
        : base(settings, endpoint, id)
    {
        _client = client;
    }

    public ValueTask<ClientConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        ClientConnection? connection = _connection;
        if (connection is not null && connection.IsUsable)
        {
            return new ValueTask<ClientConnection>(connection);
        }

        return new ValueTask<ClientConnection>(GetConnectionSlowAsync(cancellationToken));
    }

    private Task<ClientConnection> GetConnectionSlowAsync(CancellationToken cancellationToken)
    {
        Task<ClientConnection> connecting;
        lock (_lock)
        {
            ClientConnection? connection = _connection;
            if (connection is not null && connection.IsUsable)
            {
                return Task.FromResult(connection);
            }

            if (_connecting is null)
            {
                long now = _client.TimeProvider.GetTimestamp();
                if (_failures > 0 && now < _retryAfter)
                {
                    TimeSpan wait = _client.TimeProvider.GetElapsedTime(now, _retryAfter);
                    return Task.FromException<ClientConnection>(new RpcException(
                        RpcStatusCode.Unavailable,
                        $"Endpoint {Endpoint} is unreachable; the next connection attempt is in {wait.TotalMilliseconds:0} ms. Last error: {_lastError?.Message}",
                        _lastError)
                    {
                        NotProcessed = true,
                        Endpoint = Endpoint.ToString(),
                    });
                }

                _connecting = ConnectAsync();
            }

            connecting = _connecting;
        }

        return cancellationToken.CanBeCanceled ? connecting.WaitAsync(cancellationToken) : connecting;
    }

    private async Task<ClientConnection> ConnectAsync()
    {
        await Task.Yield(); // never connect while holding the caller's lock or stack
        RpcClientOptions options = _client.Options;
        string? refusal = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_client.DisposalToken);
            timeout.CancelAfter(options.Connection.ConnectTimeout);
            TransportConnection transport;
            if (Endpoint.IsInProcess)
            {
                transport = InProcessTransport.Connect(Endpoint.Host);
            }
            else if (_client.Options.Tls is { } tls)
            {
                try
                {
                    transport = await TransportConnection.ConnectTlsAsync(
                        Endpoint.Host, Endpoint.Port, tls.Build(Endpoint.Host, reason => refusal = reason), timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or System.IO.IOException)
                {
                    throw new RpcException(RpcStatusCode.Unavailable, refusal is not null
                        ? $"TLS with {Endpoint} failed: {refusal}."
                        : $"TLS with {Endpoint} failed: {ex.Message} (does the server serve TLS? a plain-TCP server closes the connection at the TLS hello).", ex);
                }
            }
            else
            {
                transport = await TransportConnection.ConnectTcpAsync(Endpoint.Host, Endpoint.Port, options.Connection.MaxFrameSize, _client.ReceiveThreads, timeout.Token).ConfigureAwait(false);
            }

            ClientConnection connection = await ClientConnection.EstablishAsync(
                transport, options.Connection.MaxFrameSize, _client.TimeProvider, options.Connection.ConnectTimeout, OnUnusable, OnServerLoad, timeout.Token).ConfigureAwait(false);

            bool afterFailures;
            lock (_lock)
            {
                afterFailures = _failures > 0;
                _connection = connection;
                _connecting = null;
                _failures = 0;
                _lastError = null;
            }

            ClientTelemetry.Connected(_client, Endpoint, afterFailures);
            return connection;
        }
        catch (Exception ex)
        {
            RpcException error = ex switch
            {
                RpcException rpc => new RpcException(rpc.StatusCode, rpc.Message, rpc.InnerException) { NotProcessed = true, Endpoint = Endpoint.ToString() },
                OperationCanceledException when _client.DisposalToken.IsCancellationRequested =>
                    new RpcException(RpcStatusCode.Unavailable, "The RpcClient was disposed.") { NotProcessed = true },
                OperationCanceledException =>
                    new RpcException(RpcStatusCode.Unavailable, $"Connecting to {Endpoint} timed out after {options.Connection.ConnectTimeout.TotalMilliseconds:0} ms.", ex) { NotProcessed = true, Endpoint = Endpoint.ToString() },
                SocketException socket =>
                    new RpcException(RpcStatusCode.Unavailable, $"Cannot connect to {Endpoint}: {socket.Message}", ex) { NotProcessed = true, Endpoint = Endpoint.ToString() },
                _ => new RpcException(RpcStatusCode.Unavailable, $"Cannot connect to {Endpoint}: {ex.Message}", ex) { NotProcessed = true, Endpoint = Endpoint.ToString() },
            };

            lock (_lock)
            {
                _failures++;
                _lastError = error;
                _retryAfter = _client.TimeProvider.GetTimestamp() + BackoffTicks(_failures);
                _connecting = null;
            }

            ClientTelemetry.ConnectFailed(_client, Endpoint, _failures, error.Message);
            throw error;
        }
    }

    private long BackoffTicks(int failures)
    {
        RpcClientOptions options = _client.Options;
        double ms = options.Connection.ReconnectBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        ms = Math.Min(ms, options.Connection.MaxReconnectBackoff.TotalMilliseconds);
        ms *= 0.8 + (Random.Shared.NextDouble() * 0.4);
        return (long)(ms * _client.TimeProvider.TimestampFrequency / 1000.0);
    }

    private void OnUnusable(ClientConnection connection)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_connection, connection))
            {
                _connection = null;
            }
        }

        if (connection.TryTakeGoAway(out string? reason))
        {
            ClientTelemetry.GoAwayReceived(_client, Endpoint, reason);
        }

        if (connection.IsClosed && connection.Lost)
        {
            // Correlated failures: the calls the loss took down are neutral (CallAttempts.Classify); the loss itself is
            // one connectivity failure, which a ping can undo (a reconnect that works re-admits the endpoint).
            _client.Health.Record(this, CallOutcome.ConnectFailure);
        }
    }

    /// <summary>Connects if need be and measures a round trip with a ping frame.</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        ClientConnection connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        await connection.PingAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task CloseAsync()
    {
        ClientConnection? connection;
        Task<ClientConnection>? connecting;
        lock (_lock)
        {
            connection = _connection;
            connecting = _connecting;
            _connection = null;
        }

        if (connecting is not null)
        {
            try
            {
                connection = await connecting.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // It failed; nothing to close.
            }
        }

        connection?.Close(null);
    }

    public ClientConnection? CurrentConnection => _connection;

    /// <summary>
    /// The connection's state for the admin page: <c>ready</c> (connected), <c>draining</c> (removed by discovery, or
    /// its connection got a GoAway), <c>connecting</c>, <c>transient_failure</c> (the last connect failed: waiting for
    /// the backoff), <c>idle</c> (not connected yet: no call needed it); ejection is the balancer's and said apart.
    /// </summary>
    public (string State, int Failures, string? LastError) DescribeConnection()
    {
        lock (_lock)
        {
            ClientConnection? connection = _connection;
            string state = IsRemoved ? "draining"
                : connection is not null ? (connection.IsUsable ? "ready" : "draining")
                : _connecting is not null ? "connecting"
                : _failures > 0 ? "transient_failure"
                : "idle";
            return (state, _failures, _lastError?.Message);
        }
    }
}
