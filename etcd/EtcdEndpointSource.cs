using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using RpcGen.Balancing;

namespace RpcGen.Etcd;

/// <summary>
/// A service's endpoints from etcd, as an <see cref="IRpcEndpointSource"/>: it reads every key under
/// <c>{Prefix}{service}/</c>, then watches the prefix from the revision it read and applies each put and delete as a
/// live update. When etcd compacted past its revision it reads again; when the watch fails it moves to the next etcd
/// server and reads again after <see cref="EtcdOptions.RetryInterval"/>, and meanwhile the last known set stays in use
/// (<see cref="RpcEndpointSource.IsStale"/>). Reading starts with the first subscriber (a client, when it is created) or
/// <see cref="RpcEndpointSource.WaitForEndpointsAsync"/>.
/// </summary>
public sealed class EtcdEndpointSource : RpcEndpointSource
{
    private readonly EtcdOptions _options;
    private readonly string _service;
    private readonly Dictionary<string, RpcEndpoint> _byKey = new(StringComparer.Ordinal);
    private EtcdConnection? _connection; // made on the first read, so a source nobody subscribes to holds no channel
    private long _revision;

    /// <summary>A source of <paramref name="service"/>'s endpoints as registered in etcd (by <see cref="EtcdRegistration"/>).</summary>
    public EtcdEndpointSource(EtcdOptions options, string service, ILogger? logger = null)
        : base("etcd:" + service, Validated(options).RetryInterval, logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        _options = options;
        _service = service;
    }

    private static EtcdOptions Validated(EtcdOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }

    /// <summary>The etcd revision the endpoints reflect.</summary>
    public long Revision => Volatile.Read(ref _revision);

    /// <inheritdoc />
    protected override async Task ResolveAsync(CancellationToken cancellationToken)
    {
        string prefix = _options.ServicePrefix(_service);
        ByteString key = ByteString.CopyFromUtf8(prefix);
        ByteString end = EtcdConnection.RangeEnd(prefix);
        EtcdConnection connection = _connection ??= new EtcdConnection(_options);
        try
        {
            RangeResponse range = await connection.KV.RangeAsync(new RangeRequest { Key = key, RangeEnd = end }, deadline: _connection.Deadline, cancellationToken: cancellationToken).ConfigureAwait(false);
            _byKey.Clear();
            foreach (Mvccpb.KeyValue entry in range.Kvs)
            {
                Put(entry);
            }

            Volatile.Write(ref _revision, range.Header.Revision);
            Publish(_byKey.Values);
            await WatchAsync(connection, key, end, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Uri server = connection.Server;
            connection.Rotate(); // the next read goes to the next server of the list
            throw new InvalidOperationException($"etcd at {server} failed: {ex.Message}", ex);
        }
    }

    /// <summary>Applies the watch's events until it ends: cancelled, compacted past our revision, or broken.</summary>
    private async Task WatchAsync(EtcdConnection connection, ByteString key, ByteString end, CancellationToken stop)
    {
        using AsyncDuplexStreamingCall<WatchRequest, WatchResponse> watch = connection.Watch.Watch(cancellationToken: stop);
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
                EtcdLog.WatchRestarted(Logger, _service, response.CompactRevision, response.CancelReason);
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

            Volatile.Write(ref _revision, Math.Max(Revision, response.Header.Revision));
            if (response.Events.Count > 0)
            {
                Publish(_byKey.Values);
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
            EtcdLog.BadRecord(Logger, key, error ?? "empty value");
            _byKey.Remove(key);
            return;
        }

        _byKey[key] = endpoint;
    }

    /// <inheritdoc />
    protected override ValueTask DisposeCoreAsync()
    {
        _connection?.Dispose();
        return default;
    }
}
