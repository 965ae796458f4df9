using System;
using System.Text.Json;
using RpcGen.Protocol;
using RpcGen.Serialization;
using RpcGen.Transport;

namespace RpcGen.Client.Internal;

/// <summary>Where one attempt's request goes and how: its connection and call slot, deadline, send time, flags, headers.</summary>
internal readonly record struct RequestFrame(
    ClientConnection Connection, PendingCall Pending, long Deadline, long SentAt, FrameFlags Flags, RpcMetadata? Headers);

/// <summary>Builds a request frame (header, request prefix, the arguments' JSON) in place and queues it on a connection.</summary>
internal static class RequestWriter
{
    /// <summary>
    /// Serializes the arguments straight behind the frame header in a per-thread buffer and queues the frame. Returns
    /// false when the frame was not sent; <paramref name="error"/> is set when it must not be retried either.
    /// </summary>
    public static bool TryWrite<TArguments>(ClientCall call, in RequestFrame frame, ref TArguments arguments, out RpcException? error)
        where TArguments : struct, IRpcArguments
    {
        error = null;
        RpcClientMethod method = call.Method;
        ClientConnection connection = frame.Connection;
        PendingCall pending = frame.Pending;
        uint timeoutMs = 0;
        if (frame.Deadline != long.MaxValue)
        {
            double remaining = call.Client.TimeProvider.GetElapsedTime(frame.SentAt, frame.Deadline).TotalMilliseconds;
            timeoutMs = remaining <= 1 ? 1u : (uint)Math.Min(Math.Ceiling(remaining), uint.MaxValue);
        }

        byte[] name = method.NameUtf8;
        bool hasCallId = call.CallId != Guid.Empty;
        RpcMetadata? headers = frame.Headers;
        int maxMetadataSize = call.Client.Options.Connection.MaxMetadataSize;
        if (headers is not null && headers.EncodedLength > maxMetadataSize)
        {
            if (connection.TryRemove(pending))
            {
                error = new RpcException(RpcStatusCode.ResourceExhausted,
                    $"The request metadata of '{method.Descriptor.FullName}' is {headers.EncodedLength} bytes, over the limit of " +
                    $"{maxMetadataSize} (RpcClientOptions.Connection.MaxMetadataSize); nothing was sent.")
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
            var body = new ArgumentsBody<TArguments>(arguments);
            switch (cache.WriteBody(prefix, ref body, connection.MaxFrameBytes, out int bodyLength, out Exception? serializationError))
            {
                case BodyOutcome.NotSerializable:
                    if (connection.TryRemove(pending))
                    {
                        error = new RpcException(RpcStatusCode.InvalidArgument,
                            $"The arguments of '{method.Descriptor.FullName}' could not be serialized: {serializationError!.Message}", serializationError)
                        {
                            NotProcessed = true,
                        };
                    }

                    return false;
                case BodyOutcome.TooLarge:
                    if (connection.TryRemove(pending))
                    {
                        error = new RpcException(RpcStatusCode.ResourceExhausted,
                            $"The request for '{method.Descriptor.FullName}' is {bodyLength} bytes, over the maximum frame size of " +
                            $"{connection.MaxFrameBytes} bytes (RpcClientOptions.Connection.MaxFrameSize).")
                        {
                            NotProcessed = true,
                        };
                    }

                    return false;
            }

            Span<byte> bytes = cache.Buffer.WrittenSpanWritable;
            Span<byte> callId = stackalloc byte[hasCallId ? RequestBody.CallIdLength : 0];
            if (hasCallId)
            {
                call.CallId.TryWriteBytes(callId);
            }

            FrameEncoder.WriteRequest(bytes, pending.Id, frame.Flags, timeoutMs, name, callId, headers);
            int payloadLength = bytes.Length - prefix;
            bytes = cache.Compress(bytes, prefix, method.Descriptor.Compression, connection.ServerCompression, connection.IsEncrypted);
            if (connection.TrySendRequest(pending, bytes, out bool closed))
            {
                ClientTelemetry.RequestSent(method, connection.Remote, payloadLength);

                return true;
            }

            if (closed && connection.TryRemove(pending))
            {
                pending.Fail(new RpcException(RpcStatusCode.Unavailable, $"The connection to {connection.Remote} closed before the request was sent.")
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

    /// <summary>The arguments as a frame body.</summary>
    private readonly struct ArgumentsBody<TArguments> : IFrameBody
        where TArguments : struct, IRpcArguments
    {
        private readonly TArguments _arguments;

        public ArgumentsBody(TArguments arguments) => _arguments = arguments;

        public void Write(Utf8JsonWriter writer) => _arguments.Write(writer);
    }
}
