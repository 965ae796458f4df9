using System.Net;
using System.Net.Sockets;

namespace RpcGen.Tests.Support;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of one server, that injects the faults of a real network on purpose: resets
/// (every connection through it is aborted with RST), a black hole (bytes stop moving both ways and new connections
/// are accepted by the kernel but never served, as when a link drops packets) and the heal (bytes move again). It counts
/// the bytes it moves each way and can limit them to a link's bandwidth (<see cref="BytesPerSecond"/>).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly RpcEndpoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(Socket Client, Socket Server)> _pairs = new();
    private readonly object _lock = new();
    private TaskCompletionSource _healed = CompletedSource();
    private readonly Task _accepting;
    private int _resets;
    private long _toServer;
    private long _toClient;
    private readonly Pacer _upPacer = new();
    private readonly Pacer _downPacer = new();

    private FaultProxy(RpcEndpoint upstream)
    {
        _upstream = upstream;
        _listener.Start();
        Endpoint = new RpcEndpoint("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);
        _accepting = AcceptAsync();
    }

    /// <summary>Where clients connect.</summary>
    public RpcEndpoint Endpoint { get; }

    /// <summary>Connections reset so far.</summary>
    public int Resets => Volatile.Read(ref _resets);

    public static FaultProxy Start(RpcEndpoint upstream) => new(upstream);

    /// <summary>Bytes moved from clients to the server so far.</summary>
    public long BytesToServer => Interlocked.Read(ref _toServer);

    /// <summary>Bytes moved from the server to clients so far.</summary>
    public long BytesToClient => Interlocked.Read(ref _toClient);

    /// <summary>
    /// The link's bandwidth each way, shared by every connection through the proxy (as one WAN link is); null (the
    /// default) moves bytes as fast as loopback does.
    /// </summary>
    public long? BytesPerSecond { get; set; }

    private static TaskCompletionSource CompletedSource()
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        source.SetResult();
        return source;
    }

    /// <summary>Aborts every open connection with a TCP reset, as a crashed middlebox or a killed peer would.</summary>
    public void ResetAll()
    {
        List<(Socket Client, Socket Server)> pairs;
        lock (_lock)
        {
            pairs = new List<(Socket, Socket)>(_pairs);
            _pairs.Clear();
        }

        foreach ((Socket client, Socket server) in pairs)
        {
            Interlocked.Increment(ref _resets);
            Abort(client);
            Abort(server);
        }
    }

    private static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // close with RST
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
            // Its pump ended and closed it meanwhile.
        }
    }

    /// <summary>From now on no byte moves and new connections are not served, until <see cref="Heal"/>.</summary>
    public void BlackHole()
    {
        lock (_lock)
        {
            if (_healed.Task.IsCompleted)
            {
                _healed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Bytes move again; held connections go on where they were.</summary>
    public void Heal()
    {
        lock (_lock)
        {
            _healed.TrySetResult();
        }
    }

    private Task Healed
    {
        get
        {
            lock (_lock)
            {
                return _healed.Task;
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        try
        {
            await Healed.WaitAsync(_stop.Token); // a black hole: accepted by the kernel, never answered
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await server.ConnectAsync(_upstream.Host, _upstream.Port, _stop.Token);
            client.NoDelay = true;
            lock (_lock)
            {
                _pairs.Add((client, server));
            }

            await Task.WhenAny(PumpAsync(client, server, toServer: true), PumpAsync(server, client, toServer: false));
            Forget(client, server);
        }
        catch (Exception)
        {
            // Reset, refused or stopped: the sockets go.
        }
    }

    private void Forget(Socket client, Socket server)
    {
        lock (_lock)
        {
            _pairs.Remove((client, server));
        }

        client.Dispose();
        server.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to, bool toServer)
    {
        byte[] buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                await Healed.WaitAsync(_stop.Token); // held, as a partitioned link holds packets
                if (BytesPerSecond is { } rate)
                {
                    TimeSpan wait = (toServer ? _upPacer : _downPacer).Reserve(read, rate);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, _stop.Token);
                    }
                }

                Interlocked.Add(ref toServer ? ref _toServer : ref _toClient, read);
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
            // Reset or stopped.
        }
    }

    /// <summary>One direction of a limited link: when the bytes sent through it may leave, at its rate.</summary>
    private sealed class Pacer
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly object _lock = new();
        private TimeSpan _free; // when the link is next idle

        /// <summary>Takes the link for <paramref name="bytes"/>; returns how long to wait before sending them.</summary>
        public TimeSpan Reserve(int bytes, long bytesPerSecond)
        {
            lock (_lock)
            {
                TimeSpan now = _clock.Elapsed;
                TimeSpan start = _free > now ? _free : now;
                _free = start + TimeSpan.FromSeconds((double)bytes / bytesPerSecond);
                return _free - now;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        ResetAll();
        try
        {
            await _accepting;
        }
        catch (Exception)
        {
        }

        _stop.Dispose();
    }
}
