using System;
using System.Buffers.Binary;
using System.Text;

namespace RpcGen.Protocol;

/// <summary>
/// Metadata on the wire: <c>u16</c> entry count, then per entry <c>u16</c> key length, the key (ASCII), <c>u16</c>
/// value length, the value (ASCII text, or bytes for a <c>-bin</c> key). Requests carry one block (headers); responses
/// and errors with flag <see cref="FrameFlags.Metadata"/> carry two after the load report (headers, then trailers).
/// </summary>
internal static class MetadataCodec
{
    /// <summary>Bytes of an empty block (its count).</summary>
    public const int EmptyLength = 2;

    /// <summary>Writes <paramref name="metadata"/> (null: an empty block); returns the bytes written.</summary>
    public static int Write(Span<byte> destination, RpcMetadata? metadata)
    {
        int count = metadata?.Count ?? 0;
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)count);
        int offset = 2;
        for (int i = 0; i < count; i++)
        {
            RpcMetadataEntry entry = metadata![i];
            BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(offset), (ushort)entry.Key.Length);
            offset += 2 + Encoding.ASCII.GetBytes(entry.Key, destination.Slice(offset + 2));
            BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(offset), (ushort)entry.WireLength);
            offset += 2;
            if (entry.ValueBytes is { } bytes)
            {
                bytes.CopyTo(destination.Slice(offset));
                offset += bytes.Length;
            }
            else
            {
                offset += Encoding.ASCII.GetBytes(entry.Value!, destination.Slice(offset));
            }
        }

        return offset;
    }

    /// <summary>Bytes of <paramref name="metadata"/>'s block (null: an empty one).</summary>
    public static int Length(RpcMetadata? metadata) => metadata?.EncodedLength ?? EmptyLength;

    /// <summary>
    /// The length of the block at the start of <paramref name="body"/>, or -1 when it is truncated. Checks the
    /// structure only, so a receiver can skip metadata it does not read.
    /// </summary>
    public static int Measure(ReadOnlySpan<byte> body)
    {
        if (body.Length < 2)
        {
            return -1;
        }

        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        int offset = 2;
        for (int i = 0; i < count * 2; i++)
        {
            if (body.Length - offset < 2)
            {
                return -1;
            }

            int length = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(offset));
            offset += 2;
            if (body.Length - offset < length)
            {
                return -1;
            }

            offset += length;
        }

        return offset;
    }

    /// <summary>
    /// Reads a block that <see cref="Measure"/> accepted into read-only metadata (null when it has no entries); the
    /// problem is null when every key and text value is valid, otherwise what is wrong.
    /// </summary>
    public static RpcMetadata? Read(ReadOnlySpan<byte> block, out string? problem)
    {
        problem = null;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(block);
        if (count == 0)
        {
            return null;
        }

        var metadata = new RpcMetadata();
        int offset = 2;
        for (int i = 0; i < count; i++)
        {
            int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(block.Slice(offset));
            string key = Encoding.ASCII.GetString(block.Slice(offset + 2, keyLength));
            offset += 2 + keyLength;
            int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(block.Slice(offset));
            ReadOnlySpan<byte> value = block.Slice(offset + 2, valueLength);
            offset += 2 + valueLength;
            if (RpcMetadata.KeyProblem(key) is { } keyProblem)
            {
                problem = $"metadata key '{key}': {keyProblem}";
                return null;
            }

            if (key.StartsWith(RpcMetadata.ReservedPrefix, StringComparison.Ordinal))
            {
                // Reserved for RpcGen itself, which sends none today: what a peer sends under such a key is dropped,
                // so application code never reads a value it may take for RpcGen's own (gRPC servers treat their
                // reserved grpc- headers the same way).
                continue;
            }

            if (key.EndsWith(RpcMetadata.BinarySuffix, StringComparison.Ordinal))
            {
                metadata.AddChecked(new RpcMetadataEntry(key, null, value.ToArray()));
                continue;
            }

            foreach (byte b in value)
            {
                if (b is < 0x20 or > 0x7E)
                {
                    problem = $"the text value of metadata key '{key}' is not printable ASCII";
                    return null;
                }
            }

            metadata.AddChecked(new RpcMetadataEntry(key, Encoding.ASCII.GetString(value), null));
        }

        if (metadata.Count == 0)
        {
            return null; // every entry was reserved
        }

        metadata.MakeReadOnly();
        return metadata;
    }
}
