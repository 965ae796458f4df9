using System;
using System.Net.Http;
using System.Text;
using System.Threading;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace RpcGen.Etcd;

/// <summary>
/// One gRPC channel to one etcd server at a time, with HTTP/2 keepalive pings so a dead server or a cut network is
/// noticed within seconds (a watch stream would otherwise wait forever); <see cref="Rotate"/> moves to the next server.
/// </summary>
internal sealed class EtcdConnection : IDisposable
{
    private readonly EtcdOptions _options;
    private int _index = -1;
    private GrpcChannel? _channel;

    public EtcdConnection(EtcdOptions options)
    {
        _options = options;
        Rotate();
    }

    public KV.KVClient KV { get; private set; } = null!;

    public Watch.WatchClient Watch { get; private set; } = null!;

    public Lease.LeaseClient Lease { get; private set; } = null!;

    /// <summary>The server in use, for logs.</summary>
    public Uri Server => _options.Servers[_index];

    /// <summary>The deadline of one request made now.</summary>
    public DateTime Deadline => DateTime.UtcNow + _options.RequestTimeout;

    /// <summary>Moves to the next server of the list (the same one when there is one).</summary>
    public void Rotate()
    {
        _channel?.Dispose();
        _index = (_index + 1) % _options.Servers.Count;
        _channel = GrpcChannel.ForAddress(_options.Servers[_index], new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = _options.RequestTimeout,
                KeepAlivePingDelay = TimeSpan.FromSeconds(2),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(2),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                EnableMultipleHttp2Connections = true,
            },
        });
        KV = new KV.KVClient(_channel);
        Watch = new Watch.WatchClient(_channel);
        Lease = new Lease.LeaseClient(_channel);
    }

    /// <summary>The end of the key range that holds every key starting with <paramref name="prefix"/> (etcd's "prefix" convention).</summary>
    public static ByteString RangeEnd(string prefix)
    {
        byte[] end = Encoding.UTF8.GetBytes(prefix);
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xFF)
            {
                end[i]++;
                return ByteString.CopyFrom(end, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0); // every key
    }

    public void Dispose() => Interlocked.Exchange(ref _channel, null)?.Dispose();
}
