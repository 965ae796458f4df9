using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using System.Threading.Tasks;
using RpcGen.Protocol;
using RpcGen.Server.Internal;
using RpcGen.Transport;

namespace RpcGen.Server;

// Streaming calls: the client's items as the handler's IAsyncEnumerable<T> argument, and the handler's
// IAsyncEnumerable<T> sent as items under the client's credit, then ended with an empty response (and trailers).
public sealed partial class RpcServerCall
{
    /// <summary>The call's streams, for a streaming method; null otherwise.</summary>
    internal ServerStream? Stream { get; set; }

    /// <summary>
    /// The items the client streams, for the handler's <c>IAsyncEnumerable&lt;T&gt;</c> parameter. Enumerated once; ends when
    /// the client ends its stream; throws <see cref="OperationCanceledException"/> when the call is cancelled or its
    /// deadline passes, and an <see cref="RpcException"/> (<see cref="RpcStatusCode.InvalidArgument"/>) for an item that
    /// cannot be read, or (<see cref="RpcStatusCode.DeadlineExceeded"/>) when the method's <c>[Streaming(IdleTimeoutMs)]</c>
    /// passed while the handler waited for the next item.
    /// </summary>
    public IAsyncEnumerable<T> ReadStream<T>(JsonTypeInfo<T> itemType)
    {
        StreamInbox inbox = Stream?.Inbox ?? throw new InvalidOperationException($"'{Method.FullName}' takes no stream from its caller.");
        int idleMs = (Method.StreamingPolicy ?? RpcStreamingPolicy.Default).IdleTimeoutMs;
        var reading = new StreamReading(Method.FullName, Span, idleMs, _connection.Server.TimeProvider);
        return ReadItems(inbox, itemType, reading, TokenFor(Generation));
    }

    /// <summary>What the reading of a caller's stream needs besides its inbox: names and bounds.</summary>
    private sealed record StreamReading(string Method, System.Diagnostics.Activity? Span, int IdleTimeoutMs, TimeProvider Time);

    private static async IAsyncEnumerable<T> ReadItems<T>(
        StreamInbox inbox, JsonTypeInfo<T> itemType, StreamReading reading, CancellationToken callToken,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string method = reading.Method;
        using CancellationTokenSource? linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(callToken,
            cancellationToken) : null;
        CancellationToken token = linked?.Token ?? callToken;
        long index = 0;
        try
        {
            while (true)
            {
                ValueTask<(bool, StreamInbox.Item)> next = inbox.ReadAsync(token);
                (bool read, StreamInbox.Item item) = reading.IdleTimeoutMs > 0 && !next.IsCompleted
                    ? await WithinIdleTimeout(next, reading).ConfigureAwait(false)
                    : await next.ConfigureAwait(false);
                if (!read)
                {
                    yield break;
                }

                index++;
                Telemetry.RpcGenTracing.Message(reading.Span, sent: false, index, item.Length);
                T value;
                try
                {
                    value = Serialization.RpcJson.Read(item.Json, itemType);
                }
                catch (Exception ex) when (ex is JsonException or NotSupportedException)
                {
                    throw new RpcException(RpcStatusCode.InvalidArgument,
                        $"Item {index} of the stream sent to '{method}' could not be read as {typeof(T).Name}: {ex.Message}", ex);
                }
                finally
                {
                    inbox.Release(item);
                }

                yield return value;
            }
        }
        finally
        {
            inbox.Discard(reader: true); // a handler that stops reading early: what is buffered goes back now
        }
    }

    /// <summary>
    /// Completes a streaming call: sends the items of <paramref name="items"/> as the client's credit allows (waiting
    /// while it has none), then an empty response with the trailers; what the enumeration throws ends the call as a
    /// handler's exception does.
    /// </summary>
    public ValueTask CompleteStreamAsync<T>(IAsyncEnumerable<T> items, JsonTypeInfo<T> itemType) => new(SendStreamAsync(items, itemType, null));

    /// <summary>
    /// Completes a <c>[Resumable]</c> stream: as <see cref="CompleteStreamAsync{T}(IAsyncEnumerable{T}, JsonTypeInfo{T})"/>,
    /// each item sent with its <paramref name="position"/>, from which the caller resumes after a break.
    /// </summary>
    public ValueTask CompleteStreamAsync<T>(IAsyncEnumerable<T> items, JsonTypeInfo<T> itemType, Func<T, long> position) =>
        new(SendStreamAsync(items, itemType, position));

    /// <summary>The next item of the caller's stream, or DeadlineExceeded when it does not come within the idle timeout.</summary>
    private static async Task<(bool, StreamInbox.Item)> WithinIdleTimeout(ValueTask<(bool, StreamInbox.Item)> next, StreamReading reading)
    {
        Task<(bool, StreamInbox.Item)> read = next.AsTask();
        try
        {
            return await read.WaitAsync(TimeSpan.FromMilliseconds(reading.IdleTimeoutMs), reading.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The read stays pending until the stream ends; what it ends with is nobody's to see.
            _ = read.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw new RpcException(RpcStatusCode.DeadlineExceeded,
                $"No item of the stream sent to '{reading.Method}' arrived for {reading.IdleTimeoutMs} ms, its idle timeout " +
                "([Streaming(IdleTimeoutMs)]).");
        }
    }

    /// <summary>
    /// Sends the response headers the handler wrote so far, before its stream's first items, to a client that reads
    /// them; they are sealed then (writing more fails, as after a unary call's response), and the end does not carry
    /// them again. Headers over the metadata limit stay for the end, which refuses them as it does for any call.
    /// </summary>
    private void SendHeadersAhead()
    {
        RpcMetadata? headers;
        lock (_lock)
        {
            headers = _responseHeaders;
            if (headers is not { Count: > 0 } || _headersSent || !_connection.ClientReadsMetadata ||
                MetadataCodec.Length(headers) > _connection.Server.Options.Limits.MaxMetadataSize)
            {
                return;
            }

            headers.MakeReadOnly();
            _headersSent = true;
        }

        int length = MetadataCodec.Length(headers);
        byte[] frame = BufferPool.Rent(ProtocolConstants.HeaderLength + length);
        FrameHeader.Write(frame, length, FrameType.Headers, FrameFlags.None, Id);
        MetadataCodec.Write(frame.AsSpan(ProtocolConstants.HeaderLength), headers);
        _connection.Output.TryEnqueue(frame.AsSpan(0, ProtocolConstants.HeaderLength + length));
        BufferPool.Return(frame);
    }

    private async Task SendStreamAsync<T>(IAsyncEnumerable<T> items, JsonTypeInfo<T> itemType, Func<T, long>? position)
    {
        StreamCredit credit = Stream?.Credit ?? throw new InvalidOperationException($"'{Method.FullName}' does not stream to its caller.");
        RpcServerLimits limits = _connection.Server.Options.Limits;
        var target = new StreamTarget(_connection.Output, Id, credit, limits.MaxFrameSize, limits.MaxResponseBufferSize ?? 0,
            SendHeadersAhead, Span, StreamTarget.CompressionFor(Method.Compression, _connection.ClientCompression, _connection.IsEncrypted));
        using (var sender = new StreamSender(target))
        {
            try
            {
                await sender.SendAsync(items, itemType, Method.FullName, CancellationToken, position).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Stream!.Sent = sender.Sent;
                Fail(ex);
                return;
            }

            Stream!.Sent = sender.Sent;
        }

        SucceedEmpty();
    }
}
