namespace RpcGen.Protocol;

/// <summary>The headers and trailers a response or error carried (either may be null: none).</summary>
internal sealed record ResponseMetadata(RpcMetadata? Headers, RpcMetadata? Trailers);
