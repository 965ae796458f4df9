using System;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using RpcGen.Client;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Balancing;

/// <summary>
/// One endpoint as one client sees it: what balancers read (calls in flight, the server's reported load, latency,
/// weight with slow start, health) and, internally, its connection: one multiplexed connection, a connect shared by all
/// callers, and a reconnection backoff after failures (exponential, capped, ±20% jitter).
/// </summary>
public sealed class RpcEndpointState
{
    private readonly RpcClient _client;
    private readonly object _lock = new();
    private volatile ClientConnection? _connection;
    private Task<ClientConnection>? _connecting;
    private int _failures;
    private long _retryAfter;
    private Exception? _lastError;

    private int _inFlight;
    private int _serverInFlight;
    private int _othersInFlight;
    private int _serverUtilizationBasisPoints = -1;
    private long _serverReportTimestamp;
    private readonly object _latencyLock = new();
    private double _latencyEwmaTicks;
    private long _latencyStamp;
    private long _slowStartBegin;
    private long _slowStartEnd;
    private volatile RpcEndpoint _endpoint;

    internal RpcEndpointState(RpcClient client, RpcEndpoint endpoint, int id)
    {
        _client = client;
        _endpoint = endpoint;
        Id = id;
        Health = new EndpointHealth();
    }

    /// <summary>The endpoint's address and metadata (weight, zone, tags); metadata may change at run time.</summary>
    public RpcEndpoint Endpoint => _endpoint;

    /// <summary>A number unique among this client's endpoints, stable for the client's life.</summary>
    public int Id { get; }

    /// <summary>Calls this client has in flight to the endpoint.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Calls in flight on the server (from all its clients) as it last reported in a response, or -1 when it has not
    /// reported for a second.
    /// </summary>
    public int ServerInFlight =>
        _client.TimeProvider.GetElapsedTime(Volatile.Read(ref _serverReportTimestamp)) < ServerReportLifetime
            ? Volatile.Read(ref _serverInFlight)
            : -1;

    /// <summary>The utilization (0 to 1) the server's application last reported, or NaN when none.</summary>
    public double ServerUtilization
    {
        get
        {
            int basisPoints = Volatile.Read(ref _serverUtilizationBasisPoints);
            return basisPoints < 0 ? double.NaN : basisPoints / 10_000.0;
        }
    }

    /// <summary>
    /// The load that load-aware strategies compare: this client's calls in flight now, plus the calls of other clients
    /// as the server last reported them (its figure minus this client's share at that moment; reports older than a
    /// second are ignored), raised by the server's reported utilization. Taking only the others' part from the report
    /// keeps a stale report from hiding this client's own, current, count.
    /// </summary>
    public double Load
    {
        get
        {
            double load = InFlight;
            long reported = Volatile.Read(ref _serverReportTimestamp);
            if (reported != 0 && _client.TimeProvider.GetElapsedTime(reported) < ServerReportLifetime)
            {
                load += Volatile.Read(ref _othersInFlight);
                int utilization = Volatile.Read(ref _serverUtilizationBasisPoints);
                if (utilization > 0)
                {
                    load *= 1 + (utilization / 10_000.0);
                }
            }

            return load;
        }
    }

    /// <summary>True while the endpoint is ejected by outlier detection.</summary>
    public bool IsEjected => Health.IsEjected;

    /// <summary>True once the endpoint was removed from the client's set; it takes no new calls and drains.</summary>
    public bool IsRemoved { get; internal set; }

    internal EndpointHealth Health { get; }

    internal static readonly TimeSpan ServerReportLifetime = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The endpoint's weight at <paramref name="timestamp"/>: its configured weight, scaled down during slow start after
    /// it was added or re-admitted (Envoy's curve: max(minimum, elapsed/window ^ (1/aggression))).
    /// </summary>
    public double GetWeight(long timestamp)
    {
        double weight = _endpoint.Weight;
        long end = Volatile.Read(ref _slowStartEnd);
        if (timestamp >= end)
        {
            return weight;
        }

        long begin = Volatile.Read(ref _slowStartBegin);
        SlowStartOptions slowStart = _client.Options.SlowStart;
        double progress = Math.Clamp((double)(timestamp - begin) / Math.Max(1, end - begin), 0, 1);
        double factor = Math.Max(slowStart.MinimumWeightPercent / 100.0, Math.Pow(progress, 1 / slowStart.Aggression));
        return weight * factor;
    }

    /// <summary>
    /// The peak-sensitive EWMA of response times in seconds at <paramref name="timestamp"/>, decayed towards zero since
    /// the last observation so that an idle endpoint becomes attractive again; 0 before the first response. Kept only
    /// while a PeakEwma or custom balancer serves some method of the client.
    /// </summary>
    public double GetLatencyEwma(long timestamp)
    {
        double ewma = Volatile.Read(ref _latencyEwmaTicks);
        if (ewma == 0)
        {
            return 0;
        }

        long stamp = Volatile.Read(ref _latencyStamp);
        double elapsed = Math.Max(0, timestamp - stamp);
        double tau = _client.Options.PeakEwmaDecay.TotalSeconds * _client.TimeProvider.TimestampFrequency;
        return ewma * Math.Exp(-elapsed / tau) / _client.TimeProvider.TimestampFrequency;
    }

    internal void BeginSlowStart(long now)
    {
        TimeSpan window = _client.Options.SlowStart.Window;
        if (window <= TimeSpan.Zero)
        {
            return;
        }

        Volatile.Write(ref _slowStartBegin, now);
        Volatile.Write(ref _slowStartEnd, now + (long)(window.TotalSeconds * _client.TimeProvider.TimestampFrequency));
    }

    internal void UpdateEndpoint(RpcEndpoint endpoint) => _endpoint = endpoint;

    internal void CallStarted() => Interlocked.Increment(ref _inFlight);

    /// <summary>Records the end of an attempt: in-flight count, latency (successes only) and health.</summary>
    internal void CallEnded(long startTimestamp, long endTimestamp, CallOutcome outcome)
    {
        Interlocked.Decrement(ref _inFlight);
        if (outcome == CallOutcome.Success && _client.TracksLatency)
        {
            ObserveLatency(endTimestamp - startTimestamp, endTimestamp);
        }

        _client.Health.Record(this, outcome);
    }

    internal void ObserveLatency(long rttTicks, long now)
    {
        lock (_latencyLock)
        {
            double ewma = _latencyEwmaTicks;
            if (rttTicks > ewma)
            {
                ewma = rttTicks; // peak: jump up at once
            }
            else
            {
                double tau = _client.Options.PeakEwmaDecay.TotalSeconds * _client.TimeProvider.TimestampFrequency;
                double w = Math.Exp(-Math.Max(0, now - _latencyStamp) / tau);
                ewma = (ewma * w) + (rttTicks * (1 - w));
            }

            Volatile.Write(ref _latencyEwmaTicks, ewma);
            Volatile.Write(ref _latencyStamp, now);
        }
    }

    /// <summary>Takes the load report a server attaches to its responses.</summary>
    internal void OnServerLoad(int inFlight, int utilizationBasisPoints)
    {
        Volatile.Write(ref _serverInFlight, inFlight);
        Volatile.Write(ref _othersInFlight, Math.Max(0, inFlight - InFlight));
        Volatile.Write(ref _serverUtilizationBasisPoints, utilizationBasisPoints);
        Volatile.Write(ref _serverReportTimestamp, _client.TimeProvider.GetTimestamp());
    }

    internal ValueTask<ClientConnection> GetConnectionAsync(CancellationToken cancellationToken)
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
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_client.DisposalToken);
            timeout.CancelAfter(options.ConnectTimeout);
            TransportConnection transport;
            if (Endpoint.IsInProcess)
            {
                transport = InProcessTransport.Connect(Endpoint.Host);
            }
            else
            {
                transport = await TransportConnection.ConnectTcpAsync(Endpoint.Host, Endpoint.Port, timeout.Token).ConfigureAwait(false);
            }

            ClientConnection connection = await ClientConnection.EstablishAsync(
                transport, options.MaxFrameSize, _client.TimeProvider, options.ConnectTimeout, OnUnusable, OnServerLoad, timeout.Token).ConfigureAwait(false);

            lock (_lock)
            {
                _connection = connection;
                _connecting = null;
                _failures = 0;
                _lastError = null;
            }

            _client.Logger.LogDebug("Connected to {Endpoint}.", Endpoint);
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
                    new RpcException(RpcStatusCode.Unavailable, $"Connecting to {Endpoint} timed out after {options.ConnectTimeout.TotalMilliseconds:0} ms.", ex) { NotProcessed = true, Endpoint = Endpoint.ToString() },
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

            _client.Logger.LogWarning("Connecting to {Endpoint} failed ({Failures} in a row): {Error}", Endpoint, _failures, error.Message);
            throw error;
        }
    }

    private long BackoffTicks(int failures)
    {
        RpcClientOptions options = _client.Options;
        double ms = options.ReconnectBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        ms = Math.Min(ms, options.MaxReconnectBackoff.TotalMilliseconds);
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
    }

    internal async Task CloseAsync()
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

    internal ClientConnection? CurrentConnection => _connection;

    /// <inheritdoc />
    public override string ToString() => $"{Endpoint} (in flight {InFlight}{(IsEjected ? ", ejected" : string.Empty)})";
}
