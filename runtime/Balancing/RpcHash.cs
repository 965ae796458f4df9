using System;
using System.ComponentModel;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RpcGen.Balancing;

/// <summary>
/// A stable 64-bit hash for <c>[HashKey]</c> arguments: the same value gives the same hash in every process and on
/// every run (unlike <see cref="string.GetHashCode()"/>), so every client maps a key to the same endpoint. The hash is
/// XXH3 (<see cref="XxHash3"/>, seed 0) over: a string's UTF-16 code units (little-endian); the bytes of primitives,
/// enums, <see cref="Guid"/>, <see cref="DateTime"/>, <see cref="TimeSpan"/>, <see cref="DateOnly"/> and
/// <see cref="TimeOnly"/> (types without padding, whose memory is exactly their value); and the JSON of anything else
/// (other structs may have padding bytes with arbitrary content, which would make equal values hash differently).
/// Generic, so value types are never boxed.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class RpcHash
{
    /// <summary>The hash of a null argument.</summary>
    private const ulong Null = 0x9E3779B97F4A7C15;

    /// <summary>Hashes one argument; <paramref name="typeInfo"/> is used only for types hashed through their JSON.</summary>
    public static ulong Of<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        if (value is null)
        {
            return Null;
        }

        if (typeof(T) == typeof(string))
        {
            return String(Unsafe.As<T, string>(ref value));
        }

        if (RawBytes<T>.Stable)
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
    public static ulong Combine(ulong first, ulong second)
    {
        Span<ulong> both = stackalloc ulong[2] { first, second };
        return Bytes(MemoryMarshal.AsBytes(both));
    }

    /// <summary>Hashes a string's UTF-16 code units.</summary>
    public static ulong String(string value) => Bytes(MemoryMarshal.AsBytes(value.AsSpan()));

    /// <summary>Hashes bytes with XXH3 (64-bit, seed 0).</summary>
    public static ulong Bytes(ReadOnlySpan<byte> bytes) => XxHash3.HashToUInt64(bytes);

    /// <summary>Whether a <typeparamref name="T"/>'s memory is exactly its value (no padding, no references).</summary>
    private static class RawBytes<T>
    {
        public static readonly bool Stable =
            typeof(T) == typeof(int) || typeof(T) == typeof(long) || typeof(T) == typeof(uint) || typeof(T) == typeof(ulong) ||
            typeof(T) == typeof(short) || typeof(T) == typeof(ushort) || typeof(T) == typeof(byte) || typeof(T) == typeof(sbyte) ||
            typeof(T) == typeof(char) || typeof(T) == typeof(bool) || typeof(T) == typeof(float) || typeof(T) == typeof(double) ||
            typeof(T) == typeof(Guid) || typeof(T) == typeof(DateTime) || typeof(T) == typeof(TimeSpan) ||
            typeof(T) == typeof(DateOnly) || typeof(T) == typeof(TimeOnly) || typeof(T).IsEnum;
    }
}
