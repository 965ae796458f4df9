using System;

namespace RpcGen.Protocol;

/// <summary>Flag bits of the frame header's flags byte.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,
    /// <summary>On an error frame: the request never reached a handler; it is safe to send it elsewhere.</summary>
    NotProcessed = 1,
    /// <summary>On a response or error frame: the body starts with a 6-byte load report (<see cref="LoadReport"/>).</summary>
    LoadReport = 2,
    /// <summary>On an error frame: the message is followed by an i32 retry pushback in ms (-1: do not retry).</summary>
    Pushback = 4,
    /// <summary>On a request frame: a retry or hedge of an earlier attempt of the same call (the retry marker).</summary>
    RetryAttempt = 8,
    /// <summary>On a request frame: a 16-byte call id follows the metadata, the same in every attempt of the call.</summary>
    CallId = 16,
    /// <summary>
    /// On a response or error frame: after the load report come two metadata blocks, headers then trailers
    /// (<see cref="MetadataCodec"/>). Sent only to clients whose preface says they read them.
    /// </summary>
    Metadata = 32,

    /// <summary>On a stream items frame: each item starts with its i64 position (a <c>[Resumable]</c> stream).</summary>
    Positions = 64,

    /// <summary>
    /// On a stream items frame: its sender had to wait for credit before it (the window, not the sender, held the
    /// stream back), so a receiver that keeps up may grow its window.
    /// </summary>
    CreditWaited = 128,
}
