using System;
using System.Threading;
using RpcGen.Protocol;

namespace RpcGen.Server.Internal;

// The limits a server connection keeps against slow or stalled peers: idle and frame timeouts, oversize frames.
internal partial class ServerConnection
{
    protected override void OnReadProcessed(bool midFrame)
    {
        if (!midFrame)
        {
            Volatile.Write(ref _frameStarted, 0);
        }
        else if (Volatile.Read(ref _frameStarted) == 0)
        {
            Volatile.Write(ref _frameStarted, Math.Max(1, Server.TimeProvider.GetTimestamp()));
        }
    }

    /// <summary>
    /// The server's heartbeat: closes the connection when a frame has been arriving for longer than FrameTimeout (a
    /// peer stalled mid-frame), and says goodbye when it has had no call and no request for IdleTimeout.
    /// </summary>
    internal void CheckTimeouts(long now)
    {
        if (!_established || IsClosed)
        {
            return;
        }

        RpcServerOptions options = Server.Options;
        TimeProvider time = Server.TimeProvider;
        long frameStarted = Volatile.Read(ref _frameStarted);
        if (frameStarted != 0 && time.GetElapsedTime(frameStarted, now) >= options.Limits.FrameTimeout)
        {
            ServerTelemetry.ConnectionClosed("frame");
            if (Server.RefusalLog.ShouldLog(Telemetry.ConnectionEvent.FrameTimedOut, Remote))
            {
                Telemetry.RpcGenLog.FrameTimedOut(Server.Logger, Remote, options.Limits.FrameTimeout);
            }
            Close(new System.IO.IOException($"A frame from {Remote} did not finish arriving within {options.Limits.FrameTimeout.TotalMilliseconds:0} ms."));
            return;
        }

        // A peer that does not read: queued responses that have not moved since the drain timeout are given up on.
        long flushes = Output.FlushCount;
        if (Output.QueuedBytes == 0 || flushes != _outputFlushesSeen)
        {
            _outputFlushesSeen = flushes;
            _outputStuckSince = now;
        }
        else if (time.GetElapsedTime(_outputStuckSince, now) >= options.Limits.ResponseDrainTimeout)
        {
            ServerTelemetry.ConnectionClosed("drain");
            if (Server.RefusalLog.ShouldLog(Telemetry.ConnectionEvent.ResponsesNotRead, Remote))
            {
                Telemetry.RpcGenLog.ResponsesNotRead(Server.Logger, Remote, Output.QueuedBytes, options.Limits.ResponseDrainTimeout);
            }
            Close(new System.IO.IOException(
                $"{Remote} read none of the {Output.QueuedBytes} bytes queued for it within {options.Limits.ResponseDrainTimeout.TotalMilliseconds:0} ms (RpcServerOptions.Limits.ResponseDrainTimeout)."));
            return;
        }

        if (CheckKeepAlive(now, options.Limits))
        {
            return;
        }

        if (options.Limits.IdleTimeout != Timeout.InfiniteTimeSpan && Volatile.Read(ref _callCount) == 0 &&
            time.GetElapsedTime(Volatile.Read(ref _lastActivity), now) >= options.Limits.IdleTimeout)
        {
            bool goingAway;
            lock (_lock)
            {
                goingAway = _goingAway || _inFlight.Count > 0;
            }

            if (!goingAway)
            {
                ServerTelemetry.ConnectionClosed("idle");
                Telemetry.RpcGenLog.ConnectionIdle(Server.Logger, Remote, options.Limits.IdleTimeout);
                BeginGoAway();
            }
        }
    }

    /// <summary>
    /// Keepalive of a connection with streams open: pings it once nothing has arrived for KeepAliveInterval, and closes
    /// it when nothing (the pong, or anything else) arrives within KeepAliveTimeout of the ping. True when it closed.
    /// </summary>
    private bool CheckKeepAlive(long now, RpcServerLimits limits)
    {
        if (limits.KeepAliveInterval == Timeout.InfiniteTimeSpan || Volatile.Read(ref _streamCount) == 0)
        {
            _keepAlivePingAt = 0;
            return false;
        }

        TimeProvider time = Server.TimeProvider;
        long lastRead = LastReadTimestamp;
        if (_keepAlivePingAt != 0 && lastRead < _keepAlivePingAt)
        {
            if (time.GetElapsedTime(_keepAlivePingAt, now) < limits.KeepAliveTimeout)
            {
                return false;
            }

            ServerTelemetry.ConnectionClosed("keepalive");
            Close(new System.IO.IOException(
                $"{Remote} did not answer a keepalive ping within {limits.KeepAliveTimeout.TotalMilliseconds:0} ms " +
                "(RpcServerOptions.Limits.KeepAliveTimeout)."));
            return true;
        }

        if (time.GetElapsedTime(lastRead, now) >= limits.KeepAliveInterval)
        {
            _keepAlivePingAt = now;
            Span<byte> frame = stackalloc byte[FrameEncoder.PingLength];
            FrameEncoder.WritePing(frame, (ulong)now);
            Output.TryEnqueue(frame);
        }

        return false;
    }

    protected override void OnOversizeFrame(in FrameHeader header, uint length)
    {
        if (header.Type == FrameType.Request)
        {
            SendError(header.CallId, RpcStatusCode.ResourceExhausted,
                $"The request of {length} bytes exceeds the server's maximum frame size of {MaxFrameSize} bytes (RpcServerOptions.Limits.MaxFrameSize).",
                FrameFlags.NotProcessed);
        }
    }
}
