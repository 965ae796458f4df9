using System;
using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace RpcGen.AspNetCore;

/// <summary>
/// HTTP headers to call metadata and back (docs/gateway.md#headers): every header but those of HTTP itself goes on as
/// metadata (lower-case; <c>-bin</c> ones base64-decoded); response headers come back as headers, trailers as
/// <c>Trailer-</c> headers, as Connect's unary calls carry them.
/// </summary>
internal static class GatewayHeaders
{
    /// <summary>The request header that carries a call's timeout in milliseconds.</summary>
    public const string Timeout = "rpc-timeout-ms";

    /// <summary>The prefix of a response header that carries a trailer.</summary>
    public const string TrailerPrefix = "trailer-";

    /// <summary>Headers that belong to HTTP (its connection, content, caching, browser and proxy machinery): never metadata, either way.</summary>
    private static readonly FrozenSet<string> s_http = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "accept", "accept-charset", "accept-encoding", "accept-language", "access-control-request-headers", "access-control-request-method",
        "cache-control", "connection", "content-encoding", "content-language", "content-length", "content-location", "content-range",
        "content-type", "cookie", "date", "dnt", "expect", "forwarded", "host", "if-match", "if-modified-since", "if-none-match",
        "if-range", "if-unmodified-since", "keep-alive", "last-event-id", "origin", "pragma", "priority", "proxy-authenticate",
        "proxy-authorization", "proxy-connection", "range", "referer", "retry-after", "server", "set-cookie", "te", "trailer",
        "transfer-encoding", "upgrade", "upgrade-insecure-requests", "user-agent", "vary", "via", "www-authenticate",
        "traceparent", "tracestate", "baggage", "request-id", "correlation-context", "alt-svc", "strict-transport-security", Timeout);

    private static bool IsHttp(string name) =>
        s_http.Contains(name) || name.StartsWith("sec-", StringComparison.OrdinalIgnoreCase) ||
        name.StartsWith("x-forwarded-", StringComparison.OrdinalIgnoreCase) || name.StartsWith(':');

    /// <summary>Copies the request's headers into <paramref name="metadata"/>; null, or why one cannot be sent (a 400).</summary>
    public static string? ToMetadata(IHeaderDictionary headers, RpcMetadata metadata, bool mayForwardCredentials)
    {
        foreach ((string name, StringValues values) in headers)
        {
            if (IsHttp(name))
            {
                continue;
            }

            string key = name.ToLowerInvariant();
            if (key.StartsWith(RpcMetadata.ReservedPrefix, StringComparison.Ordinal))
            {
                return $"The header '{name}' is reserved: headers starting with '{RpcMetadata.ReservedPrefix}' belong to RpcGen.";
            }

            if (key == "authorization" && !mayForwardCredentials)
            {
                return null; // checked by the caller, which answers 401 with its own message
            }

            foreach (string? value in values)
            {
                try
                {
                    if (key.EndsWith(RpcMetadata.BinarySuffix, StringComparison.Ordinal))
                    {
                        metadata.Add(key, Convert.FromBase64String(value ?? string.Empty));
                    }
                    else
                    {
                        metadata.Add(key, value ?? string.Empty);
                    }
                }
                catch (FormatException)
                {
                    return $"The header '{name}' ends in '{RpcMetadata.BinarySuffix}', so its value is base64, and it is not.";
                }
                catch (ArgumentException ex)
                {
                    return $"The header '{name}' cannot be sent as call metadata: {ex.Message}";
                }
            }
        }

        return null;
    }

    /// <summary>Writes a call's response headers and trailers (<c>Trailer-</c> prefixed) as HTTP headers.</summary>
    public static void FromMetadata(RpcMetadata? responseHeaders, RpcMetadata? trailers, IHeaderDictionary headers)
    {
        Copy(responseHeaders, string.Empty, headers);
        Copy(trailers, TrailerPrefix, headers);
    }

    private static void Copy(RpcMetadata? metadata, string prefix, IHeaderDictionary headers)
    {
        if (metadata is null)
        {
            return;
        }

        foreach (RpcMetadataEntry entry in metadata)
        {
            if (prefix.Length == 0 && IsHttp(entry.Key))
            {
                continue; // a handler's metadata never sets a cookie or breaks the response's framing
            }

            headers.Append(prefix + entry.Key, entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes!) : entry.Value);
        }
    }
}
