using System;
using System.IO.Compression;

namespace RpcGen;

/// <summary>The compression algorithms a frame's body may travel in (docs/compression.md); the value is the wire id.</summary>
public enum RpcCompression : byte
{
    /// <summary>Not compressed. On a method, <c>[Compress(RpcCompression.None)]</c> turns off its interface's compression.</summary>
    None = 0,

    /// <summary>gzip (RFC 1952), from System.IO.Compression: what every HTTP stack reads.</summary>
    Gzip = 1,

    /// <summary>Brotli (RFC 7932), from System.IO.Compression: smaller than gzip on text, slower to write at high levels.</summary>
    Brotli = 2,

    /// <summary>Zstandard (RFC 8878), from ZstdSharp.Port: gzip's ratio or better at several times its speed. The default.</summary>
    Zstd = 3,
}

/// <summary>
/// Compresses the arguments and results of a method (or, on the interface, of each of its methods) whose JSON is at least
/// <see cref="MinSize"/> bytes, when the peer accepts the algorithm (each side says which it reads when the connection
/// opens) and when compressing saves at least a tenth. Metadata and errors are never compressed. Over TLS a method
/// is compressed only with <see cref="AllowOverTls"/> (docs/compression.md says why). On a method it wins over the
/// interface's.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class CompressAttribute : Attribute
{
    /// <summary>Compresses with Zstandard.</summary>
    public CompressAttribute() { }

    /// <summary>Compresses with <paramref name="algorithm"/>; <see cref="RpcCompression.None"/> turns compression off.</summary>
    public CompressAttribute(RpcCompression algorithm) => Algorithm = algorithm;

    /// <summary>The algorithm. The default value is <see cref="RpcCompression.Zstd"/>.</summary>
    public RpcCompression Algorithm { get; set; } = RpcCompression.Zstd;

    /// <summary>
    /// The fewest bytes of JSON worth compressing; smaller bodies are sent as they are. 0 to the largest frame; the
    /// default value is 1,024 (below about a kilobyte, compressing costs more time than the bytes it saves).
    /// </summary>
    public int MinSize { get; set; } = RpcCompressionPolicy.DefaultMinSize;

    /// <summary>
    /// How hard the algorithm works. The default value is <see cref="CompressionLevel.Fastest"/> (gzip level 1, Brotli
    /// quality 1, Zstandard level 1); <see cref="CompressionLevel.Optimal"/> is the algorithm's usual default,
    /// <see cref="CompressionLevel.SmallestSize"/> its slowest.
    /// </summary>
    public CompressionLevel Level { get; set; } = CompressionLevel.Fastest;

    /// <summary>
    /// True: compressed over TLS as well. False (the default): sent uncompressed over TLS, because a compressed frame
    /// that mixes a secret with data an attacker chooses leaks the secret through its length (CRIME, BREACH). Opt in
    /// only for methods whose payloads carry no secrets next to caller-chosen data; analyzer RPCGEN026 warns where an
    /// authorized method opts in.
    /// </summary>
    public bool AllowOverTls { get; set; }
}

/// <summary>
/// A method's compression, as <see cref="CompressAttribute"/> says (the generator writes one into the descriptor of each
/// method with the attribute on it or its interface). Each setter checks its value.
/// </summary>
public sealed class RpcCompressionPolicy
{
    internal const int DefaultMinSize = 1024;

    private RpcCompression _algorithm = RpcCompression.Zstd;
    private int _minSize = DefaultMinSize;
    private CompressionLevel _level = CompressionLevel.Fastest;

    /// <inheritdoc cref="CompressAttribute.Algorithm"/>
    public RpcCompression Algorithm
    {
        get => _algorithm;
        set => _algorithm = value is >= RpcCompression.None and <= RpcCompression.Zstd ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Compress(Algorithm)] must be None, Gzip, Brotli or Zstd.");
    }

    /// <inheritdoc cref="CompressAttribute.MinSize"/>
    public int MinSize
    {
        get => _minSize;
        set => _minSize = value >= 0 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Compress(MinSize)] must be 0 or positive.");
    }

    /// <inheritdoc cref="CompressAttribute.Level"/>
    public CompressionLevel Level
    {
        get => _level;
        set => _level = value is >= CompressionLevel.Optimal and <= CompressionLevel.SmallestSize ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "[Compress(Level)] must be a defined CompressionLevel.");
    }

    /// <inheritdoc cref="CompressAttribute.AllowOverTls"/>
    public bool AllowOverTls { get; set; }

    /// <summary>The algorithm to compress a body of <paramref name="length"/> bytes with, or None.</summary>
    internal RpcCompression For(int length, int acceptedMask, bool encrypted) =>
        _algorithm != RpcCompression.None && length >= _minSize && (acceptedMask & (1 << (int)_algorithm)) != 0 && (!encrypted || AllowOverTls)
            ? _algorithm
            : RpcCompression.None;
}
