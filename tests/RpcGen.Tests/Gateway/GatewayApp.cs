using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RpcGen.AspNetCore;
using RpcGen.Tests.Support;

namespace RpcGen.Tests.Gateway;

/// <summary>
/// A real ASP.NET Core app on a free loopback port: the store served by AddRpcServer (with a bearer authenticator) and
/// its HTTP gateway, in process unless the test maps it otherwise.
/// </summary>
internal sealed class GatewayApp : IAsyncDisposable
{
    public static readonly Dictionary<string, ClaimsPrincipal> Users = new()
    {
        ["t-ann"] = new ClaimsPrincipal(new ClaimsIdentity(new[] { new Claim(ClaimTypes.Name, "ann"), new Claim(ClaimTypes.Role, "admin") }, "test")),
        ["t-bob"] = new ClaimsPrincipal(new ClaimsIdentity(new[] { new Claim(ClaimTypes.Name, "bob") }, "test")),
    };

    private GatewayApp(WebApplication app, Store store, Uri address)
    {
        App = app;
        Store = store;
        Address = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public Store Store { get; }

    public Uri Address { get; }

    public HttpClient Http { get; }

    public static async Task<GatewayApp> StartAsync(Action<WebApplication>? map = null, Store? store = null, int port = 0)
    {
        store ??= new Store();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(store);
        builder.Services.AddRpcServer(options =>
                options.Authenticator = RpcAuthenticators.BearerToken((token, _) => new ValueTask<ClaimsPrincipal?>(Users.GetValueOrDefault(token))))
            .MapService<IStore, Store>(ServiceLifetime.Singleton);
        WebApplication app = builder.Build();
        if (map is null)
        {
            app.MapRpcGateway<IStore>();
        }
        else
        {
            map(app);
        }

        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new GatewayApp(app, store, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
