using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RpcGen.Admin.Internal;
using RpcGen.AspNetCore;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Admin;

/// <summary>
/// <c>MapRpcGenAdmin()</c> in a real Kestrel app: the page under its prefix, refusals of other machines and other host
/// names, and an authorization policy that every request must satisfy.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class AdminAspNetCoreTests : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        AdminWatch.Default.StopForTests();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task ThePageAndItsJsonAreServedUnderThePrefix()
    {
        await using WebApplication app = await StartAsync(IPAddress.Loopback, a => a.MapRpcGenAdmin("/ops/rpcgen"));
        var handler = new HttpClientHandler { AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { BaseAddress = Address(app), Timeout = Wait.NoHang };

        HttpResponseMessage bare = await http.GetAsync("/ops/rpcgen");
        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/ops/rpcgen/", bare.Headers.Location!.OriginalString);
        HttpResponseMessage page = await http.GetAsync("/ops/rpcgen/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<script src=\"app.js\"", await page.Content.ReadAsStringAsync());
        Assert.Contains("frame-ancestors 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
        HttpResponseMessage clients = await http.GetAsync("/ops/rpcgen/api/clients");
        Assert.Equal(HttpStatusCode.OK, clients.StatusCode);
        using JsonDocument document = JsonDocument.Parse(await clients.Content.ReadAsStringAsync());
        Assert.Equal(1, document.RootElement.GetProperty("version").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/ops/rpcgen/api/nothing")).StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.PostAsync("/ops/rpcgen/api/clients", new StringContent("{}"))).StatusCode);
    }

    [Fact]
    public async Task ARequestFromAnotherAddressOrForAnotherHostIsRefused()
    {
        IPAddress outside = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? throw new InvalidOperationException("This test needs a non-loopback IPv4 address on the machine to call from.");
        await using WebApplication app = await StartAsync(IPAddress.Any, a => a.MapRpcGenAdmin());
        int port = Address(app).Port;

        // From the machine's own non-loopback address: the peer is not loopback.
        string remote = await RawGetAsync(outside, port, "/rpcgen/api/clients", $"{outside}:{port}");
        Assert.StartsWith("HTTP/1.1 403", remote);
        Assert.Contains("this machine only", remote);

        // Over loopback but naming another host: a DNS-rebinding page.
        string rebound = await RawGetAsync(IPAddress.Loopback, port, "/rpcgen/api/clients", "evil.example");
        Assert.StartsWith("HTTP/1.1 403", rebound);
        Assert.DoesNotContain("\"clients\"", rebound);

        string local = await RawGetAsync(IPAddress.Loopback, port, "/rpcgen/api/clients", $"127.0.0.1:{port}");
        Assert.StartsWith("HTTP/1.1 200", local);
    }

    [Fact]
    public async Task WithAPolicy_ARequestThatDoesNotSatisfyItIsRefused()
    {
        await using WebApplication app = await StartAsync(
            IPAddress.Loopback, a => a.MapRpcGenAdmin(configure: o => o.AuthorizationPolicy = "rpcgen-admin"));
        using var http = new HttpClient { BaseAddress = Address(app), Timeout = Wait.NoHang };

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/rpcgen/api/clients")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(http, "bob")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(http, "ann")).StatusCode);

        static Task<HttpResponseMessage> Send(HttpClient http, string user)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/rpcgen/api/clients");
            request.Headers.Add(HeaderAuthentication.Header, user);
            return http.SendAsync(request);
        }
    }

    [Fact]
    public async Task RemoteAccessNeedsAPolicy()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        await using WebApplication app = builder.Build();
        ArgumentException refused = Assert.Throws<ArgumentException>(() => app.MapRpcGenAdmin(configure: o => o.AllowRemote = true));
        Assert.Contains("AuthorizationPolicy", refused.Message);
    }

    private static async Task<WebApplication> StartAsync(IPAddress address, Action<WebApplication> map)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(address, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddAuthentication(HeaderAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>(HeaderAuthentication.SchemeName, null);
        builder.Services.AddAuthorization(o => o.AddPolicy("rpcgen-admin", p => p.RequireRole("admin")));
        WebApplication app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        map(app);
        await app.StartAsync();
        return app;
    }

    private static Uri Address(WebApplication app)
    {
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
    }

    private static async Task<string> RawGetAsync(IPAddress address, int port, string path, string host)
    {
        using var socket = new TcpClient(address.AddressFamily);
        await socket.ConnectAsync(address, port);
        NetworkStream stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
        return await new StreamReader(stream).ReadToEndAsync();
    }

    /// <summary>Signs a request in as the user its header names: ann is an admin, bob is not.</summary>
    private sealed class HeaderAuthentication : AuthenticationHandler<AuthenticationSchemeOptions>
    {
        public const string SchemeName = "test-header";
        public const string Header = "X-Test-User";

        public HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
            : base(options, logger, encoder)
        {
        }

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            string? user = Request.Headers[Header];
            if (string.IsNullOrEmpty(user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var claims = new List<Claim> { new(ClaimTypes.Name, user) };
            if (user == "ann")
            {
                claims.Add(new Claim(ClaimTypes.Role, "admin"));
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
        }
    }
}
