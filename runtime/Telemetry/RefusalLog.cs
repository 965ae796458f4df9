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
    private readonly Kind[] _kinds = new Kind[6];

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

    public void ConnectionLimitReached(object? remote, int limit)
    {
        if (Admit(0, "connection refused at RpcServerOptions.MaxConnections", remote))
        {
            RpcGenLog.ConnectionLimitReached(_logger, remote, limit);
        }
    }

    public void TlsHandshakeFailed(object? remote, string reason)
    {
        if (Admit(1, "TLS handshake failed", remote))
        {
            RpcGenLog.TlsHandshakeFailed(_logger, remote, reason);
        }
    }

    public void PrefaceRefused(object? remote, string reason)
    {
        if (Admit(2, "preface refused", remote))
        {
            RpcGenLog.PrefaceRefused(_logger, remote, reason);
        }
    }

    public void FrameTimedOut(object? remote, TimeSpan timeout)
    {
        if (Admit(3, "frame timed out", remote))
        {
            RpcGenLog.FrameTimedOut(_logger, remote, timeout);
        }
    }

    public void ConnectionClosedForAbuse(object? remote, string reason)
    {
        if (Admit(4, "connection closed for abuse", remote))
        {
            RpcGenLog.ConnectionClosedForAbuse(_logger, remote, reason);
        }
    }

    public void ResponsesNotRead(object? remote, long bytes, TimeSpan timeout)
    {
        if (Admit(5, "responses not read", remote))
        {
            RpcGenLog.ResponsesNotRead(_logger, remote, bytes, timeout);
        }
    }

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

    /// <summary>True when this event is the first of its kind in the interval (log it); otherwise it is counted.</summary>
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
