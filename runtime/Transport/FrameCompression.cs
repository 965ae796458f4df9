using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>
/// The compressed form of a frame's body (docs/protocol.md, "Compression"): the length of the original as a u32, then
/// the algorithm's stream. Decompression is bounded: a declared length over the receiver's maximum frame size is refused
/// before anything is inflated, and the output never grows past the declared length.
/// </summary>
internal static class FrameCompression
{
    /// <summary>Bytes in front of the compressed stream: the original length.</summary>
    public const int LengthPrefix = 4;

    [ThreadStatic]
    private static ZstdSharp.Compressor?[]? t_zstdCompressors;

    [ThreadStatic]
    private static ZstdSharp.Decompressor? t_zstdDecompressor;

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/> (length prefix first) when that saves at
    /// least a tenth; false (nothing usable written) when it does not.
    /// </summary>
    public static bool TryCompress(
        RpcCompression algorithm, CompressionLevel level, ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        written = 0;
        // At least a tenth saved, prefix included, and within the destination.
        int budget = Math.Min(source.Length - (source.Length / 10), destination.Length) - LengthPrefix;
        if (budget <= 0)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)source.Length);
        Span<byte> target = destination.Slice(LengthPrefix, budget);
        int compressed;
        bool fits = algorithm switch
        {
            RpcCompression.Zstd => Zstd(level).TryWrap(source, target, out compressed),
            RpcCompression.Brotli => BrotliEncoder.TryCompress(source, target, out compressed, BrotliQuality(level), 22),
            RpcCompression.Gzip => TryGzip(source, target, level, out compressed),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
        };

        written = fits ? LengthPrefix + compressed : 0;
        return fits;
    }

    /// <summary>
    /// The frame to send for <paramref name="frame"/> (header and <paramref name="prefix"/> bytes that stay as they are,
    /// then the payload): a copy in <paramref name="buffer"/> with its payload compressed, its length and encoding byte
    /// set, or <paramref name="frame"/> itself when compressing does not save a tenth.
    /// </summary>
    public static Span<byte> CompressFrame(Span<byte> frame, int prefix, RpcCompression algorithm, CompressionLevel level, PooledBuffer buffer)
    {
        buffer.Clear();
        Span<byte> target = buffer.GetSpan(frame.Length);
        if (!TryCompress(algorithm, level, frame.Slice(prefix), target.Slice(prefix), out int written))
        {
            return frame;
        }

        frame.Slice(0, prefix).CopyTo(target);
        target = target.Slice(0, prefix + written);
        BinaryPrimitives.WriteUInt32LittleEndian(target, (uint)(target.Length - ProtocolConstants.HeaderLength));
        FrameHeader.SetEncoding(target, algorithm);
        return target;
    }

    /// <summary>
    /// Reads the original length of a compressed body and checks it against <paramref name="maxLength"/>, before
    /// anything is inflated. Null when it may be inflated; otherwise what is wrong.
    /// </summary>
    public static string? CheckLength(ReadOnlySpan<byte> body, int maxLength, out int length)
    {
        length = 0;
        if (body.Length < LengthPrefix)
        {
            return "a compressed body shorter than its 4-byte length";
        }

        uint declared = BinaryPrimitives.ReadUInt32LittleEndian(body);
        if (declared > (uint)maxLength)
        {
            return $"a compressed body that inflates to {declared} bytes, over the maximum frame size of {maxLength} bytes";
        }

        length = (int)declared;
        return null;
    }

    /// <summary>
    /// Inflates <paramref name="body"/> (checked by <see cref="CheckLength"/>) into <paramref name="destination"/>, which
    /// is exactly the declared length. Null when the stream was valid and inflated to exactly that; otherwise what is wrong.
    /// </summary>
    public static string? TryDecompress(byte algorithm, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        ReadOnlySpan<byte> source = body.Slice(LengthPrefix);
        int written;
        try
        {
            bool fits;
            switch ((RpcCompression)algorithm)
            {
                case RpcCompression.Zstd:
                    fits = (t_zstdDecompressor ??= new ZstdSharp.Decompressor()).TryUnwrap(source, destination, out written);
                    break;
                case RpcCompression.Brotli:
                    fits = BrotliDecoder.TryDecompress(source, destination, out written);
                    break;
                case RpcCompression.Gzip:
                    fits = TryGunzip(source, destination, out written);
                    break;
                default:
                    return $"a body compressed with unknown algorithm {algorithm}";
            }

            if (!fits)
            {
                return $"a {(RpcCompression)algorithm} body that inflates past its declared {destination.Length} bytes, or is corrupt";
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or ZstdSharp.ZstdException or IOException)
        {
            // A failed zstd context is reset by its next call; gzip and Brotli keep no state.
            return $"a corrupt {(RpcCompression)algorithm} body ({ex.Message})";
        }

        return written == destination.Length
            ? null
            : $"a {(RpcCompression)algorithm} body that inflates to {written} bytes, not its declared {destination.Length}";
    }

    /// <summary>
    /// Inflates a body the read loop received in <paramref name="algorithm"/> into a pooled array; null when it may not
    /// be (the problem says why: over <paramref name="maxLength"/>, corrupt, or an algorithm this side did not announce).
    /// </summary>
    public static byte[]? Inflate(
        byte algorithm, int accepted, ReadOnlySpan<byte> body, int maxLength, out int length, out string? problem, out bool tooLarge)
    {
        tooLarge = false;
        length = 0;
        if ((accepted & (1 << Math.Min((int)algorithm, 30))) == 0)
        {
            problem = $"a body compressed with algorithm {algorithm}, which this side did not announce";
            return null;
        }

        problem = CheckLength(body, maxLength, out length);
        if (problem is not null)
        {
            tooLarge = body.Length >= LengthPrefix;
            return null;
        }

        byte[] inflated = BufferPool.Rent(Math.Max(1, length));
        problem = TryDecompress(algorithm, body, inflated.AsSpan(0, length));
        if (problem is null)
        {
            return inflated;
        }

        BufferPool.Return(inflated);
        return null;
    }

    private static ZstdSharp.Compressor Zstd(CompressionLevel level)
    {
        ZstdSharp.Compressor?[] compressors = t_zstdCompressors ??= new ZstdSharp.Compressor?[4];
        int index = Math.Clamp((int)level, 0, 3);
        return compressors[index] ??= new ZstdSharp.Compressor(level switch
        {
            CompressionLevel.Optimal => 3,
            CompressionLevel.SmallestSize => 19,
            _ => 1,
        });
    }

    private static int BrotliQuality(CompressionLevel level) => level switch
    {
        CompressionLevel.Optimal => 4,
        CompressionLevel.SmallestSize => 11,
        CompressionLevel.NoCompression => 0,
        _ => 1,
    };

    private static unsafe bool TryGzip(ReadOnlySpan<byte> source, Span<byte> target, CompressionLevel level, out int written)
    {
        fixed (byte* start = target)
        {
            using var output = new UnmanagedMemoryStream(start, 0, target.Length, FileAccess.Write);
            try
            {
                using (var gzip = new GZipStream(output, level, leaveOpen: true))
                {
                    gzip.Write(source);
                }
            }
            catch (NotSupportedException)
            {
                written = 0; // the output would not fit the budget: not worth sending compressed
                return false;
            }

            written = (int)output.Position;
            return true;
        }
    }

    private static unsafe bool TryGunzip(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        fixed (byte* start = source)
        {
            using var input = new UnmanagedMemoryStream(start, source.Length);
            using var gzip = new GZipStream(input, CompressionMode.Decompress);
            written = gzip.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
            return written < destination.Length || gzip.ReadByte() < 0; // one byte more than declared: refused
        }
    }
}
