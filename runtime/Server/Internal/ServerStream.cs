using System;
using RpcGen.Descriptors;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Server.Internal;

/// <summary>
/// The streams of one streaming call on the server: the credit the client granted for the items the handler yields
/// (server and duplex streams) and the items the client sent and the handler has not read yet (client and duplex
/// streams), bounded by the window the server granted. Created per stream, never pooled: the read loop may still hold
/// it for a moment after its call ended, and then finds it ended.
/// </summary>
internal sealed class ServerStream
{
    public ServerStream(RpcMethodDescriptor method)
    {
        RpcStreamingPolicy policy = method.StreamingPolicy!;
        if (method.Streaming is RpcStreamingKind.Server or RpcStreamingKind.Duplex)
        {
            Credit = new StreamCredit();
        }

        if (method.Streaming is RpcStreamingKind.Client or RpcStreamingKind.Duplex)
        {
            Inbox = new StreamInbox(policy.WindowItems, policy.WindowBytes, policy.MaxWindowItems);
        }
    }

    /// <summary>What the client lets the handler send; null when the server does not stream.</summary>
    public StreamCredit? Credit { get; }

    /// <summary>The client's items not read yet; null when the client does not stream.</summary>
    public StreamInbox? Inbox { get; }

    /// <summary>Items the handler's stream sent.</summary>
    public long Sent { get; set; }

    /// <summary>What the client broke (items beyond credit, a malformed frame): the call ends with it, whatever the handler throws.</summary>
    public RpcException? Violation { get; set; }

    /// <summary>
    /// Items that arrived from the client. Null when they were kept; otherwise the problem: items the client had no
    /// credit for, a malformed frame, or items after its stream ended (the call then fails with what this says).
    /// </summary>
    public string? OnItems(ReadOnlySpan<byte> body, FrameFlags flags)
    {
        if (Inbox is null)
        {
            return "the client sent stream items to a method that takes no stream";
        }

        return Inbox.TryAddFrame(body, flags, out _, out string? problem) switch
        {
            StreamInbox.AddResult.OverCredit => "the client sent stream items beyond the credit the server granted",
            StreamInbox.AddResult.Malformed => $"malformed stream items frame: {problem}",
            _ => null, // kept, or dropped because the handler stopped reading (or the client ended its stream)
        };
    }

    /// <summary>The call ended: a sender waiting for credit wakes, unread items go back to the pool.</summary>
    public void End()
    {
        Credit?.Close();
        Inbox?.Discard();
    }
}
