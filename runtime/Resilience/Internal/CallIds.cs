using System;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace RpcGen.Resilience.Internal;

/// <summary>
/// The ids of deduplicated calls: UUID version 7 (RFC 9562), 48 bits of Unix milliseconds then 74 random bits. Time
/// first means a store that keeps its ids in a B-tree (SQLite) appends near one edge instead of writing a random page
/// per call (3–4× the stored calls per second, measured by <c>dedup-size</c>). The random bits come from the
/// cryptographic generator, drawn 4 KiB at a time per thread: on Linux <see cref="Guid.NewGuid"/> and a 16-byte
/// <see cref="RandomNumberGenerator.Fill"/> each make a system call (~2 µs here), the batch costs ~13 ns per id.
/// </summary>
internal static class CallIds
{
    private const int BatchBytes = 4096;

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_used;

    public static Guid Next() => Next(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    /// <summary>An id for the time <paramref name="unixMilliseconds"/>, in the layout of .NET 9's <c>Guid.CreateVersion7</c>.</summary>
    public static Guid Next(long unixMilliseconds)
    {
        byte[]? random = t_random;
        int used = t_used;
        if (random is null || used == BatchBytes)
        {
            random ??= t_random = new byte[BatchBytes];
            RandomNumberGenerator.Fill(random);
            used = 0;
        }

        t_used = used + 16;
        Span<byte> bytes = stackalloc byte[16];
        random.AsSpan(used, 16).CopyTo(bytes);
        random.AsSpan(used, 16).Clear(); // a used id's random bits do not stay in memory
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)(unixMilliseconds >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(bytes[2..], (uint)unixMilliseconds);
        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F)); // version 7
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F)); // variant 10
        return new Guid(bytes, bigEndian: true);
    }
}
