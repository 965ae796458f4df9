using System;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Protocol;
using RpcGen.Transport;

namespace RpcGen.Server;

// Writing a call's outcome: the result (serialized behind the header, load report and metadata), an empty response,
// or the error a handler's exception becomes (only RpcException text crosses the wire).
public sealed partial class RpcServerCall
{
    private void WriteEmpty()
    {
        int metadataLength = ResponseMetadataLength(out string? tooLarge);
        if (tooLarge is not null)
        {
            SendFinalError(RpcStatusCode.ResourceExhausted, tooLarge);
            return;
        }

        if (metadataLength > 0)
        {
            WriteResult(default(object), null!, metadataLength);
            return;
        }

        Span<byte> frame = stackalloc byte[FrameEncoder.ResponsePrefixLength];
        FrameEncoder.WriteResponse(frame, Id, _connection.Server.InFlightCalls, _connection.Server.UtilizationBasisPoints);
        StoreResult(default);
        _connection.ReleaseSlot(this);
        _connection.Output.TryEnqueue(frame);
    }

    private void WriteResult<T>(T value, JsonTypeInfo<T> resultType)
    {
        int metadataLength = ResponseMetadataLength(out string? tooLarge);
        if (tooLarge is not null)
        {
            SendFinalError(RpcStatusCode.ResourceExhausted, tooLarge);
            return;
        }

        WriteResult(value, resultType, metadataLength);
    }

    /// <summary>Serializes the result (none when <paramref name="resultType"/> is null) behind the header, load report and metadata.</summary>
    private void WriteResult<T>(T value, JsonTypeInfo<T>? resultType, int metadataLength)
    {
        FrameWriterCache cache = FrameWriterCache.Rent();
        try
        {
            int prefix = FrameEncoder.ResponsePrefixLength + metadataLength;
            var body = new ResultBody<T>(value, resultType);
            int maxFrameSize = _connection.Server.Options.Limits.MaxFrameSize;
            switch (cache.WriteBody(prefix, ref body, maxFrameSize, out int bodyLength, out Exception? error))
            {
                case BodyOutcome.NotSerializable:
                    Telemetry.RpcGenLog.ResultNotSerialized(_connection.Server.Logger, error!, Method.FullName);
                    SendFinalError(RpcStatusCode.Internal, $"The server could not serialize the result of '{Method.FullName}'.");
                    return;
                case BodyOutcome.TooLarge:
                    SendFinalError(RpcStatusCode.ResourceExhausted,
                        $"The result of '{Method.FullName}' is {bodyLength} bytes, over the server's maximum frame size of {maxFrameSize} bytes.");
                    return;
            }

            Span<byte> frame = cache.Buffer.WrittenSpanWritable;
            ResponseSize = frame.Length - prefix;
            FrameEncoder.WriteResponse(frame, Id, _connection.Server.InFlightCalls, _connection.Server.UtilizationBasisPoints, metadataLength, SealHeaders(), SealTrailers());
            StoreResult(frame.Slice(prefix));
            _connection.ReleaseSlot(this);
            _connection.Output.TryEnqueue(cache.Compress(frame, prefix, Method.Compression, _connection.ClientCompression, _connection.IsEncrypted));
        }
        finally
        {
            FrameWriterCache.Return(cache);
        }
    }

    /// <summary>A handler's result as a frame body; none when <c>Type</c> is null (an empty result with metadata).</summary>
    private readonly struct ResultBody<T> : IFrameBody
    {
        private readonly T _value;
        private readonly JsonTypeInfo<T>? _type;

        public ResultBody(T value, JsonTypeInfo<T>? type)
        {
            _value = value;
            _type = type;
        }

        public void Write(Utf8JsonWriter writer)
        {
            if (_type is not null)
            {
                Serialization.RpcJson.Write(writer, _value, _type);
            }
        }
    }

    /// <summary>
    /// Turns a handler's exception into an error frame. Only <see cref="RpcException"/> text crosses the wire.
    /// <paramref name="notProcessed"/>: the handler never ran (an interceptor refused the call), so the client may send it elsewhere.
    /// </summary>
    internal void WriteError(Exception exception, bool notProcessed = false)
    {
        if (Stream?.Violation is { } violation)
        {
            exception = violation; // the client broke the stream's rules: that, not the cancellation it caused, is the outcome
        }

        RpcServer server = _connection.Server;
        RpcStatusCode code;
        string message;
        int? pushback = null;
        bool abandoned = false;
        switch (exception)
        {
            case RpcException rpc:
                code = rpc.StatusCode;
                message = rpc.Message;
                AddThrownMetadata(rpc);
                pushback = rpc.DoNotRetry ? -1 : rpc.RetryAfter is { } after ? (int)Math.Clamp(after.TotalMilliseconds, 0, int.MaxValue) : null;
                break;
            case OperationCanceledException when _cancellation is { IsCancellationRequested: true } || _cancelRequested:
                // Without a cancel frame or an abort, only the deadline timer cancels the token. (Timers are coarser
                // than timestamps, so the clock alone cannot tell: it may read a hair before the deadline.)
                bool deadlinePassed = server.TimeProvider.GetTimestamp() >= _deadline - (server.TimeProvider.TimestampFrequency / 100);
                abandoned = true; // the handler gave up: a deduplicated call may run again when retried
                if (!_cancelRequested || deadlinePassed)
                {
                    code = RpcStatusCode.DeadlineExceeded;
                    message = $"The deadline of '{Method.FullName}' passed while its handler ran.";
                }
                else
                {
                    code = RpcStatusCode.Cancelled;
                    message = $"'{Method.FullName}' was cancelled.";
                }

                break;
            default:
                code = RpcStatusCode.Internal;
                message = server.Options.IncludeExceptionDetails
                    ? $"Exception was thrown by handler of '{Method.FullName}': {exception}"
                    : $"Exception was thrown by handler of '{Method.FullName}'.";
                Telemetry.RpcGenLog.HandlerThrew(server.Logger, exception, Method.FullName);
                break;
        }

        SendFinalError(code, message, pushback, abandoned || notProcessed, notProcessed ? FrameFlags.NotProcessed : FrameFlags.None);
    }
}
