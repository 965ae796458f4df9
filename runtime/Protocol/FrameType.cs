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
}
