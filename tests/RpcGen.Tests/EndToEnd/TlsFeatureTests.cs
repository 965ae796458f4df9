using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>Metadata, trailers on errors and interceptors under retries, over real TLS on loopback.</summary>
public sealed class TlsFeatureTests
{
    [Fact]
    public async Task OverTls_MetadataRoundTrips_ErrorsCarryTrailers_AndAttemptInterceptorsRunPerRetry()
    {
        X509Certificate2 authority = TestCertificates.CreateAuthority();
        var meta = new Meta();
        var flaky = new Flaky();
        await using var server = new RpcServer(new RpcServerOptions { Tls = new RpcServerTlsOptions { Certificate = TestCertificates.Issue(authority, "localhost") } });
        server.Map<IMeta>(meta);
        server.Map<IFlaky>(flaky);
        await server.StartAsync();
        var log = new ConcurrentQueue<string>();
        var options = new RpcClientOptions
        {
            Endpoints = { server.Endpoints[0] },
            Tls = new RpcClientTlsOptions { CertificateAuthorities = new X509Certificate2Collection(authority), TargetHost = "localhost" },
        };
        options.Interceptors.Add(new RecordingClientInterceptor("A", log));
        options.Interceptors.Add(new RecordingClientInterceptor("B", log));
        await using var client = new RpcClient(options);

        using (RpcCallScope scope = RpcCallScope.Begin())
        {
            scope.RequestHeaders.Add("tenant", "acme");
            scope.RequestHeaders.Add("blob-bin", new byte[] { 0, 1, 254, 255 });
            Assert.Equal("tenant=acme;blob-bin=[0,1,254,255];trace=t1;attempt=0", await client.CreateProxy<IMeta>().DescribeAsync());
            Assert.Equal(new byte[] { 1, 2, 3 }, scope.ResponseTrailers!.GetBytes("cost-bin"));

            RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.CreateProxy<IMeta>().FailAsync());
            Assert.Equal(("meta-1", "quota"), (error.ResponseHeaders!.GetValue("served-by"), error.Trailers!.GetValue("reason")));
        }

        Assert.Equal(5, await client.CreateProxy<IFlaky>().AddAsync(2, 3, failures: 2));
        Assert.Equal(new[] { "trace=t1 attempt=0", "trace=t1 attempt=1", "trace=t1 attempt=2" }, flaky.Seen);
        Assert.Equal(3, log.Count(l => l == "A.call>"));                         // once per call: three calls
        Assert.Equal(5, log.Count(l => l.StartsWith("A.attempt", StringComparison.Ordinal))); // once per attempt: 1 + 1 + 3
    }
}
