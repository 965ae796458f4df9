using System;
using System.Globalization;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;

namespace RpcGen.AspNetCore;

/// <summary>Error responses: the fixed status table (<see cref="RpcHttpStatus"/>) and the body <c>{"code", "message"}</c>.</summary>
internal static class GatewayErrors
{
    /// <summary>
    /// Messages as people write them: quotes and non-ASCII letters unescaped (the body is JSON served as JSON, never
    /// embedded in HTML, so the relaxed encoder is safe here).
    /// </summary>
    public static readonly JsonWriterOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>An error the gateway itself answers (bad input, an unknown path): its HTTP status and body.</summary>
    public static IResult Result(int httpStatus, RpcStatusCode code, string message) => new ErrorResult(httpStatus, code, message);

    /// <summary>Answers <paramref name="error"/>: its status, its response headers and trailers as headers, the JSON body.</summary>
    public static Task WriteAsync(HttpContext http, RpcException error)
    {
        GatewayHeaders.FromMetadata(error.ResponseHeaders, error.Trailers, http.Response.Headers);
        if (error.RetryAfter is { } after && error.StatusCode is RpcStatusCode.Unavailable or RpcStatusCode.ResourceExhausted)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        return WriteAsync(http, RpcHttpStatus.ToHttpStatus(error.StatusCode), error.StatusCode, error.Message);
    }

    public static async Task WriteAsync(HttpContext http, int httpStatus, RpcStatusCode code, string message)
    {
        http.Response.StatusCode = httpStatus;
        http.Response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(http.Response.BodyWriter, Readable))
        {
            WriteBody(writer, code, message, null);
        }

        await http.Response.BodyWriter.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The error object: <c>{"code":"not_found","message":"..."}</c>, with the trailers when a stream's end carries them.</summary>
    public static void WriteBody(Utf8JsonWriter writer, RpcStatusCode code, string? message, RpcMetadata? trailers)
    {
        writer.WriteStartObject();
        writer.WriteString("code", RpcHttpStatus.ToCodeName(code));
        if (message is not null)
        {
            writer.WriteString("message", message);
        }

        if (trailers is { Count: > 0 })
        {
            // Each key once, with its values in order (a key may repeat); -bin values in base64.
            writer.WriteStartObject("trailers");
            var written = new System.Collections.Generic.HashSet<string>(StringComparer.Ordinal);
            foreach (RpcMetadataEntry entry in trailers)
            {
                if (!written.Add(entry.Key))
                {
                    continue;
                }

                writer.WriteStartArray(entry.Key);
                foreach (RpcMetadataEntry same in trailers)
                {
                    if (same.Key == entry.Key)
                    {
                        writer.WriteStringValue(same.IsBinary ? Convert.ToBase64String(same.ValueBytes!) : same.Value);
                    }
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    private sealed class ErrorResult(int httpStatus, RpcStatusCode code, string message) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => WriteAsync(httpContext, httpStatus, code, message);
    }
}
