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
/// A service's endpoints from etcd, as an <see cref="IRpcEndpointSource"/>: it reads every key under
/// <c>{Prefix}{service}/</c>, then watches the prefix from the revision it read and applies each put and delete as a
/// live update. When the watch fails or etcd compacted past its revision, it reads again and resumes; while etcd is
/// unreachable the last known set stays in use (<see cref="IsStale"/> is true, a warning is logged once per outage).
/// Create it with <see cref="StartAsync"/>, which returns after the first read.
/// </summary>
public sealed class EtcdEndpointSource : IRpcEndpointSource, IRpcEndpointSourceStatus, IAsyncDisposable
{
    private readonly EtcdOptions _options;
    private readonly string _service;
    private readonly ILogger _logger;
    private readonly StaticEndpointSource _current = new(Array.Empty<RpcEndpoint>());
    private readonly Dictionary<string, RpcEndpoint> _byKey = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly EtcdConnection _connection;
    private Task _loop = Task.CompletedTask;
    private volatile bool _stale;

    private EtcdEndpointSource(EtcdOptions options, string service, ILogger? logger)
    {
        options.Validate();
        ArgumentException.ThrowIfNullOrEmpty(service);
        _options = options;
        _service = service;
        _logger = logger ?? NullLogger.Instance;
        _connection = new EtcdConnection(options);
    }

    /// <summary>
    /// Starts watching <paramref name="service"/>'s endpoints and returns once the first read succeeded (the list may be
    /// empty: servers may register later). Fails with a <see cref="TimeoutException"/> when etcd cannot be read before
    /// <paramref name="cancellationToken"/> fires or 30 seconds pass.
    /// </summary>
    public static async Task<EtcdEndpointSource> StartAsync(EtcdOptions options, string service, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        EtcdEndpointSource source = Create(options, service, logger);
        try
        {
            source.EnsureStarted();
            await source._firstRead.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw source.NotRead();
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return source;
    }

    /// <summary>
    /// A source that starts reading when its first subscriber subscribes (an <see cref="RpcGen.Client.RpcClient"/> at creation), and
    /// makes that subscriber wait for the first read (at most 30 seconds), so a client starts with its endpoints.
    /// For DI, where nothing can be awaited at registration (RpcGen.Hosting's <c>UseEtcd</c>).
    /// </summary>
    public static EtcdEndpointSource Create(EtcdOptions options, string service, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new EtcdEndpointSource(options, service, logger);
    }

    private void EnsureStarted()
    {
        lock (_firstRead)
        {
            if (_loop.IsCompleted && !_stop.IsCancellationRequested && !_firstRead.Task.IsCompleted)
            {
                _loop = Task.Run(RunAsync);
            }
        }
    }

    private TimeoutException NotRead() =>
        new($"etcd at {string.Join(", ", _options.Servers)} could not be read within 30 s for service '{_service}'.");

    /// <inheritdoc />
    public string Name => "etcd:" + _service;

    /// <summary>The endpoints known now.</summary>
    public IReadOnlyList<RpcEndpoint> Endpoints => _current.Endpoints;

    /// <summary>True while etcd cannot be read or watched: <see cref="Endpoints"/> is the last known set.</summary>
    public bool IsStale => _stale;

    /// <summary>The etcd revision the endpoints reflect.</summary>
    public long Revision { get; private set; }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<IReadOnlyList<RpcEndpoint>> onChange)
    {
        if (!_firstRead.Task.IsCompleted)
        {
            EnsureStarted();
            if (!_firstRead.Task.Wait(TimeSpan.FromSeconds(30)))
            {
                throw NotRead();
            }
        }

        return _current.Subscribe(onChange);
    }

    private async Task RunAsync()
    {
        string prefix = _options.ServicePrefix(_service);
        ByteString key = ByteString.CopyFromUtf8(prefix);
        ByteString end = EtcdConnection.RangeEnd(prefix);
        CancellationToken stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                RangeResponse range = await _connection.KV.RangeAsync(new RangeRequest { Key = key, RangeEnd = end }, deadline: _connection.Deadline, cancellationToken: stop).ConfigureAwait(false);
                _byKey.Clear();
                foreach (Mvccpb.KeyValue entry in range.Kvs)
                {
                    Put(entry);
                }

                Revision = range.Header.Revision;
                Publish();
                Recovered();
                _firstRead.TrySetResult();
                await WatchAsync(key, end, stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stop.IsCancellationRequested)
            {
                Failed(ex);
                _connection.Rotate();
            }

            try
            {
                await Task.Delay(_options.RetryInterval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Applies the watch's events until it ends: cancelled, compacted past our revision, or broken.</summary>
    private async Task WatchAsync(ByteString key, ByteString end, CancellationToken stop)
    {
        using AsyncDuplexStreamingCall<WatchRequest, WatchResponse> watch = _connection.Watch.Watch(cancellationToken: stop);
        await watch.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = key, RangeEnd = end, StartRevision = Revision + 1, ProgressNotify = true },
        }, stop).ConfigureAwait(false);
        while (await watch.ResponseStream.MoveNext(stop).ConfigureAwait(false))
        {
            WatchResponse response = watch.ResponseStream.Current;
            if (response.CompactRevision > 0 || response.Canceled)
            {
                // Events between our revision and the compaction are gone: read the whole prefix again.
                EtcdLog.WatchRestarted(_logger, _service, response.CompactRevision, response.CancelReason);
                return;
            }

            foreach (Mvccpb.Event change in response.Events)
            {
                if (change.Type == Mvccpb.Event.Types.EventType.Put)
                {
                    Put(change.Kv);
                }
                else
                {
                    _byKey.Remove(change.Kv.Key.ToStringUtf8());
                }
            }

            Revision = Math.Max(Revision, response.Header.Revision);
            if (response.Events.Count > 0)
            {
                Publish();
            }
        }

        throw new System.IO.IOException("The etcd watch stream ended.");
    }

    private void Put(Mvccpb.KeyValue entry)
    {
        string key = entry.Key.ToStringUtf8();
        RpcEndpoint? endpoint = EtcdEndpointRecord.TryParse(entry.Value.Span, out string? error);
        if (endpoint is null)
        {
            EtcdLog.BadRecord(_logger, key, error ?? "empty value");
            _byKey.Remove(key);
            return;
        }

        _byKey[key] = endpoint;
    }

    private void Publish()
    {
        var endpoints = new List<RpcEndpoint>(_byKey.Values);
        endpoints.Sort(static (a, b) => string.CompareOrdinal(a.ToString(), b.ToString()));
        _current.Update(endpoints);
    }

    private void Failed(Exception error)
    {
        if (!_stale)
        {
            _stale = true;
            EtcdLog.SourceStale(_logger, _service, _connection.Server, _current.Endpoints.Count, error.Message);
        }
    }

    private void Recovered()
    {
        if (_stale)
        {
            _stale = false;
            EtcdLog.SourceRecovered(_logger, _service, _connection.Server, _current.Endpoints.Count);
        }
    }

    /// <summary>Stops watching; the last list stays with the subscribers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop ends with the cancellation.
        }

        _connection.Dispose();
        _stop.Dispose();
    }
}
