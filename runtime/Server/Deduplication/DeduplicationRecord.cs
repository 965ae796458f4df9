using System;

namespace RpcGen.Server.Deduplication;

/// <summary>
/// A deduplicated call's answer as its repeats get it: the status, the error's message and pushback, the result's
/// bytes and the response metadata (headers and trailers) as they travel on the wire.
/// </summary>
public sealed class DeduplicationRecord
{
    /// <summary>Creates an answer.</summary>
    /// <param name="status">OK for a result, else the error's status.</param>
    /// <param name="message">The error's message; null with <see cref="RpcStatusCode.OK"/>.</param>
    /// <param name="pushbackMilliseconds">The error's pushback: -1 for "do not retry", null for none.</param>
    /// <param name="body">The result's JSON (empty for methods without a result, and for errors).</param>
    /// <param name="metadata">Two metadata blocks, headers then trailers, as in a response frame (docs/protocol.md); empty for none.</param>
    public DeduplicationRecord(
        RpcStatusCode status, string? message, int? pushbackMilliseconds, ReadOnlyMemory<byte> body, ReadOnlyMemory<byte> metadata)
    {
        if (status == RpcStatusCode.OK && message is not null)
        {
            throw new ArgumentException("A successful answer has no message.", nameof(message));
        }

        if (status != RpcStatusCode.OK && message is null)
        {
            throw new ArgumentException("An error needs its message.", nameof(message));
        }

        Status = status;
        Message = message;
        PushbackMilliseconds = pushbackMilliseconds;
        Body = body;
        Metadata = metadata;
    }

    /// <summary>OK for a result, else the error's status.</summary>
    public RpcStatusCode Status { get; }

    /// <summary>The error's message; null for a result.</summary>
    public string? Message { get; }

    /// <summary>The error's pushback in milliseconds (-1: do not retry); null for none.</summary>
    public int? PushbackMilliseconds { get; }

    /// <summary>The result's JSON bytes.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>Headers and trailers, two metadata blocks as on the wire; empty for none.</summary>
    public ReadOnlyMemory<byte> Metadata { get; }

    /// <summary>The bytes this answer takes, counted against a store's byte bound.</summary>
    public long Size => Body.Length + Metadata.Length + ((Message?.Length ?? 0) * 2) + 16;
}
