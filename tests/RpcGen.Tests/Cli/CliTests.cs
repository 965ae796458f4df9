using System.Diagnostics;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using RpcGen.Tests.Gateway;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Cli;

/// <summary>The rpcgen tool run as a process against live servers, as an operator runs it: output, errors, exit codes.</summary>
public sealed class CliTests
{
    private static readonly string s_tool = Path.Combine(TestPaths.RepositoryRoot, "cli", "bin", "Release", "net10.0", "RpcGen.Cli.dll");

    internal static async Task<(int Exit, string Out, string Error)> RunAsync(string? stdin, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(s_tool);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    private static async Task<RpcServer> StartAsync(Action<RpcServerOptions>? configure = null, bool describe = true)
    {
        var options = new RpcServerOptions { EnableDescribe = describe };
        configure?.Invoke(options);
        var server = new RpcServer(options);
        server.Map<IStore>(new Store());
        await server.StartAsync();
        return server;
    }

    [Fact]
    public async Task ListDescribeAndCall_PrintJson_AndTheExitCodeFollowsTheStatus()
    {
        await using RpcServer server = await StartAsync();
        string address = server.Endpoints[0].ToString();

        (int exit, string output, string error) = await RunAsync(null, "list", address);
        Assert.True(exit == 0, error);
        Assert.Equal("store", JsonDocument.Parse(output).RootElement.GetProperty("services")[0].GetProperty("name").GetString());

        (exit, output, error) = await RunAsync(null, "describe", address, "store", "--output", "table");
        Assert.True(exit == 0, error);
        Assert.Contains("store/Buy", output, StringComparison.Ordinal);
        Assert.Contains("noSideEffects", output, StringComparison.Ordinal);

        (exit, output, error) = await RunAsync(null, "call", address, "store/Buy", "{\"order\":{\"sku\":\"pen\",\"quantity\":4}}");
        Assert.True(exit == 0, error);
        Assert.Equal(10m, JsonDocument.Parse(output).RootElement.GetProperty("total").GetDecimal());

        (exit, _, error) = await RunAsync(null, "call", address, "store/Fail", "{\"code\":5,\"message\":\"no such pen\"}");
        Assert.Equal((int)RpcStatusCode.NotFound, exit);
        Assert.Contains("ERROR: NotFound: no such pen", error, StringComparison.Ordinal);

        (exit, _, error) = await RunAsync(null, "call", address, "store/Buy", "{\"order\":{\"sku\":\"pen\",\"quantity\":\"four\"}}");
        Assert.Equal((int)RpcStatusCode.InvalidArgument, exit);
        Assert.Contains("argument 'order'", error, StringComparison.Ordinal);

        (exit, _, error) = await RunAsync(null, "call", address, "store/Steal", "{}");
        Assert.Equal((int)RpcStatusCode.NotFound, exit);
        Assert.Contains("its methods are: Get, Buy", error, StringComparison.Ordinal);

        (exit, _, error) = await RunAsync(null, "call", address, "store/Slow", "{\"milliseconds\":20000}", "--deadline-ms", "300");
        Assert.Equal((int)RpcStatusCode.DeadlineExceeded, exit);

        (exit, _, error) = await RunAsync(null, "call", address);
        Assert.Equal(64, exit); // the command line does not parse
        Assert.Contains("rpcgen --help", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Full_PrintsTheEnvelope_WithHeadersTrailersAndTiming()
    {
        await using RpcServer server = await StartAsync();
        (int exit, string output, string error) = await RunAsync(
            null, "call", server.Endpoints[0].ToString(), "store/EchoHeader", "{\"name\":\"tenant\"}", "-H", "tenant: acme", "--full");
        Assert.True(exit == 0, error);
        JsonElement envelope = JsonDocument.Parse(output).RootElement;
        Assert.Equal("OK", envelope.GetProperty("status").GetString());
        Assert.Equal(0, envelope.GetProperty("code").GetInt32());
        Assert.Equal("acme", envelope.GetProperty("result").GetString());
        Assert.Equal("store", envelope.GetProperty("headers").GetProperty("served-by")[0].GetString());
        Assert.Equal("AQID", envelope.GetProperty("trailers").GetProperty("blob-bin")[0].GetString());
        Assert.True(envelope.GetProperty("elapsedMs").GetDouble() > 0);
    }

    [Fact]
    public async Task Streams_NdjsonOut_AndTheCallersItemsFromStdin()
    {
        await using RpcServer server = await StartAsync();
        string address = server.Endpoints[0].ToString();
        (int exit, string output, string error) = await RunAsync(null, "stream", address, "store/Count", "{\"count\":3}");
        Assert.True(exit == 0, error);
        Assert.Equal(new[] { "1", "2", "3" }, output.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        (exit, output, error) = await RunAsync("1\n2\n\n39\n", "stream", address, "store/Sum");
        Assert.True(exit == 0, error);
        Assert.Equal("42", output.Trim());

        (exit, _, error) = await RunAsync("1\nnot json\n", "stream", address, "store/Sum");
        Assert.Equal(65, exit);
        Assert.Contains("Line 2 of stdin is not JSON", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACallToACompressedMethod_IsCompressed_AsAProxysIs()
    {
        // What the describe document says of [Compress] reaches the tool's descriptor: 64 KiB of readings leave shrunk.
        var server = new RpcServer(new RpcServerOptions { EnableDescribe = true });
        server.Map<ICompressed>(new Compressed());
        await server.StartAsync();
        await using (server)
        await using (FaultProxy proxy = FaultProxy.Start(server.Endpoints[0]))
        {
            Reading[] sent = Compressed.Readings(64);
            string readings = JsonSerializer.Serialize(new { readings = sent }, RpcGen.Serialization.RpcDefaults.CreateSerializerOptions());
            async Task<long> BytesUpAsync(string method)
            {
                long before = proxy.BytesToServer;
                (int exit, string output, string error) = await RunAsync(readings, "call", proxy.Endpoint.ToString(), method, "-");
                Assert.True(exit == 0, error);
                Assert.Equal(sent.Length, JsonDocument.Parse(output).RootElement.GetArrayLength()); // the readings came back
                return proxy.BytesToServer - before;
            }

            long plain = await BytesUpAsync("zip/EchoPlain");
            long compressed = await BytesUpAsync("zip/Echo");
            Assert.True(plain > 60_000, $"{plain} bytes up uncompressed");
            Assert.True(compressed * 5 <= plain, $"{compressed} bytes up compressed against {plain}");
        }
    }

    [Fact]
    public async Task WithoutDescribe_ContractsAssembliesGiveTheMethods()
    {
        await using RpcServer server = await StartAsync(describe: false);
        string address = server.Endpoints[0].ToString();
        (int exit, _, string error) = await RunAsync(null, "call", address, "store/Get", "{\"sku\":\"pen\"}");
        Assert.Equal((int)RpcStatusCode.Unimplemented, exit);
        Assert.Contains("--contracts", error, StringComparison.Ordinal);

        string contracts = typeof(IStore).Assembly.Location;
        (exit, string output, error) = await RunAsync(null, "call", address, "store/Get", "{\"sku\":\"pen\"}", "--contracts", contracts);
        Assert.True(exit == 0, error);
        Assert.Equal("pen", JsonDocument.Parse(output).RootElement.GetProperty("sku").GetString());
    }

    [Fact]
    public async Task TlsAndABearerToken_ReachTheServersAuthenticator()
    {
        using X509Certificate2 authority = TestCertificates.CreateAuthority();
        using X509Certificate2 certificate = TestCertificates.Issue(authority, "localhost");
        string ca = Path.Combine(Path.GetTempPath(), $"rpcgen-ca-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(ca, authority.ExportCertificatePem());
        try
        {
            await using RpcServer server = await StartAsync(o =>
            {
                o.Tls = new RpcServerTlsOptions { Certificate = certificate };
                o.Authenticator = RpcAuthenticators.BearerToken(
                    (token, _) => new ValueTask<ClaimsPrincipal?>(GatewayApp.Users.GetValueOrDefault(token)));
            });
            string address = server.Endpoints[0].ToString();
            (int exit, string output, string error) = await RunAsync(null, "call", address, "store/WhoAmI", "--ca", ca, "--token", "t-ann");
            Assert.True(exit == 0, error);
            Assert.Equal("\"ann\"", output.Trim());

            (exit, _, error) = await RunAsync(null, "call", address, "store/WhoAmI", "--ca", ca);
            Assert.Equal((int)RpcStatusCode.Unauthenticated, exit); // describe itself wants a caller

            (exit, _, error) = await RunAsync(null, "call", address, "store/WhoAmI", "--token", "t-ann");
            Assert.NotEqual(0, exit); // no TLS: the tool will not send the token over plain TCP, and the server wants TLS
        }
        finally
        {
            File.Delete(ca);
        }
    }

    [Fact]
    public async Task Health_PingsTheServer_OrFailsUnavailable()
    {
        await using RpcServer server = await StartAsync();
        (int exit, string output, string error) = await RunAsync(null, "health", server.Endpoints[0].ToString());
        Assert.True(exit == 0, error);
        Assert.Equal("serving", JsonDocument.Parse(output).RootElement.GetProperty("status").GetString());

        int closed = FreePort();
        (exit, _, _) = await RunAsync(null, "health", $"127.0.0.1:{closed}", "--deadline-ms", "2000");
        Assert.Equal((int)RpcStatusCode.Unavailable, exit);
    }

    [Fact]
    public async Task Endpoints_SaysWhatEtcdDiscoverySees_AndWhatAnswers()
    {
        await using EtcdServer etcd = await EtcdServer.StartAsync();
        await using RpcServer server = await StartAsync();
        var options = new RpcGen.Etcd.EtcdOptions { Servers = { etcd.Url }, Prefix = "/cli-test/" };
        int dead = FreePort();
        await using RpcGen.Etcd.EtcdRegistration registration = await RpcGen.Etcd.EtcdRegistration.RegisterAsync(
            options, "store", new[] { server.Endpoints[0], new RpcEndpoint("127.0.0.1", dead) });

        (int exit, string output, string error) = await RunAsync(null, "endpoints", "store", "--etcd", etcd.Url.ToString(), "--prefix", "/cli-test/");
        Assert.True(exit == 0, error);
        JsonElement[] endpoints = JsonDocument.Parse(output).RootElement.GetProperty("endpoints").EnumerateArray().ToArray();
        Assert.Equal(2, endpoints.Length);
        JsonElement live = endpoints.Single(e => e.GetProperty("address").GetString() == server.Endpoints[0].ToString());
        Assert.EndsWith(" ms", live.GetProperty("ping").GetString(), StringComparison.Ordinal);
        JsonElement gone = endpoints.Single(e => e.GetProperty("address").GetString() == $"127.0.0.1:{dead}");
        Assert.StartsWith("unreachable", gone.GetProperty("ping").GetString(), StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
