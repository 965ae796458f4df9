using System;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>
/// The Settings frame a server sends right behind its preface: entries of a <c>u16</c> id and a <c>u32</c> value;
/// receivers skip ids they do not know (docs/protocol.md, "Settings").
/// </summary>
internal static class SettingsFrame
{
    /// <summary>The frame this server sends: header plus one entry, the compression algorithms it reads.</summary>
    public const int Length = ProtocolConstants.HeaderLength + 6;

    public static void Write(Span<byte> destination, int acceptedCompression)
    {
        FrameHeader.Write(destination, 6, FrameType.Settings, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(ProtocolConstants.HeaderLength), ProtocolConstants.SettingAcceptedCompression);
        BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(ProtocolConstants.HeaderLength + 2), (uint)acceptedCompression);
    }

    /// <summary>The compression algorithms the body says its sender reads (0 when it does not say); false when malformed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> body, out int acceptedCompression)
    {
        acceptedCompression = 0;
        if (body.Length % 6 != 0)
        {
            return false;
        }

        for (; body.Length > 0; body = body.Slice(6))
        {
            if (BinaryPrimitives.ReadUInt16LittleEndian(body) == ProtocolConstants.SettingAcceptedCompression)
            {
                acceptedCompression = (int)(BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(2)) & ProtocolConstants.AllCompression);
            }
        }

        return true;
    }
}
