using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

[RpcService("vault"), RpcAuthorize]
public interface IVault
{
    Task<string> ReadAsync(CancellationToken ct = default);

    [RpcAuthorize(Roles = "admin, ops")]
    Task<string> RotateAsync(CancellationToken ct = default);

    [RpcAllowAnonymous]
    Task<string> HealthAsync(CancellationToken ct = default);

    /// <summary>Fails with Unavailable on its first <paramref name="failures"/> calls (retried), and says whose token it saw.</summary>
    [Idempotent, Retry(MaxAttempts = 3, InitialBackoffMs = 1, MaxBackoffMs = 2)]
    Task<string> FlakyAsync(int failures, CancellationToken ct = default);
}

public sealed class Vault : IVault
{
    public int Runs;
    public ConcurrentQueue<string> Tokens { get; } = new();

    private static string Who() => RpcCallContext.Current!.User?.Identity?.Name ?? "anonymous";

    public Task<string> ReadAsync(CancellationToken ct = default)
    {
        Interlocked.Increment(ref Runs);
        return Task.FromResult("read by " + Who());
    }

    public Task<string> RotateAsync(CancellationToken ct = default)
    {
        Interlocked.Increment(ref Runs);
        return Task.FromResult("rotated by " + Who());
    }

    public Task<string> HealthAsync(CancellationToken ct = default) => Task.FromResult("ok for " + Who());

    public Task<string> FlakyAsync(int failures, CancellationToken ct = default)
    {
        Tokens.Enqueue(RpcCallContext.Current!.RequestHeaders.GetValue("authorization")!);
        return Interlocked.Increment(ref Runs) <= failures ? throw new RpcException(RpcStatusCode.Unavailable, "not yet") : Task.FromResult(Who());
    }
}

/// <summary>Authentication (certificates, bearer tokens) and [RpcAuthorize], checked before a handler runs.</summary>
public sealed class AuthTests
{
    private static readonly Dictionary<string, ClaimsPrincipal> s_users = new()
    {
        ["t-bob"] = Principal("bob"),
        ["t-ann"] = Principal("ann", "ops"),
    };

    private static ClaimsPrincipal Principal(string name, params string[] roles)
    {
        var identity = new ClaimsIdentity("Bearer", ClaimTypes.Name, ClaimTypes.Role);
        identity.AddClaim(new Claim(ClaimTypes.Name, name));
        foreach (string role in roles)
        {
            identity.AddClaim(new Claim(ClaimTypes.Role, role));
        }

        return new ClaimsPrincipal(identity);
    }

    private static async Task<(RpcServer, Vault)> StartAsync(IRpcAuthenticator? authenticator, RpcServerTlsOptions? tls = null)
    {
        var vault = new Vault();
        var server = new RpcServer(new RpcServerOptions { Authenticator = authenticator, Tls = tls });
        server.Map<IVault>(vault);
        await server.StartAsync();
        return (server, vault);
    }

    private static IRpcAuthenticator Tokens() =>
        RpcAuthenticators.BearerToken((token, _) => new ValueTask<ClaimsPrincipal?>(s_users.GetValueOrDefault(token)));

    private static RpcClient Client(RpcEndpoint endpoint, string? token) => new(new RpcClientOptions
    {
        Endpoints = { endpoint },
        Credentials = token is null ? null : RpcCallCredentials.BearerToken(_ => new ValueTask<string>(token)),
    });

    [Fact]
    public async Task Authorize_RefusesBeforeTheHandlerRuns_UnauthenticatedThenPermissionDenied()
    {
        (RpcServer server, Vault vault) = await StartAsync(Tokens());
        await using (server)
        {
            await using (RpcClient anonymous = Client(server.InProcessEndpoint, null))
            {
                IVault proxy = anonymous.CreateProxy<IVault>();
                Assert.Equal("ok for anonymous", await proxy.HealthAsync());
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => proxy.ReadAsync());
                Assert.Equal(RpcStatusCode.Unauthenticated, error.StatusCode);
                Assert.Contains("requires an authenticated caller", error.Message, StringComparison.Ordinal);
            }

            await using (RpcClient forged = Client(server.InProcessEndpoint, "t-forged"))
            {
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => forged.CreateProxy<IVault>().HealthAsync());
                Assert.Equal((RpcStatusCode.Unauthenticated, "The bearer token is not valid."), (error.StatusCode, error.Message));
            }

            await using (RpcClient bob = Client(server.InProcessEndpoint, "t-bob"))
            {
                IVault proxy = bob.CreateProxy<IVault>();
                Assert.Equal("read by bob", await proxy.ReadAsync());
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => proxy.RotateAsync());
                Assert.Equal(RpcStatusCode.PermissionDenied, error.StatusCode);
                Assert.Contains("requires one of the roles admin, ops; 'bob' has none of them", error.Message, StringComparison.Ordinal);
            }

            await using (RpcClient ann = Client(server.InProcessEndpoint, "t-ann"))
            {
                Assert.Equal("rotated by ann", await ann.CreateProxy<IVault>().RotateAsync());
            }

            Assert.Equal(2, vault.Runs); // bob's read and ann's rotation; every refused call never ran
        }
    }

    [Fact]
    public async Task Credentials_AreNeverSentOverPlainTcp_UnlessAllowed_AndAreAskedForOnEveryAttempt()
    {
        (RpcServer server, Vault vault) = await StartAsync(Tokens());
        await using (server)
        {
            await using (RpcClient plain = Client(server.Endpoints[0], "t-bob"))
            {
                RpcException error = await Assert.ThrowsAsync<RpcException>(() => plain.CreateProxy<IVault>().HealthAsync());
                Assert.Equal(RpcStatusCode.Unauthenticated, error.StatusCode);
                Assert.Contains("over plain TCP", error.Message, StringComparison.Ordinal);
                Assert.Contains("AllowCredentialsOverPlainText", error.Message, StringComparison.Ordinal);
            }

            int asked = 0;
            await using var allowed = new RpcClient(new RpcClientOptions
            {
                Endpoints = { server.Endpoints[0] },
                AllowCredentialsOverPlainText = true,
                Credentials = RpcCallCredentials.BearerToken(_ => new ValueTask<string>(Interlocked.Increment(ref asked) == 1 ? "t-bob" : "t-ann")),
            });

            // Two attempts (the first fails with Unavailable and is retried), each asking for the token again: the
            // retry carries the refreshed one.
            Assert.Equal("ann", await allowed.CreateProxy<IVault>().FlakyAsync(failures: 1));
            Assert.Equal(new[] { "Bearer t-bob", "Bearer t-ann" }, vault.Tokens);
            Assert.Equal(2, asked);
        }
    }

    [Fact]
    public async Task MutualTls_TheCertificateIsTheIdentity_AndItsRolesAreChecked()
    {
        X509Certificate2 authority = TestCertificates.CreateAuthority();
        X509Certificate2 server = TestCertificates.Issue(authority, "localhost");
        X509Certificate2 ann = TestCertificates.Issue(authority, "ann", client: true);
        X509Certificate2 bob = TestCertificates.Issue(authority, "bob", client: true);
        (RpcServer rpc, _) = await StartAsync(
            RpcAuthenticators.ClientCertificate(certificate => certificate.GetNameInfo(X509NameType.SimpleName, false) == "ann" ? new[] { "ops" } : Array.Empty<string>()),
            new RpcServerTlsOptions { Certificate = server, ClientCertificateRequired = true, ClientCertificateAuthorities = new X509Certificate2Collection(authority) });
        await using (rpc)
        {
            RpcClient Client(X509Certificate2 certificate) => new(new RpcClientOptions
            {
                Endpoints = { rpc.Endpoints[0] },
                Tls = new RpcClientTlsOptions { CertificateAuthorities = new X509Certificate2Collection(authority), TargetHost = "localhost", ClientCertificate = certificate },
            });

            await using (RpcClient asAnn = Client(ann))
            {
                Assert.Equal("rotated by ann", await asAnn.CreateProxy<IVault>().RotateAsync());
            }

            await using (RpcClient asBob = Client(bob))
            {
                Assert.Equal("read by bob", await asBob.CreateProxy<IVault>().ReadAsync());
                Assert.Equal(RpcStatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => asBob.CreateProxy<IVault>().RotateAsync())).StatusCode);
            }
        }
    }

    [Fact]
    public void Descriptor_CarriesTheEffectiveRule_OfEachMethod()
    {
        RpcServiceDescriptor vault = RpcServiceRegistry.GetDescriptor<IVault>()!;
        RpcAuthorization read = vault.Methods.Single(m => m.ClrName == "ReadAsync").Authorization!;
        Assert.False(read.AllowAnonymous);
        Assert.Equal(new[] { Array.Empty<string>() }, read.Roles);
        Assert.Equal(new[] { Array.Empty<string>(), new[] { "admin", "ops" } }, vault.Methods.Single(m => m.ClrName == "RotateAsync").Authorization!.Roles);
        Assert.True(vault.Methods.Single(m => m.ClrName == "HealthAsync").Authorization!.AllowAnonymous);
    }
}
