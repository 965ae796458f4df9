using System;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RpcGen.Admin;

namespace RpcGen.AspNetCore;

/// <summary>Maps RpcGen's admin page (docs/admin.md) into an ASP.NET Core app.</summary>
public static class RpcGenAdminEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves the admin page of this process's RpcGen clients and servers under <paramref name="prefix"/> (the page at
    /// <c>{prefix}/</c>, its JSON at <c>{prefix}/api/clients</c>, <c>servers</c>, <c>methods</c>, <c>events</c>). GET
    /// only (the page changes nothing); from this machine only unless <see cref="RpcGenAdminOptions.AllowRemote"/>;
    /// behind <see cref="RpcGenAdminOptions.AuthorizationPolicy"/> when set. Returns the group, for more conventions.
    /// </summary>
    public static RouteGroupBuilder MapRpcGenAdmin(
        this IEndpointRouteBuilder endpoints, string prefix = "/rpcgen", Action<RpcGenAdminOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var options = new RpcGenAdminOptions();
        configure?.Invoke(options);
        if (options.AllowRemote && options.AuthorizationPolicy is null)
        {
            throw new ArgumentException(
                "RpcGenAdminOptions.AllowRemote needs an AuthorizationPolicy: a page reachable from the network must not be open to anyone.",
                nameof(configure));
        }

        string root = "/" + prefix.Trim('/');
        RouteGroupBuilder group = endpoints.MapGroup(root);
        group.MapGet("/{**path}", http => ServeAsync(http, http.Request.RouteValues["path"] as string ?? string.Empty, options))
            .WithDisplayName("RpcGen admin");
        group.MapMethods("/{**path}", new[] { "POST", "PUT", "PATCH", "DELETE" }, http =>
        {
            http.Response.Headers.Allow = "GET, HEAD";
            return WriteAsync(http, default, 405,
                "The admin page is read-only: " + http.Request.Method + " is not allowed (GET and HEAD are).");
        }).WithDisplayName("RpcGen admin (read-only)");
        if (options.AuthorizationPolicy is { } policy)
        {
            group.RequireAuthorization(policy);
        }

        return group;
    }

    private static System.Threading.Tasks.Task ServeAsync(HttpContext http, string path, RpcGenAdminOptions options)
    {
        if (!options.AllowRemote && !RpcAdminContent.IsLocalRequest(http.Connection.RemoteIpAddress, http.Request.Host.Value))
        {
            return WriteAsync(http, default, 403, "The admin page answers requests from this machine only (RpcGenAdminOptions.AllowRemote is off).");
        }

        if (path.Length == 0 && !http.Request.Path.Value!.EndsWith('/'))
        {
            // The page's links are relative: {prefix}/ is its root.
            http.Response.Redirect(http.Request.PathBase + http.Request.Path + "/");
            return System.Threading.Tasks.Task.CompletedTask;
        }

        return WriteAsync(http, RpcAdminContent.Get(path, http.Request.QueryString.Value), 0, null);
    }

    private static async System.Threading.Tasks.Task WriteAsync(HttpContext http, RpcAdminResponse answer, int status, string? error)
    {
        foreach (var header in RpcAdminContent.Headers)
        {
            http.Response.Headers[header.Key] = header.Value;
        }

        if (error is not null)
        {
            http.Response.StatusCode = status;
            await http.Response.WriteAsJsonAsync(new AdminError(status, error), AdminErrorContext.Default.AdminError).ConfigureAwait(false);
            return;
        }

        http.Response.StatusCode = answer.StatusCode;
        http.Response.ContentType = answer.ContentType;
        http.Response.ContentLength = answer.Body.Length;
        if (!HttpMethods.IsHead(http.Request.Method))
        {
            await http.Response.Body.WriteAsync(answer.Body).ConfigureAwait(false);
        }
    }
}

/// <summary>Who may open the page mapped by <see cref="RpcGenAdminEndpointRouteBuilderExtensions.MapRpcGenAdmin"/>.</summary>
public sealed class RpcGenAdminOptions
{
    /// <summary>
    /// Answer requests from other machines (and with any <c>Host</c> header). Off by default: only requests from a
    /// loopback address to a loopback host name are answered. Needs <see cref="AuthorizationPolicy"/>.
    /// </summary>
    public bool AllowRemote { get; set; }

    /// <summary>An ASP.NET Core authorization policy every request must satisfy (for example an "admin" role); null: none.</summary>
    public string? AuthorizationPolicy { get; set; }
}

internal sealed record AdminError(int Status, string Error);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(AdminError))]
internal sealed partial class AdminErrorContext : System.Text.Json.Serialization.JsonSerializerContext;
