using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net;
using RpcGen.Admin.Internal;

namespace RpcGen.Admin;

/// <summary>
/// The admin page and its JSON, for any host: <see cref="RpcAdminListener"/> serves them on its own port and
/// RpcGen.AspNetCore's <c>MapRpcGenAdmin()</c> under a route. The page is a view of the JSON under <c>api/</c>
/// (docs/admin.md is its contract). Read-only: nothing here changes a client or a server.
/// </summary>
public static class RpcAdminContent
{
    private static readonly Dictionary<string, (string ContentType, byte[] Body)> s_files = LoadFiles();

    /// <summary>
    /// The headers every answer carries: no caching, no sniffing, no framing, and a content security policy that lets
    /// the page load only its own script and style and talk only to its own origin.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Headers { get; } = new[]
    {
        new KeyValuePair<string, string>("Cache-Control", "no-store"),
        new KeyValuePair<string, string>("X-Content-Type-Options", "nosniff"),
        new KeyValuePair<string, string>("X-Frame-Options", "DENY"),
        new KeyValuePair<string, string>("Referrer-Policy", "no-referrer"),
        new KeyValuePair<string, string>(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    };

    /// <summary>
    /// The answer to a GET of <paramref name="path"/>, relative to where the page is mounted (<c>""</c> for the page,
    /// <c>app.js</c>, <c>app.css</c>, <c>api/clients</c>, <c>api/servers</c>, <c>api/methods</c>,
    /// <c>api/events?after=N</c>); 404 with a JSON error for anything else, 400 for a bad <c>after</c>. A request for
    /// <c>api/</c> keeps the live figures on for 30 s.
    /// </summary>
    public static RpcAdminResponse Get(string path, string? query = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        path = path.TrimStart('/');
        if (path.StartsWith("api/", StringComparison.Ordinal))
        {
            AdminWatch.Default.Touch();
            switch (path)
            {
                case "api/clients":
                    return Json(200, AdminDocuments.Clients());
                case "api/servers":
                    return Json(200, AdminDocuments.Servers());
                case "api/methods":
                    return Json(200, AdminDocuments.Methods());
                case "api/events":
                    string? after = QueryValue(query, "after");
                    if (after is null)
                    {
                        return Json(200, AdminDocuments.Events(0));
                    }

                    if (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out long sequence))
                    {
                        return Error(400, "'after' must be an event's sequence number (a whole number, 0 or more).");
                    }

                    return Json(200, AdminDocuments.Events(sequence));
            }
        }

        if (s_files.TryGetValue(path.Length == 0 ? "index.html" : path, out (string ContentType, byte[] Body) file))
        {
            return new RpcAdminResponse(200, file.ContentType, file.Body);
        }

        return Error(404,
            $"No admin page or document at '{path}': the page is at the root, its JSON at api/clients, api/servers, api/methods and api/events.");
    }

    /// <summary>
    /// True when a request comes from this machine: its peer is a loopback address and its <c>Host</c> header names
    /// a loopback host (<c>localhost</c>, <c>127.0.0.1</c>, <c>[::1]</c>, with any port), so a web page that rebinds
    /// its own name to 127.0.0.1 cannot read the page through a visitor's browser.
    /// </summary>
    public static bool IsLocalRequest(IPAddress? remote, string? host)
    {
        if (remote is null || !IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote))
        {
            return false;
        }

        if (string.IsNullOrEmpty(host))
        {
            return false;
        }

        string name = host;
        if (name.StartsWith('['))
        {
            int close = name.IndexOf(']', StringComparison.Ordinal);
            name = close < 0 ? name : name.Substring(1, close - 1);
        }
        else if (name.IndexOf(':', StringComparison.Ordinal) is int colon and >= 0)
        {
            name = name.Substring(0, colon);
        }

        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(name, out IPAddress? address) && IPAddress.IsLoopback(address));
    }

    internal static RpcAdminResponse Error(int status, string message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("status", status);
            writer.WriteString("error", message);
            writer.WriteEndObject();
        }

        return Json(status, buffer.WrittenSpan.ToArray());
    }

    private static RpcAdminResponse Json(int status, byte[] body) => new(status, "application/json; charset=utf-8", body);

    private static string? QueryValue(string? query, string name)
    {
        if (string.IsNullOrEmpty(query))
        {
            return null;
        }

        foreach (string pair in query.TrimStart('?').Split('&'))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? pair : pair.Substring(0, equals);
            if (key == name)
            {
                return equals < 0 ? string.Empty : Uri.UnescapeDataString(pair.Substring(equals + 1));
            }
        }

        return null;
    }

    private static Dictionary<string, (string, byte[])> LoadFiles()
    {
        var files = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach ((string name, string type) in new[]
        {
            ("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"),
        })
        {
            using Stream stream = typeof(RpcAdminContent).Assembly.GetManifestResourceStream("RpcGen.Admin.Page." + name)
                ?? throw new InvalidOperationException($"The admin page's {name} is missing from the RpcGen assembly.");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[name] = (type, copy.ToArray());
        }

        return files;
    }
}
