using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;

namespace RpcGen;

/// <summary>
/// Headers or trailers of a call, as gRPC has them: an ordered list of entries, several per key allowed. Keys are ASCII
/// (<c>0-9 a-z - _ .</c>), case-insensitive (stored lower-case), at most 255 characters; keys that end in
/// <c>-bin</c> carry bytes, the others printable ASCII text (anything else, Unicode included, belongs in a <c>-bin</c>
/// key as UTF-8). Keys that start with <c>rpcgen-</c> are reserved for RpcGen. Not thread-safe.
/// </summary>
public sealed class RpcMetadata : IReadOnlyList<RpcMetadataEntry>
{
    /// <summary>The suffix of keys whose values are bytes.</summary>
    public const string BinarySuffix = "-bin";

    /// <summary>The prefix of keys RpcGen keeps for itself.</summary>
    public const string ReservedPrefix = "rpcgen-";

    /// <summary>An empty, read-only instance (what a call without metadata reads).</summary>
    public static readonly RpcMetadata Empty = new() { IsReadOnly = true };

    private readonly List<RpcMetadataEntry> _entries = new();

    /// <summary>The number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>True for metadata that can no longer change (received, or already sent).</summary>
    public bool IsReadOnly { get; private set; }

    /// <summary>The entry at <paramref name="index"/>, in the order they were added.</summary>
    public RpcMetadataEntry this[int index] => _entries[index];

    /// <summary>Adds a text entry. Throws <see cref="ArgumentException"/> for an invalid key or a value that is not printable ASCII.</summary>
    public void Add(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string normalized = CheckKey(key, binary: false);
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] is < ' ' or > '~')
            {
                throw new ArgumentException(
                    $"Metadata value of '{normalized}' has the character U+{(int)value[i]:X4} at {i}: text values are printable ASCII; put other text in a '{normalized}{BinarySuffix}' key as UTF-8 bytes.",
                    nameof(value));
            }
        }

        Append(new RpcMetadataEntry(normalized, value, null));
    }

    /// <summary>Adds a binary entry; the key must end in <c>-bin</c>.</summary>
    public void Add(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Append(new RpcMetadataEntry(CheckKey(key, binary: true), null, value));
    }

    /// <summary>The first text value of <paramref name="key"/>, or null.</summary>
    public string? GetValue(string key)
    {
        string normalized = key.ToLowerInvariant();
        foreach (RpcMetadataEntry entry in _entries)
        {
            if (entry.Key == normalized && !entry.IsBinary)
            {
                return entry.Value;
            }
        }

        return null;
    }

    /// <summary>The first binary value of <paramref name="key"/> (a <c>-bin</c> key), or null.</summary>
    public byte[]? GetBytes(string key)
    {
        string normalized = key.ToLowerInvariant();
        foreach (RpcMetadataEntry entry in _entries)
        {
            if (entry.Key == normalized && entry.IsBinary)
            {
                return entry.ValueBytes;
            }
        }

        return null;
    }

    /// <summary>Every text value of <paramref name="key"/>, in order.</summary>
    public IReadOnlyList<string> GetValues(string key)
    {
        string normalized = key.ToLowerInvariant();
        var values = new List<string>();
        foreach (RpcMetadataEntry entry in _entries)
        {
            if (entry.Key == normalized && entry.Value is { } value)
            {
                values.Add(value);
            }
        }

        return values;
    }

    /// <summary>Removes every entry of <paramref name="key"/>; returns how many there were.</summary>
    public int Remove(string key)
    {
        ThrowIfReadOnly();
        string normalized = key.ToLowerInvariant();
        return _entries.RemoveAll(e => e.Key == normalized);
    }

    /// <inheritdoc />
    public IEnumerator<RpcMetadataEntry> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (RpcMetadataEntry entry in _entries)
        {
            text.Append(text.Length == 0 ? string.Empty : ", ").Append(entry.ToString());
        }

        return text.ToString();
    }

    /// <summary>Bytes of the entries on the wire (the count included): what the size limits count.</summary>
    internal int EncodedLength
    {
        get
        {
            int length = 2;
            foreach (RpcMetadataEntry entry in _entries)
            {
                length += 4 + entry.Key.Length + entry.WireLength;
            }

            return length;
        }
    }

    internal void MakeReadOnly() => IsReadOnly = true;

    /// <summary>Adds an entry read from the wire or copied from other metadata, already checked.</summary>
    internal void AddChecked(RpcMetadataEntry entry) => _entries.Add(entry);

    /// <summary>Adds every entry of <paramref name="other"/> (none when null), in order.</summary>
    internal void AddAll(RpcMetadata? other)
    {
        if (other is not null)
        {
            _entries.AddRange(other._entries);
        }
    }

    /// <summary>A writable copy of <paramref name="source"/> (empty when null).</summary>
    internal static RpcMetadata CopyOf(RpcMetadata? source)
    {
        var copy = new RpcMetadata();
        copy.AddAll(source);
        return copy;
    }

    private void Append(RpcMetadataEntry entry)
    {
        ThrowIfReadOnly();
        _entries.Add(entry);
    }

    private void ThrowIfReadOnly()
    {
        if (IsReadOnly)
        {
            throw new InvalidOperationException("This metadata is read-only: it was received, or it has been sent already.");
        }
    }

    private static string CheckKey(string key, bool binary)
    {
        ArgumentNullException.ThrowIfNull(key);
        string normalized = key.ToLowerInvariant();
        string? problem = KeyProblem(normalized);
        if (problem is null && normalized.StartsWith(ReservedPrefix, StringComparison.Ordinal))
        {
            problem = $"keys starting with '{ReservedPrefix}' are reserved for RpcGen";
        }

        if (problem is null && binary != normalized.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            problem = binary ? $"a binary value needs a key ending in '{BinarySuffix}'" : $"a key ending in '{BinarySuffix}' takes a byte[] value";
        }

        return problem is null ? normalized : throw new ArgumentException($"Metadata key '{key}' is invalid: {problem}.", nameof(key));
    }

    /// <summary>Null for a valid (lower-case) key, otherwise why not; also used on keys read from the wire.</summary>
    internal static string? KeyProblem(string key)
    {
        if (key.Length is 0 or > 255)
        {
            return "a key has 1 to 255 characters";
        }

        foreach (char c in key)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.'))
            {
                return $"'{c}' is not allowed (keys use 0-9, a-z, '-', '_' and '.')";
            }
        }

        return null;
    }
}
