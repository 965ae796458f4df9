namespace RpcGen.Protocol;

/// <summary>Numbers every implementation of the protocol must agree on.</summary>
internal static class ProtocolConstants
{
    /// <summary>"RPCG" in ASCII.</summary>
    public const uint Magic = 0x47435052; // bytes 52 50 43 47 read little-endian
    public const byte Version = 1;
    public const byte RoleClient = 1;
    public const byte RoleServer = 2;
    public const int PrefaceLength = 8;

    /// <summary>A client's preface, bytes 6–7, bit 0: it reads response metadata (frame flag Metadata).</summary>
    public const ushort ClientReadsMetadata = 1;

    /// <summary>
    /// A client's preface, bytes 6–7, bits 1–3: the compression algorithms it reads (bit <c>id</c> for
    /// <see cref="RpcCompression"/> <c>id</c>): gzip, Brotli, Zstandard.
    /// </summary>
    public const ushort ClientCompressionMask = AllCompression;

    /// <summary>Bit <c>1 &lt;&lt; id</c> of every algorithm this build reads: what a side announces when it accepts compression.</summary>
    public const ushort AllCompression = (1 << (int)RpcCompression.Gzip) | (1 << (int)RpcCompression.Brotli) | (1 << (int)RpcCompression.Zstd);

    /// <summary>A Settings frame's setting: the compression algorithms the sender reads (a bit mask, bit <c>id</c>).</summary>
    public const ushort SettingAcceptedCompression = 1;
    public const int HeaderLength = 12;
    public const int DefaultMaxFrameSize = 4 * 1024 * 1024;

    /// <summary>The most bytes of metadata per call and direction by default (gRPC's 8 KiB).</summary>
    public const int DefaultMaxMetadataSize = 8 * 1024;
    public const int MaxMethodNameLength = 1024;
}
