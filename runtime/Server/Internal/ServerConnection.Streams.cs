using System;
using RpcGen.Protocol;

namespace RpcGen.Server.Internal;

// The streams of a server connection: the limits on open streams, and the frames of streams (items from the client,
// its half-close, and its credit for the handler's items).
internal partial class ServerConnection
{
    /// <summary>
    /// Counts a stream about to open, or refuses its request (ResourceExhausted, not processed, with a pushback) when
    /// the connection or the server has as many streams open as its limits allow. True when it refused.
    /// </summary>
    private bool RefuseStreamOverLimit(uint callId)
    {
        RpcServerLimits limits = Server.Options.Limits;
        string message;
        string limit;
        lock (_lock)
        {
            if (_streamCount < limits.MaxConcurrentStreamsPerConnection)
            {
                if (Server.TryStartStream())
                {
                    _streamCount++;
                    return false;
                }

                limit = "streams";
                message = $"The server has {limits.MaxConcurrentStreams} streams open, its limit (RpcServerOptions.Limits.MaxConcurrentStreams); " +
                    "the request was not processed.";
            }
            else
            {
                limit = "streams_per_connection";
                message = $"The connection has {limits.MaxConcurrentStreamsPerConnection} streams open, its limit " +
                    "(RpcServerOptions.Limits.MaxConcurrentStreamsPerConnection); the request was not processed.";
            }
        }

        ServerTelemetry.Refused(limit);
        SendError(callId, RpcStatusCode.ResourceExhausted, message, FrameFlags.NotProcessed, ServerLimits.PushbackMilliseconds);
        return true;
    }

    private void StreamEnded()
    {
        lock (_lock)
        {
            _streamCount--;
        }

        Server.StreamEnded();
    }

    /// <summary>
    /// A frame of a call's streams. Frames for a call that is not (or no longer) in flight are dropped: a stream the
    /// handler ended may still have items on the wire. A client that breaks the stream's rules (items beyond its
    /// credit, a malformed frame) fails its call: the handler's token fires and its stream throws what was wrong.
    /// A handler that waited for the items is woken at the end, where handlers run. False: the
    /// handler held the read loop past the hand-off budget and another thread reads now.
    /// </summary>
    private bool OnStreamFrame(in FrameHeader header, ReadOnlySpan<byte> body)
    {
        ServerStream? stream;
        RpcServerCall? call;
        int generation;
        lock (_lock)
        {
            if (!_inFlight.TryGetValue(header.CallId, out call) || call.Stream is null)
            {
                return true;
            }

            stream = call.Stream;
            generation = call.Generation;
        }

        string? problem;
        switch (header.Type)
        {
            case FrameType.StreamItems when header.Encoding == 0:
                problem = stream.OnItems(body, header.Flags);
                break;
            case FrameType.StreamItems:
            {
                // Compressed items: inflated within the largest frame (checked before anything is inflated).
                byte[]? inflated = Transport.FrameCompression.Inflate(header.Encoding, ProtocolConstants.AllCompression, body,
                    Server.Options.Limits.MaxFrameSize, out int length, out problem, out _);
                if (inflated is not null)
                {
                    problem = stream.OnItems(inflated.AsSpan(0, length), header.Flags);
                    Transport.BufferPool.Return(inflated);
                }

                break;
            }
            case FrameType.StreamEnd:
                problem = stream.Inbox is null ? "the client ended a stream of a method that takes none" : null;
                stream.Inbox?.Complete(null);
                break;
            default:
                if (StreamFrames.TryReadCredit(body, out uint items, out uint bytes))
                {
                    stream.Credit?.Grant(items, bytes);
                    problem = null;
                }
                else
                {
                    problem = "malformed credit frame";
                }

                break;
        }

        if (problem is not null && stream.Violation is null)
        {
            var violation = new RpcException(RpcStatusCode.Internal, $"The stream of '{call.Method.FullName}' failed: {problem}.");
            stream.Violation = violation;
            stream.Inbox?.Complete(violation);
            call.Cancel(generation);
        }

        // A handler that waited for the items wakes where handlers run: inline (RunHandlersInline, the default) or on the pool.
        return stream.Inbox is not { } inbox || WakeStreamReader(inbox, Server.Options.RunHandlersInline);
    }
}
