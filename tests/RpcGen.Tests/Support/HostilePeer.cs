using System.Net;
using System.Net.Sockets;

namespace RpcGen.Tests.Support;

/// <summary>
/// A TCP server on loopback that is not an RpcGen server and is not polite: it accepts connections and then, by
/// <see cref="Behaviour"/>, says nothing at all, or answers the handshake and then reads every request without ever
/// answering one. Used to prove that the client, not the peer, ends every call.
/// </summary>
public sealed class HostilePeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _accepted = new();
    private readonly Task _acceptLoop;
    private long _bytesRead;

    public enum Mode
    {
        /// <summary>Accepts TCP and never sends the preface.</summary>
        NeverHandshakes,

        /// <summary>Exchanges prefaces, then reads (and drops) every frame and never answers.</summary>
        NeverAnswers,
    }

    public HostilePeer(Mode behaviour)
    {
        Behaviour = behaviour;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Endpoint = new RpcEndpoint("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);
        _acceptLoop = AcceptAsync();
    }

    public Mode Behaviour { get; }

    public RpcEndpoint Endpoint { get; }

    /// <summary>Bytes the peer has read (requests it swallowed).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient tcp;
            try
            {
                tcp = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            lock (_accepted)
            {
                _accepted.Add(tcp);
            }

            _ = ServeAsync(tcp);
        }
    }

    private async Task ServeAsync(TcpClient tcp)
    {
        try
        {
            NetworkStream stream = tcp.GetStream();
            byte[] buffer = new byte[64 * 1024];
            if (Behaviour == Mode.NeverAnswers)
            {
                await stream.ReadExactlyAsync(buffer.AsMemory(0, 8), _stop.Token);
                await stream.WriteAsync(new byte[] { 0x52, 0x50, 0x43, 0x47, 1, 2, 0, 0 }, _stop.Token); // "RPCG", v1, server
            }

            while (true)
            {
                int read = await stream.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                Interlocked.Add(ref _bytesRead, read);
            }
        }
        catch (Exception)
        {
            // Closed by either side.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_accepted)
        {
            foreach (TcpClient tcp in _accepted)
            {
                tcp.Dispose();
            }
        }

        await _acceptLoop;
        _stop.Dispose();
    }
}

/// <summary>
/// A clock whose timers fire early (at a fraction of their due time), as real timers may by up to their resolution:
/// code that trusts a timer to fire no sooner than asked is caught by it. Time itself is the system's.
/// </summary>
public sealed class EarlyTimerTimeProvider : TimeProvider
{
    private readonly double _fraction;

    public EarlyTimerTimeProvider(double fraction = 0.5) => _fraction = fraction;

    /// <summary>Timers created so far.</summary>
    public int TimersCreated;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref TimersCreated);
        return new EarlyTimer(System.CreateTimer(callback, state, Early(dueTime), Early(period)), _fraction);
    }

    private TimeSpan Early(TimeSpan span) => span <= TimeSpan.Zero || span == Timeout.InfiniteTimeSpan ? span : span * _fraction;

    private sealed class EarlyTimer(ITimer inner, double fraction) : ITimer
    {
        private static TimeSpan Scale(TimeSpan span, double f) => span <= TimeSpan.Zero || span == Timeout.InfiniteTimeSpan ? span : span * f;

        public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(Scale(dueTime, fraction), Scale(period, fraction));

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
