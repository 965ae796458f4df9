using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using RpcGen.Admin;
using RpcGen.Admin.Internal;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Admin;

/// <summary>
/// The admin JSON as a contract (docs/admin.md): real servers on loopback, a client over them, the standalone listener,
/// and every documented field checked by name and kind, so a renamed or dropped field fails here. Serial: the live
/// figures are one switch for the process, and tests that count allocations per call must not see it on.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class AdminApiTests : IAsyncLifetime
{
    private static readonly string[] s_clientFields =
        { "name", "inFlight", "candidates", "panic", "retryBudgetAvailable", "discovery", "endpoints" };

    private static readonly string[] s_discoveryFields = { "source", "stale", "lastError", "lastAnswer", "ageSeconds" };

    private static readonly string[] s_endpointFields =
    {
        "address", "state", "connection", "connectFailures", "lastError", "ejection", "priority", "zone", "weight", "effectiveWeight",
        "inFlight", "serverInFlight", "latencyEwmaMs", "picksPerSecond", "successRate", "p50Ms", "p99Ms", "circuits", "recent",
    };

    private static readonly string[] s_serverFields =
        { "name", "state", "listeners", "tls", "inFlight", "limits", "deduplication", "connectionCount", "connections" };

    private static readonly string[] s_connectionFields = { "peer", "transport", "ageSeconds", "calls", "streams", "goingAway" };

    private static readonly string[] s_methodFields =
        { "side", "owner", "service", "method", "calls", "ratePerSecond", "successRate", "p50Ms", "p95Ms", "p99Ms", "policies" };

    private static readonly string[] s_eventFields = { "sequence", "time", "kind", "source", "subject", "detail" };

    private RpcAdminListener _listener = null!;
    private HttpClient _http = null!;

    public Task InitializeAsync()
    {
        _listener = RpcAdminListener.Start();
        _http = new HttpClient { BaseAddress = _listener.Address, Timeout = Wait.NoHang };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _listener.DisposeAsync();
        AdminWatch.Default.StopForTests();
    }

    [Fact]
    public async Task Clients_ListsEachEndpointWithItsStateLoadAndFigures()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(2);
        await using RpcClient client = cluster.CreateClient(o => o.Name = "admin-clients");
        await GetAsync("api/clients"); // turns the live figures on
        var calculator = client.CreateProxy<ICalculator>();
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(i + 1, await calculator.AddAsync(i, 1));
        }

        JsonElement root = await GetAsync("api/clients");
        AssertEnvelope(root);
        JsonElement mine = Single(root.GetProperty("clients"), c => c.GetProperty("name").GetString() == "admin-clients");
        AssertFields(mine, s_clientFields);
        AssertFields(mine.GetProperty("discovery"), s_discoveryFields);
        Assert.Equal("static", mine.GetProperty("discovery").GetProperty("source").GetString());
        Assert.Equal(2, mine.GetProperty("candidates").GetInt32());
        Assert.Equal(JsonValueKind.Number, mine.GetProperty("retryBudgetAvailable").ValueKind);
        JsonElement[] endpoints = mine.GetProperty("endpoints").EnumerateArray().ToArray();
        Assert.Equal(2, endpoints.Length);
        Assert.Equal(
            cluster.Servers.Select(s => s.Endpoints[0].ToString()).Order(),
            endpoints.Select(e => e.GetProperty("address").GetString()!).Order());
        double picks = 0;
        foreach (JsonElement endpoint in endpoints)
        {
            AssertFields(endpoint, s_endpointFields);
            Assert.Equal("ready", endpoint.GetProperty("state").GetString());
            Assert.Equal(JsonValueKind.Null, endpoint.GetProperty("ejection").ValueKind);
            Assert.Equal(0, endpoint.GetProperty("inFlight").GetInt32());
            Assert.Equal(new RpcEndpoint("any", 1).Weight, endpoint.GetProperty("weight").GetInt32());
            Assert.Equal(1.0, endpoint.GetProperty("successRate").GetDouble());
            Assert.True(endpoint.GetProperty("p99Ms").GetDouble() > 0);
            Assert.All(endpoint.GetProperty("recent").EnumerateArray(), r => Assert.Equal("ok", r.GetString()));
            picks += endpoint.GetProperty("picksPerSecond").GetDouble();
        }

        Assert.True(picks > 0, "the attempts of the last seconds are counted per endpoint");
    }

    [Fact]
    public async Task Clients_ShowAnEjectedEndpointWithWhyAndUntilWhen_AndTheEventsSayIt()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(3);
        await using RpcClient client = cluster.CreateClient(o =>
        {
            o.Name = "admin-ejection";
            o.Balancing.OutlierDetection.ConsecutiveFailures = 2;
            o.Balancing.OutlierDetection.BaseEjectionTime = TimeSpan.FromMinutes(5);
        });
        var calculator = client.CreateProxy<ICalculator>();
        await calculator.AddAsync(1, 1);
        long eventsBefore = (await GetAsync("api/events")).GetProperty("next").GetInt64() - 1;
        string dead = cluster.Servers[1].Endpoints[0].ToString();
        await cluster.Servers[1].DisposeAsync();

        await Wait.UntilAsync(
            () => TryCall(calculator) && client.Endpoints.Single(e => e.Endpoint.ToString() == dead).IsEjected, "the stopped server's ejection");

        JsonElement mine = Single((await GetAsync("api/clients")).GetProperty("clients"), c => c.GetProperty("name").GetString() == "admin-ejection");
        JsonElement endpoint = Single(mine.GetProperty("endpoints"), e => e.GetProperty("address").GetString() == dead);
        Assert.Equal("ejected", endpoint.GetProperty("state").GetString());
        JsonElement ejection = endpoint.GetProperty("ejection");
        Assert.Equal("2 consecutive failures", ejection.GetProperty("reason").GetString());
        DateTimeOffset until = ejection.GetProperty("until").GetDateTimeOffset();
        Assert.InRange(until - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5.1));
        Assert.Equal(1, ejection.GetProperty("count").GetInt32());
        Assert.Equal(2, mine.GetProperty("candidates").GetInt32());

        JsonElement events = await GetAsync($"api/events?after={eventsBefore}");
        JsonElement ejected = Single(events.GetProperty("events"),
            e => e.GetProperty("kind").GetString() == "ejected" && e.GetProperty("subject").GetString() == dead);
        AssertFields(ejected, s_eventFields);
        Assert.Equal("client admin-ejection", ejected.GetProperty("source").GetString());
        Assert.Contains("2 consecutive failures", ejected.GetProperty("detail").GetString());
        Assert.All(events.GetProperty("events").EnumerateArray(), e => Assert.True(e.GetProperty("sequence").GetInt64() > eventsBefore));
    }

    [Fact]
    public async Task Servers_ListListenersConnectionsLimitsAndTheDedupWindow()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1, o => o.Limits.MaxConcurrentCalls = 500);
        await using RpcClient client = cluster.CreateClient(o => o.Name = "admin-servers");
        Assert.Equal(2, await client.CreateProxy<ICalculator>().AddAsync(1, 1));

        JsonElement root = await GetAsync("api/servers");
        AssertEnvelope(root);
        string address = cluster.Servers[0].Endpoints[0].ToString();
        JsonElement server = Single(root.GetProperty("servers"), s => s.GetProperty("listeners").EnumerateArray().Any(l => l.GetString() == address));
        AssertFields(server, s_serverFields);
        Assert.Equal("running", server.GetProperty("state").GetString());
        Assert.False(server.GetProperty("tls").GetBoolean());
        JsonElement limits = server.GetProperty("limits");
        Assert.Equal(500, limits.GetProperty("calls").GetProperty("max").GetInt32());
        Assert.Equal(1, limits.GetProperty("connections").GetProperty("used").GetInt32());
        Assert.Equal(10_000, server.GetProperty("deduplication").GetProperty("capacity").GetInt32());
        JsonElement connection = Assert.Single(server.GetProperty("connections").EnumerateArray());
        AssertFields(connection, s_connectionFields);
        Assert.Equal("tcp", connection.GetProperty("transport").GetString());
        Assert.StartsWith("127.0.0.1:", connection.GetProperty("peer").GetString());
        Assert.Equal(1, server.GetProperty("connectionCount").GetInt32());

        await cluster.Servers[0].StopAsync();
        JsonElement after = await GetAsync("api/servers");
        Assert.DoesNotContain(
            after.GetProperty("servers").EnumerateArray(), s => s.GetProperty("listeners").EnumerateArray().Any(l => l.GetString() == address));
    }

    [Fact]
    public async Task Methods_GiveRatesSuccessAndPercentilesOnBothSides_WithThePoliciesInForce()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient(o => o.Name = "admin-methods");
        await GetAsync("api/methods");
        var calculator = client.CreateProxy<ICalculator>();
        for (int i = 0; i < 30; i++)
        {
            await calculator.AddAsync(i, i);
        }

        await Assert.ThrowsAsync<RpcException>(() => calculator.FailAsync("rpc"));

        JsonElement root = await GetAsync("api/methods");
        AssertEnvelope(root);
        Assert.Equal(10, root.GetProperty("windowSeconds").GetInt32());
        JsonElement add = Single(root.GetProperty("methods"), m =>
            m.GetProperty("owner").GetString() == "client admin-methods" && m.GetProperty("method").GetString() == "Add");
        AssertFields(add, s_methodFields);
        Assert.Equal("client", add.GetProperty("side").GetString());
        Assert.Equal("calc", add.GetProperty("service").GetString());
        Assert.Equal(30, add.GetProperty("calls").GetInt64());
        Assert.Equal(1.0, add.GetProperty("successRate").GetDouble());
        Assert.True(add.GetProperty("ratePerSecond").GetDouble() > 0);
        double p50 = add.GetProperty("p50Ms").GetDouble(), p95 = add.GetProperty("p95Ms").GetDouble(), p99 = add.GetProperty("p99Ms").GetDouble();
        Assert.True(p50 > 0 && p50 <= p95 && p95 <= p99, $"p50 {p50} ≤ p95 {p95} ≤ p99 {p99}");
        JsonElement policies = add.GetProperty("policies");
        Assert.Equal("RoundRobin", policies.GetProperty("balancer").GetString());
        Assert.Equal(JsonValueKind.Number, policies.GetProperty("timeoutMs").ValueKind);

        JsonElement fail = Single(root.GetProperty("methods"), m =>
            m.GetProperty("owner").GetString() == "client admin-methods" && m.GetProperty("method").GetString() == "Fail");
        Assert.Equal(0.0, fail.GetProperty("successRate").GetDouble());

        string owner = "server " + cluster.Servers[0].Endpoints[0];
        JsonElement served = Single(root.GetProperty("methods"), m =>
            m.GetProperty("owner").GetString() == owner && m.GetProperty("method").GetString() == "Add");
        Assert.Equal("server", served.GetProperty("side").GetString());
        Assert.Equal(30, served.GetProperty("calls").GetInt64());
        Assert.True(served.GetProperty("p99Ms").GetDouble() > 0);
    }

    [Fact]
    public async Task Methods_ShowTheirCompression()
    {
        await using var server = new RpcServer();
        server.Map<ICompressed>(new Compressed());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Name = "admin-zip", Endpoints = { server.Endpoints[0] } });
        ICompressed zip = client.CreateProxy<ICompressed>();
        await zip.EchoAsync(Array.Empty<Reading>());
        await zip.EchoBrotliAsync(Array.Empty<Reading>());
        await zip.EchoPlainAsync(Array.Empty<Reading>());

        JsonElement methods = (await GetAsync("api/methods")).GetProperty("methods");
        string? Compression(string owner, string method) => Single(methods, m =>
            m.GetProperty("owner").GetString() == owner && m.GetProperty("method").GetString() == method)
            .GetProperty("policies").GetProperty("compression").GetString();
        Assert.Equal("zstd ≥ 1024 B, Fastest", Compression("client admin-zip", "Echo"));
        Assert.Null(Compression("client admin-zip", "EchoPlain"));
        Assert.Equal("brotli ≥ 1024 B, Optimal", Compression("server " + server.Endpoints[0], "EchoBrotli"));
    }

    [Fact]
    public async Task Methods_ShowPoliciesAfterAReload()
    {
        await using ServerCluster<Calculator> cluster = await ServerCluster.StartAsync(1);
        await using RpcClient client = cluster.CreateClient(o => o.Name = "admin-reload");
        await client.CreateProxy<ICalculator>().AddAsync(1, 1);
        var resilience = new RpcGen.Resilience.ResilienceOptions();
        resilience.Policies["calc/Add"] = new RpcGen.Resilience.RpcPolicyOverride { TimeoutMs = 1234 };
        long before = (await GetAsync("api/events")).GetProperty("next").GetInt64() - 1;
        var balancing = new LoadBalancingOptions();
        balancing.Strategies["calc"] = LoadBalanceStrategy.LeastOutstanding;
        client.UpdatePolicies(resilience, balancing);

        JsonElement add = Single((await GetAsync("api/methods")).GetProperty("methods"), m =>
            m.GetProperty("owner").GetString() == "client admin-reload" && m.GetProperty("method").GetString() == "Add");
        Assert.Equal(1234, add.GetProperty("policies").GetProperty("timeoutMs").GetInt32());
        Assert.Equal("LeastOutstanding", add.GetProperty("policies").GetProperty("balancer").GetString());
        JsonElement events = await GetAsync($"api/events?after={before}");
        Assert.Contains(events.GetProperty("events").EnumerateArray(), e =>
            e.GetProperty("kind").GetString() == "policies_reloaded" && e.GetProperty("source").GetString() == "client admin-reload");
    }

    [Fact]
    public async Task ThePageAndItsFilesAreServed_WithHeadersThatKeepItToItself()
    {
        HttpResponseMessage page = await _http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script src=\"app.js\"", html);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("no-store", page.Headers.CacheControl!.ToString());
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());

        HttpResponseMessage script = await _http.GetAsync("/app.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        Assert.DoesNotContain("innerHTML", await script.Content.ReadAsStringAsync());
        Assert.Equal("text/css", (await _http.GetAsync("/app.css")).Content.Headers.ContentType!.MediaType);
    }

    [Theory]
    [InlineData("/api/nothing", 404)]
    [InlineData("/secrets.txt", 404)]
    [InlineData("/api/events?after=-1", 400)]
    [InlineData("/api/events?after=x", 400)]
    public async Task UnknownPathsAndBadArgumentsGetAJsonError(string path, int status)
    {
        HttpResponseMessage response = await _http.GetAsync(path);
        Assert.Equal(status, (int)response.StatusCode);
        using JsonDocument error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(status, error.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(error.RootElement.GetProperty("error").GetString()));
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    public async Task ItIsReadOnly(string method)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), "/api/clients") { Content = new StringContent("{}") };
        HttpResponseMessage response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(new[] { "GET", "HEAD" }, response.Content.Headers.Allow.Order());
    }

    [Fact]
    public async Task ARequestNamingAnotherHostIsRefused_SoDnsRebindingCannotReadIt()
    {
        // A page on evil.example whose name now resolves to 127.0.0.1 makes the browser send Host: evil.example.
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, _listener.Address.Port);
        NetworkStream stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /api/clients HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"));
        string answer = await new StreamReader(stream).ReadToEndAsync();
        // HttpListener finds no prefix for a host it was not given (404) before RpcGen's own check would refuse it (403).
        Assert.Matches("^HTTP/1.1 (403|404) ", answer);
        Assert.DoesNotContain("\"clients\"", answer);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1:9000", true)]
    [InlineData("::1", "[::1]:9000", true)]
    [InlineData("::ffff:127.0.0.1", "localhost:9000", true)]
    [InlineData("127.0.0.1", "localhost", true)]
    [InlineData("10.1.2.3", "localhost:9000", false)]
    [InlineData("192.168.0.7", "127.0.0.1:9000", false)]
    [InlineData("127.0.0.1", "evil.example:9000", false)]
    [InlineData("127.0.0.1", "127.0.0.1.evil.example", false)]
    [InlineData("127.0.0.1", "", false)]
    public void OnlyLoopbackPeersNamingALoopbackHostAreLocal(string remote, string host, bool local) =>
        Assert.Equal(local, RpcAdminContent.IsLocalRequest(IPAddress.Parse(remote), host));

    [Fact]
    public void RemoteListeningNeedsAToken()
    {
        ArgumentException refused = Assert.Throws<ArgumentException>(() => RpcAdminListener.Start(new RpcAdminOptions { AllowRemote = true }));
        Assert.Contains("AccessToken", refused.Message);
        Assert.Throws<ArgumentException>(() => RpcAdminListener.Start(new RpcAdminOptions { AccessToken = "short" }));
    }

    [Fact]
    public async Task WithATokenEveryRequestMustCarryIt_AsABearerOrTheCookieTheTokenLinkSets()
    {
        const string token = "0123456789abcdef-admin";
        await using RpcAdminListener guarded = RpcAdminListener.Start(new RpcAdminOptions { AccessToken = token });
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var http = new HttpClient(handler) { BaseAddress = guarded.Address, Timeout = Wait.NoHang };

        HttpResponseMessage none = await http.GetAsync("/api/clients");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(Get("/api/clients", "Bearer wrong-token-of-some-length"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Get("/api/clients", "Bearer " + token))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/?access_token=wrong")).StatusCode);

        HttpResponseMessage link = await http.GetAsync("/?access_token=" + token);
        Assert.Equal(HttpStatusCode.Redirect, link.StatusCode);
        Assert.Contains("HttpOnly", link.Headers.GetValues("Set-Cookie").Single());
        Assert.Contains("SameSite=Strict", link.Headers.GetValues("Set-Cookie").Single());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/clients")).StatusCode); // the cookie now

        static HttpRequestMessage Get(string path, string authorization)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
            return request;
        }
    }

    [Fact]
    public async Task AFloodOfRequestsIsAnsweredOrRefused_NeverQueuedWithoutBound()
    {
        var requests = Enumerable.Range(0, 200).Select(_ => _http.GetAsync("/api/servers")).ToArray();
        HttpResponseMessage[] answers = await Task.WhenAll(requests);
        Assert.All(answers, a => Assert.Contains((int)a.StatusCode, new[] { 200, 503 }));
        Assert.Contains(answers, a => a.StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task PeersThatNeverFinishARequestOrNeverReadDoNotHoldTheOthersBack()
    {
        // 50 connections that send half a request line and stall, and 20 that ask for a document and never read it.
        var stalled = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 50; i++)
            {
                var socket = new TcpClient();
                await socket.ConnectAsync(IPAddress.Loopback, _listener.Address.Port);
                await socket.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET /api/clients HTTP/1.1\r\nHost: 127.0"));
                stalled.Add(socket);
            }

            for (int i = 0; i < 20; i++)
            {
                var socket = new TcpClient { ReceiveBufferSize = 1024 };
                await socket.ConnectAsync(IPAddress.Loopback, _listener.Address.Port);
                await socket.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET /api/methods HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
                stalled.Add(socket);
            }

            // Each answer goes on; none of the stalled peers takes one of the 8 answering slots for good.
            for (int i = 0; i < 3 * RpcAdminListener.MaxConcurrentRequests; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/api/servers")).StatusCode);
            }
        }
        finally
        {
            stalled.ForEach(s => s.Dispose());
        }
    }

    private static bool TryCall(ICalculator calculator)
    {
        try
        {
            calculator.AddAsync(1, 1).Wait(TimeSpan.FromSeconds(5));
        }
        catch (Exception)
        {
            // failures are what eject it
        }

        return true;
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        HttpResponseMessage response = await _http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        return JsonDocument.Parse(body).RootElement;
    }

    private static void AssertEnvelope(JsonElement root)
    {
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        Assert.True(root.GetProperty("time").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.True(root.GetProperty("live").GetBoolean());
    }

    private static JsonElement Single(JsonElement array, Func<JsonElement, bool> match)
    {
        JsonElement[] found = array.EnumerateArray().Where(match).ToArray();
        Assert.True(found.Length == 1, $"expected one match in {array}");
        return found[0];
    }

    /// <summary>The object has exactly the documented fields: a field added must be documented, one renamed fails.</summary>
    private static void AssertFields(JsonElement element, string[] fields) =>
        Assert.Equal(fields.Order(), element.EnumerateObject().Select(p => p.Name).Order());
}
