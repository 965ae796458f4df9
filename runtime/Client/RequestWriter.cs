using System;
using System.Text.Json;
using RpcGen.Protocol;
using RpcGen.Resilience;
using RpcGen.Serialization;
using RpcGen.Transport;

namespace RpcGen.Client;

/// <summary>Builds a request frame (header, request prefix, the arguments' JSON) in place and queues it on a connection.</summary>
internal static class RequestWriter
{
    /// <summary>
    /// Serializes the arguments straight behind the frame header in a per-thread buffer and queues the frame. Returns
    /// false when the frame was not sent; <paramref name="error"/> is set when it must not be retried either.
    /// </summary>
    public static bool TryWrite<TArguments>(
        RpcClientMethod method, ref TArguments arguments, ClientConnection connection, PendingCall call,
        long deadline, TimeProvider time, long now, FrameFlags flags, CallState? state, RpcMetadata? headers, int maxMetadataSize, out RpcException? error)
        where TArguments : struct, IRpcArguments
    {
        error = null;
        uint timeoutMs = 0;
        if (deadline != long.MaxValue)
        {
            double remaining = time.GetElapsedTime(now, deadline).TotalMilliseconds;
            timeoutMs = remaining <= 1 ? 1u : (uint)Math.Min(Math.Ceiling(remaining), uint.MaxValue);
        }

        byte[] name = method.NameUtf8;
        bool hasCallId = state is not null && state.CallId != Guid.Empty;
        if (headers is not null && headers.EncodedLength > maxMetadataSize)
        {
            if (connection.TryRemove(call))
            {
                error = new RpcException(RpcStatusCode.ResourceExhausted,
                    $"The request metadata of '{method.Descriptor.FullName}' is {headers.EncodedLength} bytes, over the limit of {maxMetadataSize} (RpcClientOptions.Connection.MaxMetadataSize); nothing was sent.")
                {
                    NotProcessed = true,
                };
            }

            return false;
        }

        int prefix = FrameEncoder.RequestPrefixLength(name.Length, hasCallId, headers);
        FrameWriterCache cache = FrameWriterCache.Rent();
        try
        {
            PooledBuffer buffer = cache.Buffer;
            buffer.GetSpan(prefix);
            buffer.Advance(prefix);
            Utf8JsonWriter writer = cache.Writer;
            writer.Reset(buffer);
            try
            {
                arguments.Write(writer);
                writer.Flush();
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
            {
                if (connection.TryRemove(call))
                {
                    error = new RpcException(RpcStatusCode.InvalidArgument, $"The arguments of '{method.Descriptor.FullName}' could not be serialized: {ex.Message}", ex) { NotProcessed = true };
                }

                return false;
            }

            int bodyLength = buffer.WrittenCount - ProtocolConstants.HeaderLength;
            if (bodyLength > connection.MaxFrameBytes)
            {
                if (connection.TryRemove(call))
                {
                    error = new RpcException(
                        RpcStatusCode.ResourceExhausted,
                        $"The request for '{method.Descriptor.FullName}' is {bodyLength} bytes, over the maximum frame size of {connection.MaxFrameBytes} bytes (RpcClientOptions.Connection.MaxFrameSize).")
                    {
                        NotProcessed = true,
                    };
                }

                return false;
            }

            Span<byte> frame = buffer.WrittenSpanWritable;
            Span<byte> callId = stackalloc byte[hasCallId ? RequestBody.CallIdLength : 0];
            if (hasCallId)
            {
                state!.CallId.TryWriteBytes(callId);
            }

            FrameEncoder.WriteRequest(frame, call.Id, flags, timeoutMs, name, callId, headers);
            if (connection.TrySendRequest(call, frame, out bool closed))
            {
                if (Telemetry.RpcGenMetrics.ClientRequestSize.Enabled)
                {
                    System.Diagnostics.TagList tags = Telemetry.RpcGenMetrics.CallTags(method.Descriptor.Service.Name, method.Descriptor.Name);
                    Telemetry.RpcGenMetrics.AddServer(ref tags, connection.Remote);
                    Telemetry.RpcGenMetrics.ClientRequestSize.Record(frame.Length - prefix, tags);
                }

                return true;
            }

            if (closed && connection.TryRemove(call))
            {
                call.Fail(new RpcException(RpcStatusCode.Unavailable, $"The connection to {connection.Remote} closed before the request was sent.")
                {
                    NotProcessed = true,
                    Endpoint = connection.Remote,
                });
            }

            return false;
        }
        finally
        {
            FrameWriterCache.Return(cache);
        }
    }
}
