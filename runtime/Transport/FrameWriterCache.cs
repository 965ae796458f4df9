using System;
using System.Text.Json;
using RpcGen.Protocol;

namespace RpcGen.Transport;

/// <summary>The JSON of a frame's body: a request's arguments, a response's result.</summary>
internal interface IFrameBody
{
    void Write(Utf8JsonWriter writer);
}

/// <summary>What <see cref="FrameWriterCache.WriteBody"/> made of a frame's body.</summary>
internal enum BodyOutcome
{
    /// <summary>Written behind the prefix, within the size limit.</summary>
    Written,

    /// <summary>The serializer refused the value (the error says why); nothing may be sent.</summary>
    NotSerializable,

    /// <summary>Written, but over the largest frame the peer takes; nothing may be sent.</summary>
    TooLarge,
}

/// <summary>
/// Per-thread buffers and JSON writers for building request and response frames without allocating. Two per thread:
/// over the in-process transport a server writes its response on the thread that is still sending the request.
/// </summary>
internal sealed class FrameWriterCache
{
    [ThreadStatic]
    private static FrameWriterCache? t_first;

    [ThreadStatic]
    private static FrameWriterCache? t_second;

    private FrameWriterCache()
    {
        Buffer = new PooledBuffer();
        Writer = new Utf8JsonWriter(Buffer);
    }

    public PooledBuffer Buffer { get; }

    public Utf8JsonWriter Writer { get; }

    private PooledBuffer? _compressed; // the compressed copy of a frame, for methods with [Compress]

    /// <summary>
    /// The one skeleton of request and response frames: reserves <paramref name="prefix"/> bytes (the frame header and
    /// the kind's own fields, written once the body's length is known), writes the body's JSON behind them, and checks
    /// the body against <paramref name="maxBodyLength"/>. The frame is <c>Buffer.WrittenSpanWritable</c>.
    /// </summary>
    public BodyOutcome WriteBody<TBody>(int prefix, ref TBody body, int maxBodyLength, out int bodyLength, out Exception? error)
        where TBody : struct, IFrameBody
    {
        PooledBuffer buffer = Buffer;
        buffer.GetSpan(prefix);
        buffer.Advance(prefix);
        Utf8JsonWriter writer = Writer;
        writer.Reset(buffer);
        try
        {
            body.Write(writer);
            writer.Flush();
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            bodyLength = 0;
            error = ex;
            return BodyOutcome.NotSerializable;
        }

        error = null;
        bodyLength = buffer.WrittenCount - ProtocolConstants.HeaderLength;
        return bodyLength > maxBodyLength ? BodyOutcome.TooLarge : BodyOutcome.Written;
    }

    /// <summary>
    /// The frame to send for <paramref name="frame"/> (built in <see cref="Buffer"/>, its body's JSON behind
    /// <paramref name="prefix"/> bytes): the same frame, or one whose JSON is compressed as <paramref name="policy"/> says,
    /// when the peer reads the algorithm (<paramref name="accepted"/>), the connection allows it and it saves a tenth.
    /// </summary>
    public Span<byte> Compress(Span<byte> frame, int prefix, RpcCompressionPolicy? policy, int accepted, bool encrypted)
    {
        RpcCompression algorithm;
        if (policy is null || (algorithm = policy.For(frame.Length - prefix, accepted, encrypted)) == RpcCompression.None)
        {
            return frame;
        }

        return FrameCompression.CompressFrame(frame, prefix, algorithm, policy.Level, _compressed ??= new PooledBuffer());
    }

    /// <summary>Takes one of this thread's caches, or a new one when both are in use further up the stack.</summary>
    public static FrameWriterCache Rent()
    {
        FrameWriterCache? cache = t_first;
        if (cache is not null)
        {
            t_first = null;
        }
        else
        {
            cache = t_second;
            t_second = null;
            cache ??= new FrameWriterCache();
        }

        cache.Buffer.Clear();
        return cache;
    }

    public static void Return(FrameWriterCache cache)
    {
        cache.Buffer.Clear();
        cache._compressed?.Clear();
        cache.Writer.Reset(cache.Buffer);
        if (t_first is null)
        {
            t_first = cache;
        }
        else if (t_second is null)
        {
            t_second = cache;
        }
        else
        {
            cache.Writer.Dispose();
            cache.Buffer.Dispose();
            cache._compressed?.Dispose();
        }
    }
}
