using System;
using System.Collections.Generic;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace RpcGen;

/// <summary>How an <see cref="RpcClient"/> connects and calls.</summary>
public sealed class RpcClientOptions
{
    /// <summary>The servers to call. Calls are spread over them round-robin.</summary>
    public IList<RpcEndpoint> Endpoints { get; } = new List<RpcEndpoint>();

    /// <summary>
    /// Serializer options for arguments and results. Pass options whose <c>TypeInfoResolver</c> is a source-generated
    /// <c>JsonSerializerContext</c> for trimming and Native AOT. The default value is <see cref="JsonSerializerDefaults.Web"/> options.
    /// </summary>
    public JsonSerializerOptions? SerializerOptions { get; set; }

    /// <summary>The largest frame sent or accepted, in bytes. The default value is 4 MiB.</summary>
    public int MaxFrameSize { get; set; } = Protocol.ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>How long connecting and the protocol handshake may take. The default value is 5 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The first wait before reconnecting to an endpoint that could not be reached. The default value is 100 ms.</summary>
    public TimeSpan ReconnectBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between reconnection attempts. The default value is 5 seconds.</summary>
    public TimeSpan MaxReconnectBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock for deadlines and backoff. The default value is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where connection events are logged. The default value is none.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal void Validate()
    {
        if (Endpoints.Count == 0)
        {
            throw new ArgumentException("RpcClientOptions.Endpoints is empty: add at least one server endpoint.", nameof(Endpoints));
        }

        if (MaxFrameSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameSize), MaxFrameSize, "MaxFrameSize must be at least 1024 bytes.");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "ConnectTimeout must be positive.");
        }

        if (ReconnectBackoff <= TimeSpan.Zero || MaxReconnectBackoff < ReconnectBackoff)
        {
            throw new ArgumentOutOfRangeException(nameof(ReconnectBackoff), ReconnectBackoff, "ReconnectBackoff must be positive and not above MaxReconnectBackoff.");
        }
    }
}
