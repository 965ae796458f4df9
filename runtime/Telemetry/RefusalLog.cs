using System;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace RpcGen.Telemetry;

/// <summary>
/// The server's connection-level warnings (refused connections, failed handshakes, closed abusers), which a hostile
/// peer can cause by the thousand: each kind logs its first event of an interval in full, and counts the rest; the
/// count is logged as one line when the interval is over (<see cref="Flush"/>, from the server's heartbeat, or the
/// next event). The counters (<c>rpcgen.server.refused</c>, <c>rpcgen.server.connections_closed</c>) still count
/// every one.
/// </summary>
internal sealed class RefusalLog
{
    /// <summary>How long a kind of event is logged once, then counted.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Kind[] _kinds = new Kind[6]; // one per ConnectionEvent

    public RefusalLog(ILogger logger, TimeProvider time)
    {
        _logger = logger;
        _time = time;
        for (int i = 0; i < _kinds.Length; i++)
        {
            _kinds[i] = new Kind();
        }
    }

    private sealed class Kind
    {
        public long WindowStart;
        public bool Open;
        public int Suppressed;
        public string Event = string.Empty;
        public object? LastRemote;
    }

    private static readonly string[] s_names =
    {
        "connection refused at RpcServerOptions.Limits.MaxConnections",
        "TLS handshake failed",
        "preface refused",
        "frame timed out",
        "connection closed for abuse",
        "responses not read",
    };

    /// <summary>
    /// True when this event is the first of its kind in the interval: the caller logs it (its message is formatted only
    /// then). Otherwise it is counted, and <see cref="Flush"/> logs the count.
    /// </summary>
    public bool ShouldLog(ConnectionEvent kind, object? remote) => Admit((int)kind, s_names[(int)kind], remote);

    /// <summary>Logs the count of each kind whose interval is over (the server's heartbeat calls it).</summary>
    public void Flush()
    {
        if (!_logger.IsEnabled(LogLevel.Warning))
        {
            return;
        }

        long now = _time.GetTimestamp();
        foreach (Kind kind in _kinds)
        {
            if (Volatile.Read(ref kind.Suppressed) == 0)
            {
                continue;
            }

            lock (kind)
            {
                if (kind.Open && _time.GetElapsedTime(kind.WindowStart, now) >= Interval)
                {
                    Summarize(kind);
                    kind.Open = false;
                }
            }
        }
    }

    private bool Admit(int index, string what, object? remote)
    {
        if (!_logger.IsEnabled(LogLevel.Warning))
        {
            return false;
        }

        Kind kind = _kinds[index];
        long now = _time.GetTimestamp();
        lock (kind)
        {
            if (kind.Open && _time.GetElapsedTime(kind.WindowStart, now) < Interval)
            {
                kind.Suppressed++;
                kind.Event = what;
                kind.LastRemote = remote;
                return false;
            }

            Summarize(kind);
            kind.Open = true;
            kind.WindowStart = now;
            return true;
        }
    }

    private void Summarize(Kind kind)
    {
        if (kind.Suppressed > 0)
        {
            RpcGenLog.EventsSuppressed(_logger, kind.Suppressed, kind.Event, Interval, kind.LastRemote);
            kind.Suppressed = 0;
        }
    }
}

/// <summary>The kinds of connection-level event <see cref="RefusalLog"/> rate-limits, each logged by its own message.</summary>
internal enum ConnectionEvent
{
    /// <summary>1004 ConnectionLimitReached.</summary>
    ConnectionLimitReached,

    /// <summary>1005 TlsHandshakeFailed.</summary>
    TlsHandshakeFailed,

    /// <summary>1006 PrefaceRefused.</summary>
    PrefaceRefused,

    /// <summary>1008 FrameTimedOut.</summary>
    FrameTimedOut,

    /// <summary>1017 ConnectionClosedForAbuse.</summary>
    ConnectionClosedForAbuse,

    /// <summary>1018 ResponsesNotRead.</summary>
    ResponsesNotRead,
}
