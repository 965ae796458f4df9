namespace RpcGen.Protocol;

/// <summary>
/// The metadata blocks a response or error frame carried: headers and trailers (either may be null: none). Not a
/// response of its own: the client keeps it inside its <c>ResponseData</c>.
/// </summary>
internal sealed record HeadersAndTrailers(RpcMetadata? Headers, RpcMetadata? Trailers);
