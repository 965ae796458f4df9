using System;
using System.Buffers;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>The fixed 12-byte header in front of every frame.</summary>
internal readonly struct FrameHeader
{
    public FrameHeader(int length, FrameType type, FrameFlags flags, uint callId, byte encoding = 0)
    {
        Encoding = encoding;
        Length = length;
        Type = type;
        Flags = flags;
        CallId = callId;
    }

    /// <summary>Bytes of body after the header.</summary>
    public int Length { get; }
    public FrameType Type { get; }
    public FrameFlags Flags { get; }
    public uint CallId { get; }

    /// <summary>Byte 6: the <see cref="RpcCompression"/> of the body's payload; 0 when it is not compressed.</summary>
    public byte Encoding { get; }

    /// <summary>Marks a frame written by <see cref="Write"/> as carrying a payload compressed with <paramref name="algorithm"/>.</summary>
    public static void SetEncoding(Span<byte> frame, RpcCompression algorithm) => frame[6] = (byte)algorithm;

    public static void Write(Span<byte> destination, int bodyLength, FrameType type, FrameFlags flags, uint callId)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)bodyLength);
        destination[4] = (byte)type;
        destination[5] = (byte)flags;
        destination[6] = 0;
        destination[7] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(8), callId);
    }

    /// <summary>Reads a header; the length is returned as read (unsigned), so the caller can reject it before allocating.</summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out FrameHeader header, out uint rawLength)
    {
        if (buffer.Length < ProtocolConstants.HeaderLength)
        {
            header = default;
            rawLength = 0;
            return false;
        }

        Span<byte> bytes = stackalloc byte[ProtocolConstants.HeaderLength];
        buffer.Slice(0, ProtocolConstants.HeaderLength).CopyTo(bytes);
        rawLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        header = new FrameHeader(
            rawLength > int.MaxValue ? int.MaxValue : (int)rawLength,
            (FrameType)bytes[4],
            (FrameFlags)bytes[5],
            BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(8)),
            bytes[6]);
        buffer = buffer.Slice(ProtocolConstants.HeaderLength);
        return true;
    }
}
