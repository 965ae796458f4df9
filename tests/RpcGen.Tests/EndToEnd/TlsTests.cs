using System.Security.Cryptography.X509Certificates;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

[RpcService("whoami")]
public interface IWhoAmI
{
    /// <summary>"tls" or "plain", then the caller's certificate subject or "anonymous".</summary>
    Task<string> WhoAsync(CancellationToken ct = default);
}

public sealed class WhoAmI : IWhoAmI
{
    public Task<string> WhoAsync(CancellationToken ct = default)
    {
        RpcCallContext context = RpcCallContext.Current!;
        return Task.FromResult($"{(context.IsEncrypted ? "tls" : "plain")} {context.ClientCertificate?.Subject ?? "anonymous"}");
    }
}

/// <summary>TLS and mutual TLS over loopback, with certificates made at run time, and the peers that get it wrong.</summary>
public sealed class TlsTests
{
    private static readonly X509Certificate2 s_authority = TestCertificates.CreateAuthority();
    private static readonly X509Certificate2 s_serverCertificate = TestCertificates.Issue(s_authority, "localhost");

    private static async Task<RpcServer> StartAsync(RpcServerTlsOptions? tls, TimeSpan? handshakeTimeout = null)
    {
        var options = new RpcServerOptions { Tls = tls };
        if (handshakeTimeout is { } timeout)
        {
            options.Limits.HandshakeTimeout = timeout;
        }

        var server = new RpcServer(options);
        server.Map<IWhoAmI>(new WhoAmI());
        await server.StartAsync();
        return server;
    }

    private static RpcClient Client(RpcServer server, RpcClientTlsOptions? tls) =>
        new(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, Tls = tls, Connection = { ConnectTimeout = TimeSpan.FromSeconds(10) } });

    private static RpcClientTlsOptions Trusting(X509Certificate2 authority, string host = "localhost", X509Certificate2? certificate = null) =>
        new() { CertificateAuthorities = new X509Certificate2Collection(authority), TargetHost = host, ClientCertificate = certificate };

    [Fact]
    public async Task Tls_WithAPinnedAuthority_CarriesCallsAndMetadata()
    {
        await using RpcServer server = await StartAsync(new RpcServerTlsOptions { Certificate = s_serverCertificate });
        await using RpcClient client = Client(server, Trusting(s_authority));
        Assert.Equal("tls anonymous", await client.CreateProxy<IWhoAmI>().WhoAsync());

        // The address itself (an IP in the certificate's names) works as the target host too.
        await using RpcClient byAddress = Client(server, new RpcClientTlsOptions { CertificateAuthorities = new X509Certificate2Collection(s_authority) });
        Assert.Equal("tls anonymous", await byAddress.CreateProxy<IWhoAmI>().WhoAsync());
    }

    [Fact]
    public async Task MutualTls_TheClientCertificateIsTheCallersIdentity_AndAClientWithoutOneCannotConnect()
    {
        X509Certificate2 alice = TestCertificates.Issue(s_authority, "alice", client: true);
        await using RpcServer server = await StartAsync(new RpcServerTlsOptions
        {
            Certificate = s_serverCertificate,
            ClientCertificateRequired = true,
            ClientCertificateAuthorities = new X509Certificate2Collection(s_authority),
        });

        await using (RpcClient client = Client(server, Trusting(s_authority, certificate: alice)))
        {
            Assert.Equal("tls CN=alice", await client.CreateProxy<IWhoAmI>().WhoAsync());
        }

        await using (RpcClient anonymous = Client(server, Trusting(s_authority)))
        {
            RpcException refused = await Assert.ThrowsAsync<RpcException>(() => anonymous.CreateProxy<IWhoAmI>().WhoAsync());
            Assert.Equal(RpcStatusCode.Unavailable, refused.StatusCode);
        }

        // A certificate from another authority is refused as well; the server goes on serving the others.
        X509Certificate2 mallory = TestCertificates.Issue(TestCertificates.CreateAuthority("Other CA"), "mallory", client: true);
        await using (RpcClient stranger = Client(server, Trusting(s_authority, certificate: mallory)))
        {
            await Assert.ThrowsAsync<RpcException>(() => stranger.CreateProxy<IWhoAmI>().WhoAsync());
        }

        await using (RpcClient again = Client(server, Trusting(s_authority, certificate: alice)))
        {
            Assert.Equal("tls CN=alice", await again.CreateProxy<IWhoAmI>().WhoAsync());
        }
    }

    [Fact]
    public async Task ServerCertificateProblems_FailWithUnavailable_AndSayWhatToFix()
    {
        X509Certificate2 expired = TestCertificates.Issue(s_authority, "localhost", notBefore: DateTimeOffset.UtcNow.AddDays(-10), notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        await using RpcServer server = await StartAsync(new RpcServerTlsOptions { Certificate = s_serverCertificate });
        await using RpcServer stale = await StartAsync(new RpcServerTlsOptions { Certificate = expired });

        await using (RpcClient untrusting = Client(server, new RpcClientTlsOptions { TargetHost = "localhost" })) // the machine's roots
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => untrusting.CreateProxy<IWhoAmI>().WhoAsync());
            Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
            Assert.Contains("its certificate is not trusted", error.Message, StringComparison.Ordinal);
            Assert.Contains("RpcClientTlsOptions.CertificateAuthorities", error.Message, StringComparison.Ordinal);
        }

        await using (RpcClient wrongName = Client(server, Trusting(s_authority, host: "orders.example")))
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => wrongName.CreateProxy<IWhoAmI>().WhoAsync());
            Assert.Contains("its certificate is for 'localhost', not 'orders.example'", error.Message, StringComparison.Ordinal);
        }

        await using (RpcClient late = Client(stale, Trusting(s_authority)))
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => late.CreateProxy<IWhoAmI>().WhoAsync());
            Assert.Contains("expired or not yet valid", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WrongProtocolPeers_BothWays_GetClearErrors_AndServersKeepServing()
    {
        await using RpcServer tlsServer = await StartAsync(new RpcServerTlsOptions { Certificate = s_serverCertificate });
        await using RpcServer plainServer = await StartAsync(null);

        await using (RpcClient plain = Client(tlsServer, null))
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => plain.CreateProxy<IWhoAmI>().WhoAsync());
            Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
            Assert.Contains("it may require TLS (set RpcClientOptions.Tls)", error.Message, StringComparison.Ordinal);
        }

        await using (RpcClient tls = Client(plainServer, Trusting(s_authority)))
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => tls.CreateProxy<IWhoAmI>().WhoAsync());
            Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
            Assert.Contains("does the server serve TLS?", error.Message, StringComparison.Ordinal);
        }

        await using (RpcClient good = Client(tlsServer, Trusting(s_authority)))
        {
            Assert.Equal("tls anonymous", await good.CreateProxy<IWhoAmI>().WhoAsync());
        }

        await using (RpcClient good = Client(plainServer, null))
        {
            Assert.Equal("plain anonymous", await good.CreateProxy<IWhoAmI>().WhoAsync());
        }
    }

    [Fact]
    public async Task SilentPeer_IsDroppedAtTheHandshakeTimeout()
    {
        await using RpcServer server = await StartAsync(new RpcServerTlsOptions { Certificate = s_serverCertificate }, TimeSpan.FromMilliseconds(300));
        await using RawConnection silent = await RawConnection.ConnectAsync(server.Endpoints[0], sendPreface: false);
        Assert.True(await silent.WaitForCloseAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task CertificateRotation_NewConnectionsGetTheNewCertificate_WithoutARestart()
    {
        X509Certificate2 current = s_serverCertificate;
        X509Certificate2 renewed = TestCertificates.Issue(s_authority, "localhost");
        await using RpcServer server = await StartAsync(new RpcServerTlsOptions { CertificateSelector = () => Volatile.Read(ref current) });
        var seen = new List<string>();
        RpcClientTlsOptions Recording() => new()
        {
            TargetHost = "localhost",
            ServerCertificateValidation = (certificate, _, errors) =>
            {
                lock (seen)
                {
                    seen.Add(certificate!.Thumbprint);
                }

                return (errors & ~System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors) == 0; // chain: our private CA
            },
        };

        await using (RpcClient first = Client(server, Recording()))
        {
            await first.CreateProxy<IWhoAmI>().WhoAsync();
            Volatile.Write(ref current, renewed);
            await first.CreateProxy<IWhoAmI>().WhoAsync(); // the open connection keeps its certificate
            await using RpcClient second = Client(server, Recording());
            await second.CreateProxy<IWhoAmI>().WhoAsync();
        }

        Assert.Equal(new[] { s_serverCertificate.Thumbprint, renewed.Thumbprint }, seen);
    }

    [Fact]
    public void Options_RefuseWhatCannotWork()
    {
        Assert.Throws<ArgumentException>(() => new RpcServer(new RpcServerOptions { Tls = new RpcServerTlsOptions() }));
        using var noKey = X509CertificateLoader.LoadCertificate(s_serverCertificate.Export(X509ContentType.Cert));
        Assert.Contains("no private key", Assert.Throws<ArgumentException>(() => new RpcServer(new RpcServerOptions { Tls = new RpcServerTlsOptions { Certificate = noKey } })).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new RpcServer(new RpcServerOptions
        {
            Tls = new RpcServerTlsOptions { Certificate = s_serverCertificate, EnabledProtocols = System.Security.Authentication.SslProtocols.Tls13 | (System.Security.Authentication.SslProtocols)0x0300 }, // + TLS 1.1
        }));
    }
}
