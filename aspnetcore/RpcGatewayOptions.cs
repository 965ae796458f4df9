using System;

namespace RpcGen.AspNetCore;

/// <summary>What one <c>MapRpcGateway</c> accepts (docs/gateway.md#limits).</summary>
public sealed class RpcGatewayOptions
{
    private long _maxRequestBodySize = 4 * 1024 * 1024;

    /// <summary>
    /// The largest request body read, in bytes (default 4 MiB, the server's default maximum frame size); a larger one is
    /// refused with 413 before it is read to its end. Query strings are bounded by Kestrel's request line limit.
    /// </summary>
    public long MaxRequestBodySize
    {
        get => _maxRequestBodySize;
        set => _maxRequestBodySize = value >= 1024 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "At least 1024 bytes.");
    }
}
