using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Threading.Tasks;

namespace RpcGen.Protocol;

/// <summary>The kinds of frame on an RpcGen connection. See docs/protocol.md for each byte.</summary>
internal enum FrameType : byte
{
    Request = 1,
    Response = 2,
    Error = 3,
    Cancel = 4,
    Ping = 5,
    Pong = 6,
    GoAway = 7,
}

/// <summary>Flag bits of the frame header's flags byte.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,
    /// <summary>On an error frame: the request never reached a handler; it is safe to send it elsewhere.</summary>
    NotProcessed = 1,
    /// <summary>On a response or error frame: the body starts with a 6-byte load report (<see cref="LoadReport"/>).</summary>
    LoadReport = 2,
    /// <summary>On an error frame: the message is followed by an i32 retry pushback in ms (-1: do not retry).</summary>
    Pushback = 4,
    /// <summary>On a request frame: a retry or hedge of an earlier attempt of the same call (the retry marker).</summary>
    RetryAttempt = 8,
    /// <summary>On a request frame: a 16-byte call id follows the metadata, the same in every attempt of the call.</summary>
    CallId = 16,
}

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

/// <summary>Numbers every implementation of the protocol must agree on.</summary>
internal static class ProtocolConstants
{
    /// <summary>"RPCG" in ASCII.</summary>
    public const uint Magic = 0x47435052; // bytes 52 50 43 47 read little-endian
    public const byte Version = 1;
    public const byte RoleClient = 1;
    public const byte RoleServer = 2;
    public const int PrefaceLength = 8;
    public const int HeaderLength = 12;
    public const int DefaultMaxFrameSize = 4 * 1024 * 1024;
    public const int MaxMethodNameLength = 1024;
}

/// <summary>The fixed 12-byte header in front of every frame.</summary>
internal readonly struct FrameHeader
{
    public FrameHeader(int length, FrameType type, FrameFlags flags, uint callId)
    {
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
            BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(8)));
        buffer = buffer.Slice(ProtocolConstants.HeaderLength);
        return true;
    }
}

/// <summary>The 8 bytes each side sends first: magic, version, role, two reserved zero bytes.</summary>
internal static class Preface
{
    /// <summary>
    /// Writes a preface. A server puts the most calls it runs at once on one connection in bytes 6–7 (0: no limit);
    /// a client writes 0 there.
    /// </summary>
    public static void Write(Span<byte> destination, byte role, ushort maxConcurrentCalls = 0)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, ProtocolConstants.Magic);
        destination[4] = ProtocolConstants.Version;
        destination[5] = role;
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(6), maxConcurrentCalls);
    }

    /// <summary>
    /// Reads the peer's 8-byte preface and checks it: the problem is null when it is valid, otherwise what is wrong
    /// with it; the limit is what the peer put in bytes 6–7 (a server's concurrent calls per connection, 0: none).
    /// </summary>
    public static async ValueTask<(string? Problem, ushort MaxConcurrentCalls)> ReadAsync(System.IO.Pipelines.PipeReader input, byte expectedRole, System.Threading.CancellationToken cancellationToken)
    {
        while (true)
        {
            System.IO.Pipelines.ReadResult read = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (buffer.Length >= ProtocolConstants.PrefaceLength)
            {
                byte[] preface = new byte[ProtocolConstants.PrefaceLength];
                buffer.Slice(0, ProtocolConstants.PrefaceLength).CopyTo(preface);
                input.AdvanceTo(buffer.GetPosition(ProtocolConstants.PrefaceLength));
                return (Validate(preface, expectedRole), BinaryPrimitives.ReadUInt16LittleEndian(preface.AsSpan(6)));
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
            {
                return ("the peer closed the connection before sending the RpcGen preface", 0);
            }
        }
    }

    /// <summary>Checks a peer's preface; returns null when it is valid, otherwise what is wrong with it.</summary>
    public static string? Validate(ReadOnlySpan<byte> preface, byte expectedRole)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(preface) != ProtocolConstants.Magic)
        {
            return "the peer does not speak the RpcGen protocol (its first bytes are not the RpcGen preface)";
        }

        if (preface[4] != ProtocolConstants.Version)
        {
            return $"the peer speaks RpcGen protocol version {preface[4]}, this side speaks version {ProtocolConstants.Version}";
        }

        if (preface[5] != expectedRole)
        {
            return preface[5] == ProtocolConstants.RoleServer
                ? "the peer is an RpcGen server, not a client"
                : "the peer is an RpcGen client, not a server";
        }

        return null;
    }
}

/// <summary>A request frame's body once parsed; the spans point into the received bytes.</summary>
internal ref struct RequestBody
{
    public const int CallIdLength = 16;

    public uint TimeoutMilliseconds;
    public ReadOnlySpan<byte> Method;
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
        int metadataCount = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(offset));
        offset += 2;
        for (int i = 0; i < metadataCount; i++)
        {
            for (int part = 0; part < 2; part++)
            {
                if (body.Length - offset < 2)
                {
                    return "request frame's metadata is truncated";
                }

                int length = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(offset));
                offset += 2;
                if (body.Length - offset < length)
                {
                    return "request frame's metadata is truncated";
                }

                offset += length;
            }
        }

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
    public static int PrefixLength(int methodNameLength, bool callId = false) => 4 + 2 + methodNameLength + 2 + (callId ? CallIdLength : 0);

    /// <summary>Writes the fixed fields; a non-empty <paramref name="callId"/> (frame flag CallId) follows the metadata.</summary>
    public static void WritePrefix(Span<byte> destination, uint timeoutMilliseconds, ReadOnlySpan<byte> method, ReadOnlySpan<byte> callId = default)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, timeoutMilliseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(4), (ushort)method.Length);
        method.CopyTo(destination.Slice(6));
        BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(6 + method.Length), 0); // no metadata entries
        callId.CopyTo(destination.Slice(8 + method.Length));
    }
}

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
