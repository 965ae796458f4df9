using System;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>
/// The server's load, in front of a response or error body: calls in flight on the whole server (u32) and the
/// utilization its application reported in basis points (u16, 0–10000; 0xFFFF when none).
/// </summary>
internal static class LoadReport
{
    public const int Length = 6;
    public const ushort NoUtilization = 0xFFFF;

    public static void Write(Span<byte> destination, int inFlight, int utilizationBasisPoints)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)Math.Max(0, inFlight));
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(4), utilizationBasisPoints < 0 ? NoUtilization : (ushort)utilizationBasisPoints);
    }

    public static bool TryRead(ref ReadOnlySpan<byte> body, out int inFlight, out int utilizationBasisPoints)
    {
        if (body.Length < Length)
        {
            inFlight = 0;
            utilizationBasisPoints = -1;
            return false;
        }

        inFlight = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body), int.MaxValue);
        ushort utilization = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(4));
        utilizationBasisPoints = utilization == NoUtilization ? -1 : Math.Min((int)utilization, 10_000);
        body = body.Slice(Length);
        return true;
    }
}
