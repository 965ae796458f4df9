using System;
using System.Buffers.Binary;

namespace RpcGen.Protocol;

/// <summary>Error frame body: status code, message length, UTF-8 message.</summary>
internal static class ErrorBody
{
    public const int MaxMessageBytes = 4096;

    public static int Length(string message, bool pushback = false) =>
        4 + Math.Min(System.Text.Encoding.UTF8.GetByteCount(message), MaxMessageBytes) + (pushback ? 4 : 0);

    /// <summary>Writes the body; with <paramref name="pushbackMs"/> (frame flag Pushback) the i32 follows the message.</summary>
    public static void Write(Span<byte> destination, RpcStatusCode code, string message, int? pushbackMs = null)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)code);
        int written;
        int max = Math.Min(destination.Length - 4 - (pushbackMs is null ? 0 : 4), MaxMessageBytes);
        if (System.Text.Encoding.UTF8.GetByteCount(message) <= max)
        {
            written = System.Text.Encoding.UTF8.GetBytes(message, destination.Slice(4));
        }
        else
        {
            // Cut on a character boundary: encode characters until the budget is spent.
            var encoder = System.Text.Encoding.UTF8.GetEncoder();
            encoder.Convert(message.AsSpan(), destination.Slice(4, max), flush: true, out _, out written, out _);
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2), (ushort)written);
        if (pushbackMs is int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination.Slice(4 + written, 4), value);
        }
    }

    /// <summary>The pushback after the message of a body with the Pushback flag, or null when it is missing.</summary>
    public static int? ReadPushback(ReadOnlySpan<byte> body)
    {
        if (body.Length < 4)
        {
            return null;
        }

        int length = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(2));
        return body.Length - 4 - length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(body.Slice(4 + length)) : null;
    }

    public static bool TryRead(ReadOnlySpan<byte> body, out RpcStatusCode code, out string message)
    {
        code = RpcStatusCode.Unknown;
        message = string.Empty;
        if (body.Length < 4)
        {
            return false;
        }

        code = (RpcStatusCode)BinaryPrimitives.ReadUInt16LittleEndian(body);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(2));
        if (body.Length - 4 < length)
        {
            return false;
        }

        message = System.Text.Encoding.UTF8.GetString(body.Slice(4, length));
        return true;
    }
}
