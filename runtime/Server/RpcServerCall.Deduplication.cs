using System;
using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using RpcGen.Server.Deduplication;

namespace RpcGen.Server;

// The claim a deduplicated call's handler sees (RpcCallContext.Deduplication), and the answer it may store itself.
public sealed partial class RpcServerCall
{
    /// <summary>The claim of this run, while <paramref name="generation"/> is this instance's call; null otherwise.</summary>
    internal RpcDeduplicationClaim? DeduplicationFor(int generation)
    {
        lock (_lock)
        {
            if (generation != _generation || Dedupe is not { } run)
            {
                return null;
            }

            return run.Claim ??= new RpcDeduplicationClaim(this, generation, run);
        }
    }

    /// <summary>The answer a repeat would get if the handler returned <paramref name="result"/> now.</summary>
    internal DeduplicationRecord CreateRecord<T>(int generation, T result, bool hasResult)
    {
        byte[] body = Array.Empty<byte>();
        RpcMetadata? headers, trailers;
        lock (_lock)
        {
            if (generation != _generation)
            {
                throw new InvalidOperationException("The call has ended: its answer was stored when it was sent.");
            }

            headers = _responseHeaders;
            trailers = _responseTrailers;
        }

        if (hasResult)
        {
            if (Method.ResultClrType != typeof(T))
            {
                throw new ArgumentException(
                    $"'{Method.FullName}' returns {Method.ResultClrType?.Name ?? "no result"}, not {typeof(T).Name}: store the value the handler returns.");
            }

            JsonTypeInfo<T> type = _connection.Server.DispatcherContext.GetTypeInfo<T>(Method.Service);
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                Serialization.RpcJson.Write(writer, result, type);
            }

            body = buffer.WrittenSpan.ToArray();
        }
        else if (Method.ResultClrType is not null)
        {
            throw new ArgumentException($"'{Method.FullName}' returns {Method.ResultClrType.Name}: store the value the handler returns.");
        }

        return new DeduplicationRecord(RpcStatusCode.OK, null, null, body, Protocol.FrameEncoder.EncodeMetadata(headers, trailers));
    }
}
