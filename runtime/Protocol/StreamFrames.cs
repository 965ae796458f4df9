using System;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>
/// The frames of a call's streams (docs/protocol.md, "Streams"): items (each a length and its JSON, behind its position
/// in a resumable stream), the client's half-close, and credit, the receiver's grant of more items and bytes.
/// </summary>
internal static class StreamFrames
{
    /// <summary>Bytes of a credit frame: header, u32 items, u32 bytes.</summary>
    public const int CreditLength = ProtocolConstants.HeaderLength + 8;

    /// <summary>A stream end frame is a bare header.</summary>
    public const int EndLength = ProtocolConstants.HeaderLength;

    /// <summary>Bytes in front of an item's JSON: its length (u32), behind its position (i64) with <see cref="FrameFlags.Positions"/>.</summary>
    public static int ItemPrefixLength(bool positions) => positions ? 12 : 4;

    /// <summary>A credit frame: the sender of <paramref name="callId"/>'s stream may send this many more items and bytes.</summary>
    public static void WriteCredit(Span<byte> frame, uint callId, uint items, uint bytes)
    {
        FrameHeader.Write(frame, 8, FrameType.Credit, FrameFlags.None, callId);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(ProtocolConstants.HeaderLength), items);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(ProtocolConstants.HeaderLength + 4), bytes);
    }

    /// <summary>Reads a credit frame's body; false when it is not 8 bytes.</summary>
    public static bool TryReadCredit(ReadOnlySpan<byte> body, out uint items, out uint bytes)
    {
        if (body.Length != 8)
        {
            items = bytes = 0;
            return false;
        }

        items = BinaryPrimitives.ReadUInt32LittleEndian(body);
        bytes = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(4));
        return true;
    }

    /// <summary>The client's stream of <paramref name="callId"/> is complete.</summary>
    public static void WriteEnd(Span<byte> frame, uint callId) =>
        FrameHeader.Write(frame, 0, FrameType.StreamEnd, FrameFlags.None, callId);

    /// <summary>Writes one item's prefix in front of its <paramref name="length"/> bytes of JSON.</summary>
    public static void WriteItemPrefix(Span<byte> destination, bool positions, long position, int length)
    {
        if (positions)
        {
            BinaryPrimitives.WriteInt64LittleEndian(destination, position);
            destination = destination.Slice(8);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)length);
    }

    /// <summary>
    /// Reads the next item of an items frame's body and moves past it. False at the end of the body; a malformed body
    /// (an item longer than what is left, or an empty one) sets <paramref name="problem"/>.
    /// </summary>
    public static bool TryReadItem(ref ReadOnlySpan<byte> body, bool positions, out long position, out ReadOnlySpan<byte> json, out string? problem)
    {
        position = 0;
        json = default;
        problem = null;
        if (body.IsEmpty)
        {
            return false;
        }

        int prefix = ItemPrefixLength(positions);
        if (body.Length < prefix)
        {
            problem = "an item's prefix is truncated";
            return false;
        }

        if (positions)
        {
            position = BinaryPrimitives.ReadInt64LittleEndian(body);
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(prefix - 4));
        if (length == 0 || length > (uint)(body.Length - prefix))
        {
            problem = length == 0 ? "an item is empty" : "an item is longer than its frame";
            return false;
        }

        json = body.Slice(prefix, (int)length);
        body = body.Slice(prefix + (int)length);
        return true;
    }
}
