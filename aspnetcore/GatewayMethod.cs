using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using RpcGen.Client;
using RpcGen.Descriptors;

namespace RpcGen.AspNetCore;

/// <summary>
/// One method behind the gateway: an HTTP request becomes a call (<see cref="RpcClient.InvokeJsonAsync"/> or
/// <see cref="RpcClient.StreamJsonAsync"/>) with the request's headers as metadata, its timeout header as the call's
/// deadline and the request's abort as its cancellation; the call's result, items or error become the response.
/// </summary>
internal sealed class GatewayMethod
{
    private const string Json = "application/json";
    private const string Ndjson = "application/x-ndjson";
    private const string EventStream = "text/event-stream";

    private static readonly JsonWriterOptions s_writer = new()
    {
        SkipValidation = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // see GatewayErrors.Readable
    };

    private readonly RpcGatewayTarget _target;
    private readonly RpcGatewayOptions _options;
    private readonly HashSet<string> _stringParameters = new(StringComparer.Ordinal);
    private readonly Action<RpcClient> _prepare;
    private RpcClient? _prepared; // the client the service's proxy was created on (its [LoadBalance(typeof(X))] factories)

    public GatewayMethod(RpcMethodDescriptor descriptor, RpcGatewayTarget target, RpcGatewayOptions options, Action<RpcClient> prepare)
    {
        _prepare = prepare;
        Descriptor = descriptor;
        _target = target;
        _options = options;
        foreach (RpcParameterDescriptor parameter in descriptor.Parameters)
        {
            if (IsStringLike(parameter.Type))
            {
                _stringParameters.Add(parameter.Name);
            }
        }
    }

    public RpcMethodDescriptor Descriptor { get; }

    /// <summary>GET serves methods that change nothing and take no stream from the caller.</summary>
    public bool ServesGet => Descriptor.NoSideEffects && Descriptor.Streaming is RpcStreamingKind.None or RpcStreamingKind.Server;

    private bool TakesStream => Descriptor.Streaming is RpcStreamingKind.Client or RpcStreamingKind.Duplex;

    public Task PostAsync(HttpContext http) => ServeAsync(http, get: false);

    public Task GetAsync(HttpContext http) => ServeAsync(http, get: true);

    private async Task ServeAsync(HttpContext http, bool get)
    {
        if (TakesStream)
        {
            await GatewayErrors.WriteAsync(http, StatusCodes.Status501NotImplemented, RpcStatusCode.Unimplemented,
                $"'{Descriptor.FullName}' takes the caller's stream, which the HTTP gateway does not carry: call it with an RpcGen client.")
                .ConfigureAwait(false);
            return;
        }

        RpcClient? client = _target.Resolve(http.RequestServices);
        if (client is null)
        {
            await GatewayErrors.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, RpcStatusCode.Unavailable,
                $"The RPC server behind '{Descriptor.FullName}' is not running.").ConfigureAwait(false);
            return;
        }

        if (!ReferenceEquals(Volatile.Read(ref _prepared), client))
        {
            _prepare(client); // idempotent: the client keeps one proxy per service
            Volatile.Write(ref _prepared, client);
        }

        (ReadOnlyMemory<byte> arguments, int status, string? problem) =
            get ? FromQuery(http.Request.Query) : await ReadBodyAsync(http).ConfigureAwait(false);
        if (problem is null && Descriptor.ResumeFromParameter is { } resume)
        {
            (arguments, problem) = WithResumeFrom(arguments, resume, http.Request.Headers["Last-Event-ID"]);
            status = StatusCodes.Status400BadRequest;
        }

        if (problem is not null)
        {
            RpcStatusCode code = status == StatusCodes.Status413PayloadTooLarge ? RpcStatusCode.ResourceExhausted : RpcStatusCode.InvalidArgument;
            await GatewayErrors.WriteAsync(http, status, code, problem).ConfigureAwait(false);
            return;
        }

        using RpcCallScope scope = RpcCallScope.Begin();
        if (Metadata(http, scope, client) is { } refused)
        {
            await GatewayErrors.WriteAsync(http, refused.Status, refused.Code, refused.Message).ConfigureAwait(false);
            return;
        }

        try
        {
            if (Descriptor.Streaming == RpcStreamingKind.Server)
            {
                await StreamAsync(http, client, scope, arguments).ConfigureAwait(false);
                return;
            }

            JsonElement result = await client.InvokeJsonAsync(Descriptor, arguments, null, http.RequestAborted).ConfigureAwait(false);
            HttpResponse response = http.Response;
            GatewayHeaders.FromMetadata(scope.ResponseHeaders, scope.ResponseTrailers, response.Headers);
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = Json;
            using (var writer = new Utf8JsonWriter(response.BodyWriter, s_writer))
            {
                if (result.ValueKind == JsonValueKind.Undefined)
                {
                    writer.WriteNullValue(); // a method without a result
                }
                else
                {
                    result.WriteTo(writer);
                }
            }

            await response.BodyWriter.FlushAsync(http.RequestAborted).ConfigureAwait(false);
        }
        catch (RpcException error) when (!http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted)
        {
            await GatewayErrors.WriteAsync(http, error).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The HTTP caller went away: the call was cancelled with it, and there is no one to answer.
        }
        catch (ObjectDisposedException) when (!http.Response.HasStarted)
        {
            await GatewayErrors.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, RpcStatusCode.Unavailable,
                $"The RPC client behind '{Descriptor.FullName}' is shutting down.").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The request headers as the call's metadata and its timeout header as the call's deadline; null, or the error to
    /// answer instead of calling.
    /// </summary>
    private (int Status, RpcStatusCode Code, string Message)? Metadata(HttpContext http, RpcCallScope scope, RpcClient client)
    {
        IHeaderDictionary headers = http.Request.Headers;
        bool mayForward = _target.MayForwardCredentials(client);
        if (!mayForward && headers.ContainsKey(HeaderNames.Authorization))
        {
            return (StatusCodes.Status401Unauthorized, RpcStatusCode.Unauthenticated,
                $"The gateway will not forward the Authorization header of '{Descriptor.FullName}' over plain TCP, where anyone on the path " +
                "can read it: give its RpcClient TLS (RpcClientOptions.Tls), or set RpcClientOptions.AllowCredentialsOverPlainText.");
        }

        if (GatewayHeaders.ToMetadata(headers, scope.RequestHeaders, mayForward) is { } problem)
        {
            return (StatusCodes.Status400BadRequest, RpcStatusCode.InvalidArgument, problem);
        }

        if (headers[GatewayHeaders.Timeout] is { Count: > 0 } timeout)
        {
            // Connect's rule for its timeout header: a positive integer of at most 10 digits.
            if (timeout.Count > 1 || timeout[0] is not { Length: > 0 and <= 10 } text ||
                !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long milliseconds) || milliseconds == 0)
            {
                return (StatusCodes.Status400BadRequest, RpcStatusCode.InvalidArgument,
                    $"The {GatewayHeaders.Timeout} header is a positive number of milliseconds of at most 10 digits, not '{timeout}'.");
            }

            scope.Timeout = TimeSpan.FromMilliseconds(milliseconds);
        }

        return null;
    }

    /// <summary>The request body (a JSON object of named arguments, or empty for none), read up to the limit.</summary>
    private async Task<(ReadOnlyMemory<byte> Body, int Status, string? Problem)> ReadBodyAsync(HttpContext http)
    {
        HttpRequest request = http.Request;
        long max = _options.MaxRequestBodySize;
        if (request.ContentLength > max)
        {
            return (default, StatusCodes.Status413PayloadTooLarge, TooLarge(request.ContentLength.Value));
        }

        if (request.ContentLength != 0 && !IsJson(request.ContentType))
        {
            return (default, StatusCodes.Status415UnsupportedMediaType,
                $"The body of '{Descriptor.FullName}' is a JSON object of its named arguments, sent as Content-Type: {Json}, " +
                $"not '{request.ContentType}'.");
        }

        PipeReader reader = request.BodyReader;
        while (true)
        {
            ReadResult read = await reader.ReadAsync(http.RequestAborted).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (buffer.Length > max)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                return (default, StatusCodes.Status413PayloadTooLarge, TooLarge(buffer.Length));
            }

            if (read.IsCompleted)
            {
                byte[] body = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                if (body.Length > 0 && !IsJson(request.ContentType))
                {
                    return (default, StatusCodes.Status415UnsupportedMediaType,
                        $"The body of '{Descriptor.FullName}' is sent as Content-Type: {Json}.");
                }

                return body.Length == 0 || FirstToken(body) == '{'
                    ? (body, StatusCodes.Status200OK, null)
                    : (body, StatusCodes.Status400BadRequest,
                        $"Invalid request for '{Descriptor.FullName}': the body is a JSON object of the method's named arguments.");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        string TooLarge(long size) =>
            $"The body of '{Descriptor.FullName}' has {size} bytes or more, over the gateway's limit of {max} " +
            "(RpcGatewayOptions.MaxRequestBodySize).";
    }

    private static byte FirstToken(byte[] body)
    {
        foreach (byte b in body)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return b;
            }
        }

        return 0;
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? media) &&
        media.MediaType.Equals(Json, StringComparison.OrdinalIgnoreCase) &&
        (media.Charset.Length == 0 || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// GET's arguments, one query parameter each (docs/gateway.md#get): a string parameter's value as text; any other's
    /// as JSON when it is JSON (<c>2</c>, <c>true</c>, <c>{"a":1}</c>), else as text (an enum's name, a Guid); a
    /// repeated one as an array.
    /// </summary>
    private (ReadOnlyMemory<byte> Body, int Status, string? Problem) FromQuery(IQueryCollection query)
    {
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            foreach ((string name, StringValues values) in query)
            {
                writer.WritePropertyName(name);
                if (values.Count > 1)
                {
                    writer.WriteStartArray();
                }

                foreach (string? value in values)
                {
                    WriteQueryValue(writer, name, value ?? string.Empty);
                }

                if (values.Count > 1)
                {
                    writer.WriteEndArray();
                }
            }

            writer.WriteEndObject();
        }

        return (output.WrittenMemory, StatusCodes.Status200OK, null);
    }

    private void WriteQueryValue(Utf8JsonWriter writer, string name, string value)
    {
        if (!_stringParameters.Contains(name) && IsJsonValue(value))
        {
            writer.WriteRawValue(value, skipInputValidation: true);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }

    private static bool IsJsonValue(string value)
    {
        if (value.Length == 0)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(value), new JsonReaderOptions { MaxDepth = 64 });
            reader.Read();
            reader.Skip();
            return !reader.Read(); // one whole value, nothing after it
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool IsStringLike(string type) => type.TrimEnd('?') is
        "string" or "char" or "System.Guid" or "System.DateTime" or "System.DateTimeOffset" or "System.TimeSpan" or "System.DateOnly" or
        "System.TimeOnly" or "System.Uri";

    /// <summary>
    /// The arguments of a resumable stream with its <c>[ResumeFrom]</c> one set from <c>Last-Event-ID</c> (a browser's
    /// EventSource resuming), or null when neither the header nor the caller gave it (the stream's start).
    /// </summary>
    private (ReadOnlyMemory<byte> Arguments, string? Problem) WithResumeFrom(
        ReadOnlyMemory<byte> arguments, string parameter, StringValues lastEventId)
    {
        long? position = null;
        if (lastEventId.Count > 0)
        {
            if (lastEventId.Count > 1 || !long.TryParse(lastEventId[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed))
            {
                return (arguments, $"Last-Event-ID of '{Descriptor.FullName}' is the position of an item (a number), not '{lastEventId}'.");
            }

            position = parsed;
        }

        JsonObject? named;
        try
        {
            named = arguments.IsEmpty ? new JsonObject() : JsonNode.Parse(arguments.Span) as JsonObject;
        }
        catch (JsonException ex)
        {
            return (arguments, $"Invalid request for '{Descriptor.FullName}': the arguments are not valid JSON: {ex.Message}");
        }

        if (named is null)
        {
            return (arguments, $"Invalid request for '{Descriptor.FullName}': the body is a JSON object of the method's named arguments.");
        }

        if (position is null && named.ContainsKey(parameter))
        {
            return (arguments, null); // the caller's own starting point
        }

        named[parameter] = position;
        return (System.Text.Encoding.UTF8.GetBytes(named.ToJsonString()), null);
    }

    /// <summary>
    /// A server stream: Server-Sent Events when the caller accepts <c>text/event-stream</c>, else NDJSON
    /// (docs/gateway.md#streams). The status waits for the first item (or the end), so an error before any item is
    /// answered with its own status, as a unary call's would be.
    /// </summary>
    private async Task StreamAsync(HttpContext http, RpcClient client, RpcCallScope scope, ReadOnlyMemory<byte> arguments)
    {
        bool sse = Accepts(http.Request, EventStream);
        IAsyncEnumerator<RpcJsonItem> items =
            client.StreamJsonAsync(Descriptor, arguments, null, http.RequestAborted).GetAsyncEnumerator(http.RequestAborted);
        try
        {
            bool more = await items.MoveNextAsync().ConfigureAwait(false); // a failure before the first item throws to ServeAsync
            HttpResponse response = http.Response;
            GatewayHeaders.FromMetadata(scope.ResponseHeaders, null, response.Headers);
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = sse ? EventStream : Ndjson;
            response.Headers.CacheControl = "no-cache";
            http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
            if (sse)
            {
                await SseFormatter.WriteAsync(Events(items, more, scope), response.Body, WriteEvent, http.RequestAborted).ConfigureAwait(false);
            }
            else
            {
                await WriteNdjsonAsync(response.BodyWriter, items, more, scope, http.RequestAborted).ConfigureAwait(false);
            }
        }
        finally
        {
            await items.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The stream as events: one <c>message</c> per item (<c>id:</c> its position when resumable), then one <c>end</c>.</summary>
    private static async IAsyncEnumerable<SseItem<Outcome>> Events(IAsyncEnumerator<RpcJsonItem> items, bool more, RpcCallScope scope)
    {
        while (more)
        {
            RpcJsonItem item = items.Current;
            string? id = item.Position?.ToString(CultureInfo.InvariantCulture);
            yield return new SseItem<Outcome>(new Outcome(item.Value, null), "message") { EventId = id };
            Outcome? end = null;
            try
            {
                more = await items.MoveNextAsync().ConfigureAwait(false);
            }
            catch (RpcException error)
            {
                end = new Outcome(default, error);
                more = false;
            }

            if (end is { } failed)
            {
                yield return new SseItem<Outcome>(failed with { Trailers = failed.Error!.Trailers ?? scope.ResponseTrailers }, "end");
                yield break;
            }
        }

        yield return new SseItem<Outcome>(new Outcome(default, null) { Trailers = scope.ResponseTrailers }, "end");
    }

    private static void WriteEvent(SseItem<Outcome> item, IBufferWriter<byte> output)
    {
        using var writer = new Utf8JsonWriter(output, s_writer);
        item.Data.Write(writer, wrapped: false);
    }

    private static async Task WriteNdjsonAsync(
        PipeWriter output, IAsyncEnumerator<RpcJsonItem> items, bool more, RpcCallScope scope, CancellationToken cancellationToken)
    {
        using var writer = new Utf8JsonWriter(output, s_writer);
        Outcome end = new(default, null);
        while (more)
        {
            RpcJsonItem item = items.Current;
            writer.WriteStartObject();
            writer.WritePropertyName("result");
            item.Value.WriteTo(writer);
            if (item.Position is long position)
            {
                writer.WriteNumber("position", position);
            }

            writer.WriteEndObject();
            writer.Flush();
            output.Write("\n"u8);
            writer.Reset();
            ValueTask<bool> next = items.MoveNextAsync();
            if (!next.IsCompleted)
            {
                await output.FlushAsync(cancellationToken).ConfigureAwait(false); // nothing more is ready: what was written goes now
            }

            try
            {
                more = await next.ConfigureAwait(false);
            }
            catch (RpcException error)
            {
                end = new Outcome(default, error);
                more = false;
            }
        }

        end = end with { Trailers = end.Error?.Trailers ?? scope.ResponseTrailers };
        end.Write(writer, wrapped: true);
        writer.Flush();
        output.Write("\n"u8);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static bool Accepts(HttpRequest request, string mediaType)
    {
        IList<MediaTypeHeaderValue> accept = request.GetTypedHeaders().Accept;
        foreach (MediaTypeHeaderValue value in accept)
        {
            if (value.MediaType.Equals(mediaType, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>An item of a stream, or its end (success, or its error) with the trailers.</summary>
    private readonly record struct Outcome(JsonElement Item, RpcException? Error)
    {
        public RpcMetadata? Trailers { get; init; }

        /// <summary>
        /// An item is its JSON; an end is <c>{"code":"ok"}</c> or the error object, with the trailers. In NDJSON an end
        /// is wrapped as <c>{"end":{...}}</c>, so every line says what it is.
        /// </summary>
        public void Write(Utf8JsonWriter writer, bool wrapped)
        {
            if (Item.ValueKind != JsonValueKind.Undefined)
            {
                Item.WriteTo(writer);
                return;
            }

            if (wrapped)
            {
                writer.WriteStartObject();
                writer.WritePropertyName("end");
            }

            GatewayErrors.WriteBody(writer, Error?.StatusCode ?? RpcStatusCode.OK, Error?.Message, Trailers);
            if (wrapped)
            {
                writer.WriteEndObject();
            }
        }
    }
}
