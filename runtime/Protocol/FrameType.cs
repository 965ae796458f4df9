namespace RpcGen.Protocol;

/// <summary>The kinds of frame on an RpcGen connection. See docs/protocol.md for each byte.</summary>
internal enum FrameType : byte
{
    Request = 1,
    Response = 2,
    Error = 3,
    Cancel = 4,
    Ping = 5,
    Pong = 6,
    GoAway = 7,

    /// <summary>One or more items of a call's stream, in either direction (docs/protocol.md, "Streams").</summary>
    StreamItems = 8,

    /// <summary>Client → server: the client's stream of a call is complete (half-close).</summary>
    StreamEnd = 9,

    /// <summary>Either direction: the receiver of a call's stream lets the sender send more items and bytes.</summary>
    Credit = 10,

    /// <summary>
    /// Server → client: the response headers of a call whose stream started, ahead of its first items (they then do
    /// not travel again with its end). Sent only to clients that read response metadata.
    /// </summary>
    Headers = 11,

    /// <summary>
    /// Server → client, call id 0, right behind the server's preface: what the server accepts (docs/protocol.md,
    /// "Settings"). Clients that predate it ignore it, as any unknown frame.
    /// </summary>
    Settings = 12,
}
