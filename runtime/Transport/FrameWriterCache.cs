using System;
using System.Text.Json;

namespace RpcGen.Transport;

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
        }
    }
}
