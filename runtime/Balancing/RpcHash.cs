using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Balancing;

/// <summary>
/// A stable 64-bit hash for <c>[HashKey]</c> arguments: the same value gives the same hash in every process and on
/// every run (unlike <see cref="string.GetHashCode()"/>), so every client maps a key to the same endpoint. Strings hash
/// their UTF-16 code units; primitives, enums, <see cref="Guid"/> and other structs without references hash their bytes;
/// anything else hashes its JSON. Generic, so value types are never boxed.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class RpcHash
{
    private const ulong Seed = 0x9E3779B97F4A7C15;
    private const ulong Prime = 0xA0761D6478BD642F;

    /// <summary>Hashes one argument; <paramref name="typeInfo"/> is used only for types hashed through their JSON.</summary>
    public static ulong Of<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        if (value is null)
        {
            return Seed;
        }

        if (typeof(T) == typeof(string))
        {
            return String(Unsafe.As<T, string>(ref value));
        }

        if (!RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            return Bytes(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, byte>(ref value), Unsafe.SizeOf<T>()));
        }

        if (value is string text)
        {
            return String(text); // T is object or an interface holding a string
        }

        return Bytes(JsonSerializer.SerializeToUtf8Bytes(value, typeInfo));
    }

    /// <summary>Combines the hashes of several <c>[HashKey]</c> arguments, in order.</summary>
    public static ulong Combine(ulong first, ulong second) => Mix((first * Prime) ^ second);

    /// <summary>Hashes a string's UTF-16 code units.</summary>
    public static ulong String(string value) => Bytes(MemoryMarshal.AsBytes(value.AsSpan()));

    /// <summary>Hashes bytes: 8 at a time, multiply-rotate, then a full avalanche (MurmurHash3's finalizer).</summary>
    public static ulong Bytes(ReadOnlySpan<byte> bytes)
    {
        ulong hash = Seed ^ ((ulong)bytes.Length * Prime);
        while (bytes.Length >= 8)
        {
            ulong block = MemoryMarshal.Read<ulong>(bytes);
            if (!BitConverter.IsLittleEndian)
            {
                block = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(block);
            }

            hash = System.Numerics.BitOperations.RotateLeft((hash ^ (block * Prime)) * Seed, 29);
            bytes = bytes.Slice(8);
        }

        ulong tail = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            tail |= (ulong)bytes[i] << (8 * i);
        }

        hash ^= tail * Prime;
        return Mix(hash);
    }

    private static ulong Mix(ulong hash)
    {
        hash ^= hash >> 33;
        hash *= 0xFF51AFD7ED558CCD;
        hash ^= hash >> 33;
        hash *= 0xC4CEB9FE1A85EC53;
        hash ^= hash >> 33;
        return hash;
    }
}
