// Scenario "security": a vault over TLS (a certificate made here, trusted by pinning its authority: no certificate file
// needed), bearer tokens checked by the server's authenticator, [RpcAuthorize(Roles = "admin")] on one method.
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RpcGen;
using RpcGen.Client;
using RpcGen.Server;

namespace Sample.Security;

public static class SecurityScenario
{
    /// <summary>Runs the scenario on loopback; true when everything behaved as documented.</summary>
    public static async Task<bool> RunAsync()
    {
        Console.WriteLine();
        Console.WriteLine("Security: the vault over TLS, with bearer tokens");
        (X509Certificate2 authority, X509Certificate2 vaultCertificate) = SampleCertificates.Create();
        var tokens = new Dictionary<string, ClaimsPrincipal>
        {
            ["token-of-bob"] = new(new ClaimsIdentity(new[] { new Claim(ClaimTypes.Name, "bob") }, "Bearer")),
            ["token-of-ann"] = new(new ClaimsIdentity(new[] { new Claim(ClaimTypes.Name, "ann"), new Claim(ClaimTypes.Role, "admin") }, "Bearer")),
        };
        await using var vaultServer = new RpcServer(new RpcServerOptions
        {
            Tls = new RpcServerTlsOptions { Certificate = vaultCertificate },
            Authenticator = RpcAuthenticators.BearerToken((token, _) => ValueTask.FromResult(tokens.GetValueOrDefault(token))),
        });
        var vault = new Vault();
        vaultServer.Map<IVault>(vault);
        await vaultServer.StartAsync();

        RpcClient VaultClient(string token, bool tls = true) => new(new RpcClientOptions
        {
            Endpoints = { vaultServer.Endpoints[0] },
            Tls = tls
                ? new RpcClientTlsOptions { CertificateAuthorities = new X509Certificate2Collection(authority), TargetHost = "vault.sample" }
                : null,
            Credentials = RpcCallCredentials.BearerToken(_ => ValueTask.FromResult(token)),
        });

        async Task<string> Attempt(Func<Task<string>> call)
        {
            try
            {
                return await call();
            }
            catch (RpcException ex)
            {
                return $"refused: {ex.StatusCode}: {ex.Message}";
            }
        }

        await using RpcClient asBob = VaultClient("token-of-bob");
        await using RpcClient asAnn = VaultClient("token-of-ann");
        await using RpcClient inTheClear = VaultClient("token-of-ann", tls: false);
        string bobReads = await Attempt(() => asBob.CreateProxy<IVault>().ReadAsync("db-password"));
        string bobRotates = await Attempt(() => asBob.CreateProxy<IVault>().RotateAsync("db-password"));
        string annRotates = await Attempt(() => asAnn.CreateProxy<IVault>().RotateAsync("db-password"));
        string clearText = await Attempt(() => inTheClear.CreateProxy<IVault>().ReadAsync("db-password"));
        Console.WriteLine($"  bob reads:                 {bobReads}");
        Console.WriteLine($"  bob rotates:               {bobRotates}");
        Console.WriteLine($"  ann (admin) rotates:       {annRotates}");
        Console.WriteLine($"  a token over plain TCP:    {clearText}");
        bool secure = bobReads == "db-password read by bob over TLS"
            && bobRotates.StartsWith("refused: PermissionDenied", StringComparison.Ordinal)
            && annRotates == "db-password rotated by ann"
            && clearText.StartsWith("refused: Unauthenticated", StringComparison.Ordinal)
            && vault.Rotations == 1;
        Console.WriteLine(secure ? "TLS, tokens and [RpcAuthorize] behaved as documented." : "Security did not behave as documented!");
        return secure;
    }
}

[RpcService("vault"), RpcAuthorize, Timeout(5000)]
public interface IVault
{
    Task<string> ReadAsync(string name, CancellationToken cancellationToken = default);

    [RpcAuthorize(Roles = "admin")]
    Task<string> RotateAsync(string name, CancellationToken cancellationToken = default);
}

public sealed class Vault : IVault
{
    public int Rotations;

    public Task<string> ReadAsync(string name, CancellationToken cancellationToken = default)
    {
        RpcCallContext call = RpcCallContext.Current!;
        return Task.FromResult($"{name} read by {call.User!.Identity!.Name}{(call.IsEncrypted ? " over TLS" : string.Empty)}");
    }

    public Task<string> RotateAsync(string name, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Rotations);
        return Task.FromResult($"{name} rotated by {RpcCallContext.Current!.User!.Identity!.Name}");
    }
}

/// <summary>A private authority and a server certificate it signs, made at start: nothing to install or commit.</summary>
public static class SampleCertificates
{
    public static (X509Certificate2 Authority, X509Certificate2 Server) Create()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=RpcGen Sample CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        X509Certificate2 authority = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=vault.sample", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("vault.sample");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        using X509Certificate2 issued = request.Create(
            authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(12));
        using X509Certificate2 withKey = issued.CopyWithPrivateKey(key);
        return (authority, X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null));
    }
}
