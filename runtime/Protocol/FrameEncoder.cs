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
    public static int RequestPrefixLength(int methodNameLength, bool callId, RpcMetadata? metadata = null) =>
        ProtocolConstants.HeaderLength + RequestBody.PrefixLength(methodNameLength, callId, MetadataCodec.Length(metadata));

    /// <summary>
    /// Completes a request frame whose arguments were serialized behind <see cref="RequestPrefixLength"/>; a non-empty
    /// <paramref name="idempotencyId"/> sets the CallId flag.
    /// </summary>
    public static void WriteRequest(
        Span<byte> frame, uint callId, FrameFlags flags, uint timeoutMilliseconds, ReadOnlySpan<byte> method, ReadOnlySpan<byte> idempotencyId, RpcMetadata? metadata = null)
    {
        if (!idempotencyId.IsEmpty)
        {
            flags |= FrameFlags.CallId;
        }

        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Request, flags, callId);
        RequestBody.WritePrefix(frame.Slice(ProtocolConstants.HeaderLength), timeoutMilliseconds, method, idempotencyId, metadata);
    }

    /// <summary>
    /// Bytes of the response metadata (headers and trailers, each a block) when either has entries, else 0: a call
    /// without response metadata sends the frame it always did.
    /// </summary>
    public static int ResponseMetadataLength(RpcMetadata? headers, RpcMetadata? trailers) =>
        headers is { Count: > 0 } || trailers is { Count: > 0 } ? MetadataCodec.Length(headers) + MetadataCodec.Length(trailers) : 0;

    /// <summary>
    /// Completes a response frame whose result was serialized behind <see cref="ResponsePrefixLength"/> plus
    /// <paramref name="metadataLength"/> (<see cref="ResponseMetadataLength"/>; an empty result: nothing behind it).
    /// </summary>
    public static void WriteResponse(
        Span<byte> frame, uint callId, int serverInFlight, int utilizationBasisPoints, int metadataLength = 0, RpcMetadata? headers = null, RpcMetadata? trailers = null)
    {
        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Response,
            metadataLength > 0 ? FrameFlags.LoadReport | FrameFlags.Metadata : FrameFlags.LoadReport, callId);
        LoadReport.Write(frame.Slice(ProtocolConstants.HeaderLength), serverInFlight, utilizationBasisPoints);
        if (metadataLength > 0)
        {
            WriteMetadata(frame.Slice(ResponsePrefixLength), headers, trailers);
        }
    }

    /// <summary>Bytes of an error frame with a load report (the message is cut at <see cref="ErrorBody.MaxMessageBytes"/>).</summary>
    public static int ErrorLength(string message, bool pushback, int metadataLength = 0) =>
        ProtocolConstants.HeaderLength + LoadReport.Length + metadataLength + ErrorBody.Length(message, pushback);

    /// <summary>Writes an error frame of <see cref="ErrorLength"/> bytes: header, load report, [metadata], status, message, pushback.</summary>
    public static void WriteError(
        Span<byte> frame, uint callId, RpcStatusCode code, string message, FrameFlags flags, int? pushbackMs, int serverInFlight, int utilizationBasisPoints,
        int metadataLength = 0, RpcMetadata? headers = null, RpcMetadata? trailers = null)
    {
        flags |= FrameFlags.LoadReport;
        if (pushbackMs is not null)
        {
            flags |= FrameFlags.Pushback;
        }

        if (metadataLength > 0)
        {
            flags |= FrameFlags.Metadata;
            WriteMetadata(frame.Slice(ResponsePrefixLength), headers, trailers);
        }

        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Error, flags, callId);
        LoadReport.Write(frame.Slice(ProtocolConstants.HeaderLength), serverInFlight, utilizationBasisPoints);
        ErrorBody.Write(frame.Slice(ResponsePrefixLength + metadataLength), code, message, pushbackMs);
    }

    /// <summary>A response's headers and trailers as the two blocks a frame carries; empty when both are null.</summary>
    public static byte[] EncodeMetadata(RpcMetadata? headers, RpcMetadata? trailers)
    {
        if (headers is null && trailers is null)
        {
            return Array.Empty<byte>();
        }

        byte[] encoded = new byte[ResponseMetadataLength(headers, trailers)];
        WriteMetadata(encoded, headers, trailers);
        return encoded;
    }

    /// <summary>A response frame whose metadata blocks are already encoded (a stored answer): header, load report, metadata, body.</summary>
    public static void WriteStoredResponse(
        Span<byte> frame, uint callId, int serverInFlight, int utilizationBasisPoints, ReadOnlySpan<byte> metadata, ReadOnlySpan<byte> body)
    {
        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Response,
            metadata.IsEmpty ? FrameFlags.LoadReport : FrameFlags.LoadReport | FrameFlags.Metadata, callId);
        LoadReport.Write(frame.Slice(ProtocolConstants.HeaderLength), serverInFlight, utilizationBasisPoints);
        metadata.CopyTo(frame.Slice(ResponsePrefixLength));
        body.CopyTo(frame.Slice(ResponsePrefixLength + metadata.Length));
    }

    /// <summary>An error frame of <see cref="ErrorLength"/> bytes whose metadata blocks are already encoded (a stored answer).</summary>
    public static void WriteStoredError(
        Span<byte> frame, uint callId, RpcStatusCode code, string message, int? pushbackMs, int serverInFlight, int utilizationBasisPoints,
        ReadOnlySpan<byte> metadata)
    {
        FrameFlags flags = FrameFlags.LoadReport;
        if (pushbackMs is not null)
        {
            flags |= FrameFlags.Pushback;
        }

        if (!metadata.IsEmpty)
        {
            flags |= FrameFlags.Metadata;
            metadata.CopyTo(frame.Slice(ResponsePrefixLength));
        }

        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.Error, flags, callId);
        LoadReport.Write(frame.Slice(ProtocolConstants.HeaderLength), serverInFlight, utilizationBasisPoints);
        ErrorBody.Write(frame.Slice(ResponsePrefixLength + metadata.Length), code, message, pushbackMs);
    }

    private static void WriteMetadata(Span<byte> destination, RpcMetadata? headers, RpcMetadata? trailers)
    {
        int written = MetadataCodec.Write(destination, headers);
        MetadataCodec.Write(destination.Slice(written), trailers);
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

    /// <summary>Bytes of a goaway frame that says why the server closes (<see cref="WriteGoAway(Span{byte}, uint, RpcStatusCode, string)"/>).</summary>
    public static int GoAwayWithReasonLength(string reason) => GoAwayLength + ErrorBody.Length(reason);

    /// <summary>
    /// A goaway frame that says why: the last call id, then an error body (status, message) that the client puts in
    /// the errors of the calls the close fails. Clients that predate it read the first 4 bytes and ignore the rest.
    /// </summary>
    public static void WriteGoAway(Span<byte> frame, uint lastCallId, RpcStatusCode code, string reason)
    {
        FrameHeader.Write(frame, frame.Length - ProtocolConstants.HeaderLength, FrameType.GoAway, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(ProtocolConstants.HeaderLength), lastCallId);
        ErrorBody.Write(frame.Slice(GoAwayLength), code, reason);
    }
}
