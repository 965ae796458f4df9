using System;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace RpcGen.Admin;

/// <summary>
/// The admin page on a port of its own, for processes without ASP.NET Core (RpcGen.AspNetCore's
/// <c>MapRpcGenAdmin()</c> serves the same page in a web app). On 127.0.0.1 only unless
/// <see cref="RpcAdminOptions.AllowRemote"/> (which needs an access token); GET and HEAD only; 8 requests at once at
/// most (more are answered 503 at once). Built on the BCL's <see cref="HttpListener"/>: no dependency.
/// </summary>
public sealed class RpcAdminListener : IAsyncDisposable
{
    /// <summary>Requests served at once; more are answered 503.</summary>
    public const int MaxConcurrentRequests = 8;

    private const string CookieName = "rpcgen_admin";
    private readonly HttpListener _listener;
    private readonly RpcAdminOptions _options;
    private readonly byte[]? _token;
    private readonly Task _loop;
    private int _running;

    private RpcAdminListener(HttpListener listener, RpcAdminOptions options, Uri address)
    {
        _listener = listener;
        _options = options;
        _token = options.AccessToken is { Length: > 0 } token ? Encoding.UTF8.GetBytes(token) : null;
        Address = address;
        _loop = AcceptLoopAsync();
    }

    /// <summary>Where the page is: <c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri Address { get; }

    /// <summary>Starts listening. Throws <see cref="HttpListenerException"/> when the port is taken.</summary>
    public static RpcAdminListener Start(RpcAdminOptions? options = null)
    {
        options ??= new RpcAdminOptions();
        options.Validate();
        for (int attempt = 0; ; attempt++)
        {
            int port = options.Port != 0 ? options.Port : FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add(options.AllowRemote ? $"http://*:{port}/" : $"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return new RpcAdminListener(listener, options, new Uri($"http://127.0.0.1:{port}/"));
            }
            catch (HttpListenerException) when (options.Port == 0 && attempt < 10)
            {
                listener.Close(); // another process took the free port first: pick again
            }
        }
    }

    /// <summary>Stops listening; requests being answered are cut.</summary>
    public async ValueTask DisposeAsync()
    {
        _listener.Close();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop ends with the listener.
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task AcceptLoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                continue; // one bad request; the listener goes on
            }

            if (Interlocked.Increment(ref _running) > MaxConcurrentRequests)
            {
                Interlocked.Decrement(ref _running);
                Send(context, RpcAdminContent.Error(503, $"Busy: {MaxConcurrentRequests} admin requests are being answered; try again."));
                continue;
            }

            _ = Task.Run(() =>
            {
                try
                {
                    Handle(context);
                }
                finally
                {
                    Interlocked.Decrement(ref _running);
                }
            });
        }
    }

    private void Handle(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        try
        {
            if (request.HttpMethod is not ("GET" or "HEAD"))
            {
                context.Response.AddHeader("Allow", "GET, HEAD");
                Send(context, RpcAdminContent.Error(405, $"The admin page is read-only: {request.HttpMethod} is not allowed (GET and HEAD are)."));
                return;
            }

            if (!_options.AllowRemote && !RpcAdminContent.IsLocalRequest(request.RemoteEndPoint?.Address, request.Headers["Host"]))
            {
                Send(context, RpcAdminContent.Error(
                    403, "The admin page answers requests from this machine only (RpcAdminOptions.AllowRemote is off)."));
                return;
            }

            string path = request.Url?.AbsolutePath ?? "/";
            string? query = request.Url?.Query;
            if (_token is not null && !Authorized(request))
            {
                if (path == "/" && TokenFromQuery(query) is { } offered && Matches(offered))
                {
                    context.Response.AddHeader("Set-Cookie", $"{CookieName}={Uri.EscapeDataString(offered)}; Path=/; HttpOnly; SameSite=Strict");
                    context.Response.Redirect("/");
                    context.Response.Close();
                    return;
                }

                context.Response.AddHeader("WWW-Authenticate", "Bearer");
                Send(context, RpcAdminContent.Error(
                    401, "The admin page needs its access token: Authorization: Bearer {token}, or open /?access_token={token} once."));
                return;
            }

            Send(context, RpcAdminContent.Get(path, query));
        }
        catch (Exception)
        {
            context.Response.Abort(); // the peer went away mid-answer
        }
    }

    private bool Authorized(HttpListenerRequest request)
    {
        string? header = request.Headers["Authorization"];
        if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Matches(header.Substring(7).Trim()))
        {
            return true;
        }

        return request.Cookies[CookieName] is { } cookie && Matches(Uri.UnescapeDataString(cookie.Value));
    }

    private bool Matches(string offered) => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(offered), _token);

    private static string? TokenFromQuery(string? query)
    {
        foreach (string pair in (query ?? string.Empty).TrimStart('?').Split('&'))
        {
            if (pair.StartsWith("access_token=", StringComparison.Ordinal))
            {
                return Uri.UnescapeDataString(pair.Substring("access_token=".Length));
            }
        }

        return null;
    }

    private static void Send(HttpListenerContext context, RpcAdminResponse answer)
    {
        HttpListenerResponse response = context.Response;
        try
        {
            response.StatusCode = answer.StatusCode;
            response.ContentType = answer.ContentType;
            foreach (var header in RpcAdminContent.Headers)
            {
                response.AddHeader(header.Key, header.Value);
            }

            response.ContentLength64 = answer.Body.Length;
            if (context.Request.HttpMethod != "HEAD")
            {
                response.OutputStream.Write(answer.Body.Span);
            }

            response.Close();
        }
        catch (Exception)
        {
            response.Abort();
        }
    }
}
