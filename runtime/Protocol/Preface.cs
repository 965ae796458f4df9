using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Threading.Tasks;

namespace RpcGen.Protocol;

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

    /// <summary>The problem <see cref="ReadAsync"/> reports when the peer closed first (the client words it with what it knows).</summary>
    public const string ClosedProblem = "the peer closed the connection before sending the RpcGen preface";

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
                return (ClosedProblem, 0);
            }
        }
    }

    /// <summary>Checks a peer's preface; returns null when it is valid, otherwise what is wrong with it.</summary>
    public static string? Validate(ReadOnlySpan<byte> preface, byte expectedRole)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(preface) != ProtocolConstants.Magic)
        {
            // TLS records start with their content type (22 handshake, 21 alert) and version major 3.
            return preface[0] is 0x16 or 0x15 && preface[1] == 0x03
                ? expectedRole == ProtocolConstants.RoleServer
                    ? "the peer speaks TLS and this client does not: set RpcClientOptions.Tls to call it"
                    : "the peer speaks TLS and this server does not: set RpcServerOptions.Tls to serve it"
                : "the peer does not speak the RpcGen protocol (its first bytes are not the RpcGen preface)";
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
