using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RpcGen.Client;
using RpcGen.Descriptors;

namespace RpcGen.AspNetCore;

/// <summary>Maps RpcGen services as HTTP/JSON endpoints (docs/gateway.md).</summary>
public static class RpcGatewayEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves <typeparamref name="TService"/> over HTTP/JSON, calling the server of <c>AddRpcServer</c> in this process
    /// (its dispatcher, interceptors, authenticator and <c>[RpcAuthorize]</c>, as for a TCP call):
    /// <c>POST /{service}/{method}</c> with a JSON object of named arguments, and <c>GET</c> with query arguments for
    /// <c>[NoSideEffects]</c> methods. Returns the group of the service's endpoints (add CORS, rate limiting or ASP.NET
    /// Core authorization to it as to any route group).
    /// </summary>
    public static RouteGroupBuilder MapRpcGateway<TService>(this IEndpointRouteBuilder endpoints)
        where TService : class =>
        endpoints.MapRpcGateway<TService>(RpcGatewayTarget.InProcess);

    /// <summary>
    /// Serves <typeparamref name="TService"/> over HTTP/JSON, calling <paramref name="target"/>: a server in this
    /// process, or a cluster through an <see cref="RpcClient"/> (<see cref="RpcGatewayTarget.Client(string)"/>).
    /// </summary>
    public static RouteGroupBuilder MapRpcGateway<TService>(
        this IEndpointRouteBuilder endpoints, RpcGatewayTarget target, Action<RpcGatewayOptions>? configure = null)
        where TService : class
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(target);
        var options = new RpcGatewayOptions();
        configure?.Invoke(options);
        RpcServiceDescriptor service = RpcServiceRegistry.GetRequiredDescriptor<TService>();

        RouteGroupBuilder group = endpoints.MapGroup("/" + service.Name);
        var methods = new Dictionary<string, GatewayMethod>(StringComparer.Ordinal);
        foreach (RpcMethodDescriptor method in service.Methods)
        {
            var gateway = new GatewayMethod(method, target, options, static client => client.CreateProxy<TService>());
            methods[method.Name] = gateway;
            group.MapPost("/" + method.Name, gateway.PostAsync).WithDisplayName($"RpcGen {method.FullName} (POST)");
            if (gateway.ServesGet)
            {
                group.MapGet("/" + method.Name, gateway.GetAsync).WithDisplayName($"RpcGen {method.FullName} (GET)");
            }
        }

        if (service.OpenApiDocument is { } document)
        {
            string path = $"/openapi/{service.Name}.json";
            endpoints.MapGet(path, http => OpenApiAsync(http, document, path)).WithDisplayName($"RpcGen {service.Name} (OpenAPI)");
        }

        // Anything else under the service's path gets a JSON answer saying what is there, not an empty 404 or 405.
        group.Map("/{**rest}", http => Unknown(http, service, methods, http.Request.RouteValues["rest"] as string).ExecuteAsync(http))
            .WithDisplayName($"RpcGen {service.Name} (unknown)");
        return group;
    }

    /// <summary>
    /// The generator's document with <c>servers</c> set to where this gateway is mapped (its paths are relative to it),
    /// so a client built from it calls the right URLs behind a route group or a path base.
    /// </summary>
    private static Task OpenApiAsync(HttpContext http, string document, string path)
    {
        string requested = http.Request.PathBase.Value + http.Request.Path.Value;
        string prefix = requested.EndsWith(path, StringComparison.OrdinalIgnoreCase) ? requested[..^path.Length] : string.Empty;
        string server = "\"" + System.Text.Json.JsonEncodedText.Encode(prefix.Length == 0 ? "/" : prefix) + "\"";
        const string Start = "{\"openapi\":\"3.1.1\",";
        string served = document.StartsWith(Start, StringComparison.Ordinal)
            ? Start + "\"servers\":[{\"url\":" + server + "}]," + document[Start.Length..]
            : document;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(served, http.RequestAborted);
    }

    private static IResult Unknown(HttpContext http, RpcServiceDescriptor service, Dictionary<string, GatewayMethod> methods, string? rest)
    {
        if (rest is not null && methods.TryGetValue(rest, out GatewayMethod? method))
        {
            http.Response.Headers.Allow = method.ServesGet ? "GET, POST" : "POST";
            return GatewayErrors.Result(StatusCodes.Status405MethodNotAllowed, RpcStatusCode.Unimplemented, method.ServesGet
                ? $"'{method.Descriptor.FullName}' is called with POST or GET, not {http.Request.Method}."
                : $"'{method.Descriptor.FullName}' is called with POST; GET serves only [NoSideEffects] methods that take no stream.");
        }

        string known = string.Join(", ", service.Methods.Select(m => m.Name));
        return GatewayErrors.Result(StatusCodes.Status404NotFound, RpcStatusCode.NotFound,
            $"Service '{service.Name}' has no method '{rest}'; its methods are: {known}.");
    }
}

