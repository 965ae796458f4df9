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
    public const int HeaderLength = 12;
    public const int DefaultMaxFrameSize = 4 * 1024 * 1024;
    public const int MaxMethodNameLength = 1024;
}
