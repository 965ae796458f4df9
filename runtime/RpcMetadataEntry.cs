using System;
using System.Text;

namespace RpcGen;

/// <summary>One metadata entry: a lower-case key and a text value, or bytes for a <c>-bin</c> key.</summary>
public readonly struct RpcMetadataEntry : IEquatable<RpcMetadataEntry>
{
    internal RpcMetadataEntry(string key, string? value, byte[]? valueBytes)
    {
        Key = key;
        Value = value;
        ValueBytes = valueBytes;
    }

    /// <summary>The key, lower-case.</summary>
    public string Key { get; }

    /// <summary>The text value; null for a binary entry.</summary>
    public string? Value { get; }

    /// <summary>The bytes of a binary entry (a <c>-bin</c> key); null for a text entry.</summary>
    public byte[]? ValueBytes { get; }

    /// <summary>True for a binary entry.</summary>
    public bool IsBinary => ValueBytes is not null;

    /// <summary>Bytes the value takes on the wire (text is ASCII: one byte per character).</summary>
    internal int WireLength => ValueBytes?.Length ?? Value!.Length;

    /// <inheritdoc />
    public bool Equals(RpcMetadataEntry other) =>
        Key == other.Key && Value == other.Value && (ValueBytes is null ? other.ValueBytes is null : other.ValueBytes is not null && ValueBytes.AsSpan().SequenceEqual(other.ValueBytes));

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is RpcMetadataEntry other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Key, Value, ValueBytes?.Length);

    /// <inheritdoc />
    public override string ToString() => IsBinary ? $"{Key}: ({ValueBytes!.Length} bytes)" : $"{Key}: {Value}";

    /// <summary>Equal entries.</summary>
    public static bool operator ==(RpcMetadataEntry left, RpcMetadataEntry right) => left.Equals(right);

    /// <summary>Different entries.</summary>
    public static bool operator !=(RpcMetadataEntry left, RpcMetadataEntry right) => !left.Equals(right);

    internal static string Ascii(ReadOnlySpan<byte> bytes) => Encoding.ASCII.GetString(bytes);
}
