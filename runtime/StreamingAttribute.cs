using System;

namespace RpcGen;

/// <summary>
/// How a streaming method's streams behave (docs/streaming.md): how much each receiver buffers (its window, in items
/// and bytes: the flow control), how long the caller waits between items, and what <c>[Timeout]</c> bounds. On the
/// interface it applies to every streaming method; on a method it wins over the interface's. Methods that do not
/// stream ignore it.
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false, AllowMultiple = false)]
public sealed class StreamingAttribute : Attribute
{
    /// <summary>
    /// The items a receiver lets its sender send at first before it reads any (its window in items, which may grow up to
    /// <see cref="MaxWindowItems"/>); 1 to 65,536. The default value is 64.
    /// </summary>
    public int WindowItems { get; set; } = RpcStreamingPolicy.DefaultWindowItems;

    /// <summary>
    /// The most items the window grows to, 1 to 65,536; the default value is 1,024. A receiver that reads faster than
    /// credit lets its sender send (it finds nothing to read while the sender has under a quarter window of credit)
    /// doubles its window in items, up to this; a slow reader or a slow sender never grows it, and the window in bytes
    /// never grows. Equal to (or below) <see cref="WindowItems"/>: the window stays as it is.
    /// </summary>
    public int MaxWindowItems { get; set; } = RpcStreamingPolicy.DefaultMaxWindowItems;

    /// <summary>
    /// The most bytes a receiver holds unread, plus one item; 1,024 to 64 MiB. The default value is 256 KiB.
    /// </summary>
    public int WindowBytes { get; set; } = RpcStreamingPolicy.DefaultWindowBytes;

    /// <summary>
    /// The longest a reader waits for the next item, in milliseconds, before the stream fails with
    /// <see cref="RpcStatusCode.DeadlineExceeded"/>: the caller for the server's items (a server or duplex stream), the
    /// handler for the caller's (a client or duplex stream: its read throws, and the call ends with that status unless
    /// the handler catches it). 0 waits as long as the stream lasts (the default: heartbeats find a dead peer, not this).
    /// </summary>
    public int IdleTimeoutMs { get; set; }

    /// <summary>
    /// True: <c>[Timeout]</c> bounds the whole stream, which the server then ends at its deadline. False (the default):
    /// it bounds the time to the stream's first message (the first item the caller receives; for a client stream, the
    /// server's first grant of credit), so an endless watch is not cut by its method's timeout.
    /// </summary>
    public bool TimeoutCoversWholeStream { get; set; }
}
