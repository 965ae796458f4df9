using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RpcGen.Balancing;

namespace RpcGen.Etcd;

/// <summary>
/// A server's endpoints registered in etcd under a lease (<see cref="TimeToLive"/>, a few seconds) that a background
/// loop keeps alive. When the lease is lost (etcd restarted from an old snapshot, a partition longer than the TTL),
/// the loop registers again under a new one. <see cref="DeregisterAsync"/> revokes the lease, which deletes the keys
/// at once: call it before the server drains, so clients stop picking it while its calls in flight finish. A server
/// that dies without deregistering disappears from clients when its lease expires.
/// </summary>
public sealed class EtcdRegistration : IAsyncDisposable
{
    private readonly EtcdOptions _options;
    private readonly string _service;
    private readonly IReadOnlyList<(string Key, string Value)> _records;
    private readonly ILogger _logger;
    private readonly EtcdConnection _connection;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private long _lease;

    private EtcdRegistration(EtcdOptions options, string service, IReadOnlyList<(string, string)> records, TimeSpan ttl, ILogger? logger)
    {
        _options = options;
        _service = service;
        _records = records;
        TimeToLive = ttl;
        _logger = logger ?? NullLogger.Instance;
        _connection = new EtcdConnection(options);
    }

    /// <summary>The lease's time to live: how long a killed server stays visible to clients at most.</summary>
    public TimeSpan TimeToLive { get; }

    /// <summary>The current lease id (0 while not registered).</summary>
    public long Lease => Volatile.Read(ref _lease);

    /// <summary>True once the endpoints are in etcd under a live lease; false while etcd could not be reached.</summary>
    public bool IsRegistered => Lease != 0;

    /// <summary>Why the last attempt to register or renew failed (it names etcd and the server tried), or null.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    private string? _lastError;
    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the endpoints are first in etcd (at once if they are); cancelling it leaves the registration going.</summary>
    public Task WaitUntilRegisteredAsync(CancellationToken cancellationToken = default) => _registered.Task.WaitAsync(cancellationToken);

    /// <summary>
    /// Registers <paramref name="endpoints"/> as <paramref name="service"/>'s and keeps them alive until
    /// <see cref="DeregisterAsync"/> or disposal. <paramref name="timeToLive"/> defaults to 5 seconds (at least 2).
    /// Returns once the keys are written, or once the first attempt has failed because etcd could not be reached: then
    /// registration goes on in the background, retrying with backoff (<see cref="EtcdOptions.RetryInterval"/>, doubling
    /// up to 30 times it), while the server serves; <see cref="IsRegistered"/>, <see cref="LastError"/> and
    /// <see cref="WaitUntilRegisteredAsync"/> tell where it is. Invalid arguments throw at once.
    /// </summary>
    public static async Task<EtcdRegistration> RegisterAsync(EtcdOptions options, string service, IEnumerable<RpcEndpoint> endpoints,
        TimeSpan? timeToLive = null, string? version = null, bool tls = false, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentNullException.ThrowIfNull(endpoints);
        options.Validate();
        TimeSpan ttl = timeToLive ?? TimeSpan.FromSeconds(5);
        if (ttl < TimeSpan.FromSeconds(2))
        {
            throw new ArgumentOutOfRangeException(nameof(timeToLive), ttl, "An etcd lease lives at least 2 seconds (etcd counts whole seconds and needs time to renew it).");
        }

        var records = new List<(string, string)>();
        foreach (RpcEndpoint endpoint in endpoints)
        {
            if (endpoint.Port == 0)
            {
                throw new ArgumentException($"{endpoint} is an in-process endpoint; only TCP endpoints can be registered.", nameof(endpoints));
            }

            records.Add((options.ServicePrefix(service) + endpoint.Host + ":" + endpoint.Port, EtcdEndpointRecord.From(endpoint, version, tls).ToJson()));
        }

        if (records.Count == 0)
        {
            throw new ArgumentException("There is no endpoint to register.", nameof(endpoints));
        }

        var registration = new EtcdRegistration(options, service, records, ttl, logger);
        try
        {
            await registration.RegisterOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsEtcdFailure(ex) && !cancellationToken.IsCancellationRequested)
        {
            // etcd is down or unreachable: serve anyway, and register as soon as it answers.
            registration.Failed(ex);
        }
        catch
        {
            registration._connection.Dispose();
            throw;
        }

        registration._loop = Task.Run(registration.KeepAliveLoopAsync);
        return registration;
    }

    /// <summary>A failure of etcd or of the way to it (as opposed to a bug or a cancellation by the caller).</summary>
    private static bool IsEtcdFailure(Exception ex) =>
        ex is Grpc.Core.RpcException or System.Net.Http.HttpRequestException or System.IO.IOException or OperationCanceledException;

    /// <summary>Records a failed attempt: its message names etcd and the server tried, for logs, health and errors.</summary>
    private string Failed(Exception ex)
    {
        string message = $"etcd at {_connection.Server} failed: {Describe(ex)}";
        Volatile.Write(ref _lastError, message);
        EtcdLog.RegistrationFailed(_logger, _service, _connection.Server, Describe(ex));
        return message;
    }

    private static string Describe(Exception ex) => ex switch
    {
        Grpc.Core.RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        OperationCanceledException => "no answer in time",
        _ => ex.Message,
    };

    private async Task RegisterOnceAsync(CancellationToken cancellationToken)
    {
        LeaseGrantResponse grant = await _connection.Lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)Math.Ceiling(TimeToLive.TotalSeconds) },
            deadline: _connection.Deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach ((string key, string value) in _records)
        {
            await _connection.KV.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value), Lease = grant.ID },
                deadline: _connection.Deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        Volatile.Write(ref _lease, grant.ID);
        Volatile.Write(ref _lastError, null);
        _registered.TrySetResult();
        EtcdLog.Registered(_logger, _records.Count, _service, grant.ID, grant.TTL);
    }

    /// <summary>Renews the lease every third of its TTL; registers again when it is lost or etcd fails for longer.</summary>
    private async Task KeepAliveLoopAsync()
    {
        CancellationToken stop = _stop.Token;
        TimeSpan every = TimeToLive / 3;
        int failures = Lease == 0 ? 1 : 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (Lease == 0)
                {
                    if (failures > 0)
                    {
                        // Backoff: RetryInterval, doubling per failure, up to 30 times it.
                        TimeSpan wait = TimeSpan.FromTicks(_options.RetryInterval.Ticks * Math.Min(30, 1L << Math.Min(failures - 1, 5)));
                        await Task.Delay(wait, stop).ConfigureAwait(false);
                        _connection.Rotate();
                    }

                    try
                    {
                        await RegisterOnceAsync(stop).ConfigureAwait(false);
                        failures = 0;
                    }
                    catch (Exception ex) when (!stop.IsCancellationRequested && IsEtcdFailure(ex))
                    {
                        failures++;
                        Failed(ex);
                        continue;
                    }
                }

                using AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> keepAlive = _connection.Lease.LeaseKeepAlive(cancellationToken: stop);
                while (!stop.IsCancellationRequested)
                {
                    await keepAlive.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = Lease }, stop).ConfigureAwait(false);
                    using var answer = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    answer.CancelAfter(_options.RequestTimeout);
                    if (!await keepAlive.ResponseStream.MoveNext(answer.Token).ConfigureAwait(false))
                    {
                        throw new System.IO.IOException("The etcd keepalive stream ended.");
                    }

                    if (keepAlive.ResponseStream.Current.TTL <= 0)
                    {
                        Volatile.Write(ref _lease, 0); // expired: etcd deleted our keys
                        throw new System.IO.IOException("the lease expired");
                    }

                    await Task.Delay(every, stop).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (!stop.IsCancellationRequested)
            {
                Volatile.Write(ref _lastError, $"etcd at {_connection.Server} failed: {Describe(ex)}");
                EtcdLog.RegistrationLost(_logger, _service, $"etcd at {_connection.Server}: {Describe(ex)}");
                _connection.Rotate();
                try
                {
                    await Task.Delay(_options.RetryInterval, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                // The lease may have survived a short outage: keep it unless etcd says it is gone.
                await CheckLeaseAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task CheckLeaseAsync(CancellationToken stop)
    {
        try
        {
            LeaseTimeToLiveResponse left = await _connection.Lease.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = Lease },
                deadline: _connection.Deadline, cancellationToken: stop).ConfigureAwait(false);
            if (left.TTL <= 0)
            {
                Volatile.Write(ref _lease, 0);
            }
        }
        catch (Exception) when (!stop.IsCancellationRequested)
        {
            // Still unreachable: the next turn of the loop tries again.
        }
    }

    /// <summary>
    /// Removes the endpoints from etcd now (revokes the lease) and stops renewing it. Call before the server drains;
    /// clients see the deletion through their watch and stop sending new calls.
    /// </summary>
    public async Task DeregisterAsync(CancellationToken cancellationToken = default)
    {
        await StopLoopAsync().ConfigureAwait(false);
        long lease = Interlocked.Exchange(ref _lease, 0);
        if (lease != 0)
        {
            try
            {
                await _connection.Lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, deadline: _connection.Deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsEtcdFailure(ex) && !cancellationToken.IsCancellationRequested)
            {
                // RpcGen's exception, naming etcd: code that catches RpcGen's errors catches this one too.
                throw new RpcGen.RpcException(RpcGen.RpcStatusCode.Unavailable,
                    $"Deregistering '{_service}' failed: etcd at {_connection.Server} failed: {Describe(ex)}; the lease expires on its own within {TimeToLive.TotalSeconds:0} s.", ex);
            }

            EtcdLog.Deregistered(_logger, _service);
        }
    }

    /// <summary>
    /// Stops renewing the lease without revoking it, as a crashed server would: the endpoints stay in etcd until the
    /// lease expires. For tests and for handing the registration over.
    /// </summary>
    public Task AbandonAsync() => StopLoopAsync();

    private async Task StopLoopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }

        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop ends with the cancellation.
        }
    }

    /// <summary>Deregisters (best effort, when etcd is reachable) and releases the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await DeregisterAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcGen.RpcException or OperationCanceledException)
        {
            // etcd is unreachable: the lease expires on its own.
        }

        _connection.Dispose();
    }
}
