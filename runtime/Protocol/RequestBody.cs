using System;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>A request frame's body once parsed; the spans point into the received bytes.</summary>
internal ref struct RequestBody
{
    public const int CallIdLength = 16;

    public uint TimeoutMilliseconds;
    public ReadOnlySpan<byte> Method;

    /// <summary>The metadata block (count and entries); two bytes (a zero count) when the request carries none.</summary>
    public ReadOnlySpan<byte> Metadata;
    public ReadOnlySpan<byte> CallId;
    public ReadOnlySpan<byte> Payload;

    /// <summary>Parses a request body; returns null when valid, otherwise why it is malformed.</summary>
    public static string? TryParse(ReadOnlySpan<byte> body, FrameFlags flags, out RequestBody request)
    {
        request = default;
        if (body.Length < 8)
        {
            return "request frame is shorter than its fixed fields";
        }

        request.TimeoutMilliseconds = BinaryPrimitives.ReadUInt32LittleEndian(body);
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(4));
        int offset = 6;
        if (nameLength == 0 || body.Length - offset < nameLength + 2)
        {
            return "request frame's method name length is out of bounds";
        }

        request.Method = body.Slice(offset, nameLength);
        offset += nameLength;
        int metadataLength = MetadataCodec.Measure(body.Slice(offset));
        if (metadataLength < 0)
        {
            return "request frame's metadata is truncated";
        }

        request.Metadata = body.Slice(offset, metadataLength);
        offset += metadataLength;

        if ((flags & FrameFlags.CallId) != 0)
        {
            if (body.Length - offset < CallIdLength)
            {
                return "request frame's call id is truncated";
            }

            request.CallId = body.Slice(offset, CallIdLength);
            offset += CallIdLength;
        }

        request.Payload = body.Slice(offset);
        return null;
    }

    /// <summary>Bytes a request body takes before its payload.</summary>
    public static int PrefixLength(int methodNameLength, bool callId = false, int metadataLength = MetadataCodec.EmptyLength) =>
        4 + 2 + methodNameLength + metadataLength + (callId ? CallIdLength : 0);

    /// <summary>
    /// Writes the fixed fields and the metadata (null: none); a non-empty <paramref name="callId"/> (frame flag CallId)
    /// follows the metadata.
    /// </summary>
    public static void WritePrefix(Span<byte> destination, uint timeoutMilliseconds, ReadOnlySpan<byte> method, ReadOnlySpan<byte> callId = default, RpcMetadata? metadata = null)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, timeoutMilliseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(4), (ushort)method.Length);
        method.CopyTo(destination.Slice(6));
        int written = MetadataCodec.Write(destination.Slice(6 + method.Length), metadata);
        callId.CopyTo(destination.Slice(6 + method.Length + written));
    }
}
