using System;
using System.Buffers;

namespace RpcGen.Transport;

/// <summary>
/// Where frame-sized arrays come from. Small arrays (up to 64 KiB) come from the shared pool; larger ones, up to
/// 1 MiB, from a pool of RpcGen's own that keeps at most <see cref="LargeArraysPerSize"/> of each size; anything larger
/// is a plain allocation the GC reclaims. The shared pool keeps an array per thread and several per core for every size
/// up to 1 GiB, for the life of the process: a burst of large messages handed to it stays resident long after the
/// burst (1.1 GiB after 2,000 calls of 300 KB each, before this split), while this bounds what is kept to a few MiB.
/// </summary>
internal static class BufferPool
{
    /// <summary>The largest array taken from the shared pool.</summary>
    public const int MaxSharedLength = 64 * 1024;

    /// <summary>The largest array pooled at all.</summary>
    public const int MaxPooledLength = 1024 * 1024;

    /// <summary>How many arrays of each size above <see cref="MaxSharedLength"/> are kept for reuse.</summary>
    public const int LargeArraysPerSize = 8;

    private static readonly ArrayPool<byte> s_large = ArrayPool<byte>.Create(MaxPooledLength, LargeArraysPerSize);

    /// <summary>An array of at least <paramref name="length"/> bytes; give it back with <see cref="Return"/>.</summary>
    public static byte[] Rent(int length) => length switch
    {
        <= MaxSharedLength => ArrayPool<byte>.Shared.Rent(length),
        <= MaxPooledLength => s_large.Rent(length),
        _ => GC.AllocateUninitializedArray<byte>(length),
    };

    /// <summary>Gives back an array from <see cref="Rent"/>.</summary>
    public static void Return(byte[] array)
    {
        if (array.Length == 0)
        {
            return;
        }

        if (array.Length <= MaxSharedLength)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
        else if (array.Length <= MaxPooledLength)
        {
            s_large.Return(array);
        }
    }
}
