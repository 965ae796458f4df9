using System;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>
/// The one place that lays out each frame kind (docs/protocol.md): header, then the kind's fixed fields. Frames whose
/// body is serialized in place (request, response) are written around it: the caller reserves the prefix, serializes
/// behind it, then calls the writer with the final length. Nothing here allocates.
/// </summary>
internal static class FrameEncoder
{
    /// <summary>Bytes of a ping, pong or goaway frame; a cancel frame is a bare header.</summary>
    public const int PingLength = ProtocolConstants.HeaderLength + 8;

    public const int GoAwayLength = ProtocolConstants.HeaderLength + 4;

    public const int CancelLength = ProtocolConstants.HeaderLength;

    /// <summary>Bytes in front of a response's serialized result: header and load report.</summary>
    public const int ResponsePrefixLength = ProtocolConstants.HeaderLength + LoadReport.Length;

    /// <summary>Bytes in front of a request's serialized arguments: header, timeout, method name, metadata, call id.</summary>
    public static int RequestPrefixLength(int methodNameLength, bool callId) =>
        ProtocolConstants.HeaderLength + RequestBody.PrefixLength(methodNameLength, callId);

    /// <summary>
    /// Completes a request frame whose arguments were serialized behind <see cref="RequestPrefixLength"/>; a non-empty
    /// <paramref name="idempotencyId"/> sets the CallId flag.
    /// </summary>
    public static void WriteRequest(
        Span<byte> frame, uint callId, FrameFlags flags, uint timeoutMilliseconds, ReadOnlySpan<byte> method, ReadOnlySpan<byte> idempotencyId)
    {
        if (!idempotencyId.IsEmpty)
        {
            flags |= FrameFlags.CallId;
        }

        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Request, flags, callId);
        RequestBody.WritePrefix(frame.Slice(ProtocolConstants.HeaderLength), timeoutMilliseconds, method, idempotencyId);
    }

    /// <summary>Completes a response frame whose result was serialized behind <see cref="ResponsePrefixLength"/> (an empty result: nothing behind it).</summary>
    public static void WriteResponse(Span<byte> frame, uint callId, int serverInFlight, int utilizationBasisPoints)
    {
        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Response, FrameFlags.LoadReport, callId);
        LoadReport.Write(frame.Slice(ProtocolConstants.HeaderLength), serverInFlight, utilizationBasisPoints);
    }

    /// <summary>Bytes of an error frame with a load report (the message is cut at <see cref="ErrorBody.MaxMessageBytes"/>).</summary>
    public static int ErrorLength(string message, bool pushback) =>
        ProtocolConstants.HeaderLength + LoadReport.Length + ErrorBody.Length(message, pushback);

    /// <summary>Writes an error frame of <see cref="ErrorLength"/> bytes: header, load report, status, message, pushback.</summary>
    public static void WriteError(
        Span<byte> frame, uint callId, RpcStatusCode code, string message, FrameFlags flags, int? pushbackMs, int serverInFlight, int utilizationBasisPoints)
    {
        flags |= FrameFlags.LoadReport;
        if (pushbackMs is not null)
        {
            flags |= FrameFlags.Pushback;
        }

        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Error, flags, callId);
        LoadReport.Write(frame.Slice(ProtocolConstants.HeaderLength), serverInFlight, utilizationBasisPoints);
        ErrorBody.Write(frame.Slice(ProtocolConstants.HeaderLength + LoadReport.Length), code, message, pushbackMs);
    }

    /// <summary>A cancel frame: the caller gave up on <paramref name="callId"/>.</summary>
    public static void WriteCancel(Span<byte> frame, uint callId) =>
        FrameHeader.Write(frame, 0, FrameType.Cancel, FrameFlags.None, callId);

    /// <summary>A ping frame carrying <paramref name="id"/>, which the pong echoes.</summary>
    public static void WritePing(Span<byte> frame, ulong id)
    {
        FrameHeader.Write(frame, 8, FrameType.Ping, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.Slice(ProtocolConstants.HeaderLength), id);
    }

    /// <summary>The answer to a ping: its 8-byte body echoed (zeros when a peer sent a body of another size).</summary>
    public static void WritePong(Span<byte> frame, ReadOnlySpan<byte> pingBody)
    {
        FrameHeader.Write(frame, 8, FrameType.Pong, FrameFlags.None, 0);
        Span<byte> body = frame.Slice(ProtocolConstants.HeaderLength, 8);
        if (pingBody.Length == 8)
        {
            pingBody.CopyTo(body);
        }
        else
        {
            body.Clear();
        }
    }

    /// <summary>A goaway frame: the server takes no call above <paramref name="lastCallId"/> and closes once they end.</summary>
    public static void WriteGoAway(Span<byte> frame, uint lastCallId)
    {
        FrameHeader.Write(frame, 4, FrameType.GoAway, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(ProtocolConstants.HeaderLength), lastCallId);
    }
}
