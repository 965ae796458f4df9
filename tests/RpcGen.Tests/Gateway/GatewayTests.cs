using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using RpcGen.AspNetCore;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.Gateway;

/// <summary>The HTTP/JSON gateway end to end: a real Kestrel on loopback, an HttpClient as any HTTP caller would be.</summary>
public sealed class GatewayTests
{
    private static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(GatewayApp app, string path, string json)
    {
        using HttpResponseMessage response = await app.Http.PostAsync(path, Body(json));
        return (response.StatusCode, await ReadJsonAsync(response));
    }

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static void AssertError(HttpStatusCode expectedStatus, string code, string messagePart, (HttpStatusCode Status, JsonElement Body) actual)
    {
        Assert.Equal(expectedStatus, actual.Status);
        Assert.Equal(code, actual.Body.GetProperty("code").GetString());
        Assert.Contains(messagePart, actual.Body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static async Task AssertErrorAsync(HttpStatusCode expectedStatus, string code, string messagePart, HttpResponseMessage response) =>
        AssertError(expectedStatus, code, messagePart, (response.StatusCode, await ReadJsonAsync(response)));

    [Fact]
    public async Task Post_NamedArguments_ReturnsTheResultAsJson_WithDefaultsForWhatIsLeftOut()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        (HttpStatusCode status, JsonElement receipt) = await PostAsync(app, "/store/Buy", "{\"order\":{\"sku\":\"pen\",\"quantity\":4}}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("pen", receipt.GetProperty("sku").GetString());
        Assert.Equal(10m, receipt.GetProperty("total").GetDecimal());
        Assert.Equal((int)Color.Green, receipt.GetProperty("color").GetInt32());

        (status, receipt) = await PostAsync(app, "/store/Buy", "{\"color\":0,\"order\":{\"sku\":\"ink\",\"quantity\":1}}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((int)Color.Red, receipt.GetProperty("color").GetInt32());

        using HttpResponseMessage empty = await app.Http.PostAsync("/store/Forget", Body("{\"sku\":\"pen\"}"));
        Assert.Equal(HttpStatusCode.OK, empty.StatusCode);
        Assert.Equal("null", await empty.Content.ReadAsStringAsync()); // a method without a result
        Assert.Equal("application/json", empty.Content.Headers.ContentType!.MediaType);
        Assert.Equal(3, app.Store.Calls);
    }

    [Fact]
    public async Task Get_TakesQueryArguments_ForNoSideEffectsMethods_StringsStayStrings()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        JsonElement item = JsonDocument.Parse(await app.Http.GetStringAsync("/store/Get?sku=123&quantity=3")).RootElement;
        Assert.Equal("123", item.GetProperty("sku").GetString());
        Assert.Equal(3, item.GetProperty("quantity").GetInt32());
        Assert.Equal(7.5m, item.GetProperty("price").GetDecimal());

        item = JsonDocument.Parse(await app.Http.GetStringAsync("/store/Get?sku=%7B%22a%22%3A1%7D")).RootElement;
        Assert.Equal("{\"a\":1}", item.GetProperty("sku").GetString()); // JSON-looking text for a string parameter is text
        Assert.Equal(1, item.GetProperty("quantity").GetInt32());

        using HttpResponseMessage wrong = await app.Http.GetAsync("/store/Get?sku=x&quantity=three");
        await AssertErrorAsync(HttpStatusCode.BadRequest, "invalid_argument", "argument 'quantity' could not be read as Int32", wrong);
    }

    [Fact]
    public async Task WrongVerb_UnknownMethod_AndUnknownPath_GetJsonErrorsSayingWhatIsThere()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        using HttpResponseMessage get = await app.Http.GetAsync("/store/Buy");
        await AssertErrorAsync(HttpStatusCode.MethodNotAllowed, "unimplemented", "'store/Buy' is called with POST", get);
        Assert.Equal(new[] { "POST" }, get.Content.Headers.Allow);

        AssertError(HttpStatusCode.NotFound, "not_found", "Service 'store' has no method 'Steal'; its methods are: Get, Buy,",
            await PostAsync(app, "/store/Steal", "{}"));
        Assert.Equal(0, app.Store.Calls);
    }

    [Theory]
    [InlineData("{\"order\":{\"sku\":\"pen\",\"quantity\":4}", "the arguments are not valid JSON")]
    [InlineData("{\"order\":{\"sku\":\"pen\",\"quantity\":\"four\"}}", "argument 'order' could not be read as Order")]
    [InlineData("{\"color\":1}", "required argument 'order' is missing")]
    [InlineData("{\"order\":{\"sku\":\"pen\",\"quantity\":4},\"colour\":1}", "'colour' is not an argument of this method")]
    [InlineData("[{\"sku\":\"pen\",\"quantity\":4}]", "the body is a JSON object of the method's named arguments")]
    [InlineData("\"pen\"", "the body is a JSON object of the method's named arguments")]
    public async Task BadArguments_Are400_NamingTheProblem_AndNoHandlerRuns(string body, string problem)
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        AssertError(HttpStatusCode.BadRequest, "invalid_argument", problem, await PostAsync(app, "/store/Buy", body));
        Assert.Equal(0, app.Store.Calls);
    }

    [Fact]
    public async Task WrongContentType_Is415_AndAnOversizedBody_Is413_BeforeAnyHandlerRuns()
    {
        await using GatewayApp app = await GatewayApp.StartAsync(
            map: a => a.MapRpcGateway<IStore>(RpcGatewayTarget.InProcess, o => o.MaxRequestBodySize = 1024));
        var plain = new StringContent("{\"sku\":\"pen\"}", Encoding.UTF8, "text/plain");
        using HttpResponseMessage text = await app.Http.PostAsync("/store/Forget", plain);
        await AssertErrorAsync(HttpStatusCode.UnsupportedMediaType, "invalid_argument", "Content-Type: application/json", text);

        string big = "{\"sku\":\"" + new string('x', 2000) + "\"}";
        AssertError((HttpStatusCode)413, "resource_exhausted", "over the gateway's limit of 1024", await PostAsync(app, "/store/Forget", big));

        // Without a Content-Length (chunked), the limit holds while reading.
        var chunked = new HttpRequestMessage(HttpMethod.Post, "/store/Forget")
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))),
        };
        chunked.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        chunked.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage response = await app.Http.SendAsync(chunked);
        Assert.Equal((HttpStatusCode)413, response.StatusCode);
        Assert.Equal(0, app.Store.Calls);
    }

    [Theory]
    [InlineData(RpcStatusCode.NotFound, 404, "not_found")]
    [InlineData(RpcStatusCode.InvalidArgument, 400, "invalid_argument")]
    [InlineData(RpcStatusCode.FailedPrecondition, 400, "failed_precondition")]
    [InlineData(RpcStatusCode.AlreadyExists, 409, "already_exists")]
    [InlineData(RpcStatusCode.Aborted, 409, "aborted")]
    [InlineData(RpcStatusCode.PermissionDenied, 403, "permission_denied")]
    [InlineData(RpcStatusCode.Unauthenticated, 401, "unauthenticated")]
    [InlineData(RpcStatusCode.ResourceExhausted, 429, "resource_exhausted")]
    [InlineData(RpcStatusCode.Unimplemented, 501, "unimplemented")]
    [InlineData(RpcStatusCode.Unavailable, 503, "unavailable")]
    [InlineData(RpcStatusCode.Internal, 500, "internal")]
    [InlineData(RpcStatusCode.DataLoss, 500, "data_loss")]
    [InlineData(RpcStatusCode.OutOfRange, 400, "out_of_range")]
    public async Task HandlerErrors_MapToTheFixedTable(RpcStatusCode code, int httpStatus, string name)
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        string body = $"{{\"code\":{(int)code},\"message\":\"it broke\"}}";
        AssertError((HttpStatusCode)httpStatus, name, "it broke", await PostAsync(app, "/store/Fail", body));
    }

    [Fact]
    public void TheTable_CoversEveryCode_WithConnectsNames()
    {
        foreach (RpcStatusCode code in Enum.GetValues<RpcStatusCode>())
        {
            Assert.Matches("^[a-z_]+$", RpcHttpStatus.ToCodeName(code));
            Assert.InRange(RpcHttpStatus.ToHttpStatus(code), 200, 599);
        }

        Assert.Equal("canceled", RpcHttpStatus.ToCodeName(RpcStatusCode.Cancelled));
        Assert.Equal(499, RpcHttpStatus.ToHttpStatus(RpcStatusCode.Cancelled));
        Assert.Equal(504, RpcHttpStatus.ToHttpStatus(RpcStatusCode.DeadlineExceeded));
        Assert.Equal(500, RpcHttpStatus.ToHttpStatus(RpcStatusCode.Unknown));
    }

    [Fact]
    public async Task Headers_GoAsMetadata_AndResponseHeadersAndTrailersComeBack_ReservedOnesRefused()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/store/EchoHeader") { Content = Body("{\"name\":\"x-tenant\"}") };
        request.Headers.Add("X-Tenant", new[] { "acme", "beta" });
        using HttpResponseMessage response = await app.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\"acme, beta\"", await response.Content.ReadAsStringAsync());
        Assert.Equal("store", response.Headers.GetValues("served-by").Single());
        Assert.Equal("abc", response.Headers.GetValues("trailer-checksum").Single());
        Assert.Equal("AQID", response.Headers.GetValues("trailer-blob-bin").Single());

        var binary = new HttpRequestMessage(HttpMethod.Post, "/store/EchoHeader") { Content = Body("{\"name\":\"user-agent\"}") };
        binary.Headers.UserAgent.ParseAdd("curl/8.0");
        using HttpResponseMessage http = await app.Http.SendAsync(binary);
        Assert.Equal("\"\"", await http.Content.ReadAsStringAsync()); // HTTP's own headers stay HTTP's

        var reserved = new HttpRequestMessage(HttpMethod.Post, "/store/EchoHeader") { Content = Body("{\"name\":\"a\"}") };
        reserved.Headers.Add("RpcGen-Deadline", "1");
        using HttpResponseMessage refused = await app.Http.SendAsync(reserved);
        await AssertErrorAsync(HttpStatusCode.BadRequest, "invalid_argument", "'RpcGen-Deadline' is reserved", refused);

        var notBase64 = new HttpRequestMessage(HttpMethod.Post, "/store/EchoHeader") { Content = Body("{\"name\":\"a\"}") };
        notBase64.Headers.Add("key-bin", "%%%");
        using HttpResponseMessage bad = await app.Http.SendAsync(notBase64);
        await AssertErrorAsync(HttpStatusCode.BadRequest, "invalid_argument", "its value is base64", bad);
        Assert.Equal(2, app.Store.Calls);
    }

    [Fact]
    public async Task TheTimeoutHeader_IsTheCallsDeadline_AndCancelsTheHandler()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/store/Slow") { Content = Body("{\"milliseconds\":30000}") };
        request.Headers.Add("Rpc-Timeout-Ms", "300");
        using HttpResponseMessage response = await app.Http.SendAsync(request);
        await AssertErrorAsync(HttpStatusCode.GatewayTimeout, "deadline_exceeded", "deadline", response);
        Assert.True(await app.Store.SlowCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));

        foreach (string bad in new[] { "0", "-5", "1.5", "12345678901", "soon" })
        {
            var invalid = new HttpRequestMessage(HttpMethod.Post, "/store/Slow") { Content = Body("{\"milliseconds\":1}") };
            invalid.Headers.TryAddWithoutValidation("Rpc-Timeout-Ms", bad);
            using HttpResponseMessage refused = await app.Http.SendAsync(invalid);
            await AssertErrorAsync(HttpStatusCode.BadRequest, "invalid_argument", "rpc-timeout-ms", refused);
        }

        Assert.Equal(1, app.Store.Calls);
    }

    [Fact]
    public async Task ACallerThatHangsUp_CancelsTheHandler()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => app.Http.PostAsync("/store/Slow", Body("{\"milliseconds\":30000}"), cancel.Token));
        Assert.True(await app.Store.SlowCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task BearerTokens_ReachTheServersAuthenticator_AndRpcAuthorizeDecides()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        AssertError(HttpStatusCode.Unauthorized, "unauthenticated", "store/WhoAmI", await PostAsync(app, "/store/WhoAmI", "{}"));

        async Task<HttpResponseMessage> AsAsync(string token)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/store/WhoAmI") { Content = Body("{}") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return await app.Http.SendAsync(request);
        }

        using HttpResponseMessage ann = await AsAsync("t-ann");
        Assert.Equal("\"ann\"", await ann.Content.ReadAsStringAsync());
        using HttpResponseMessage bob = await AsAsync("t-bob");
        await AssertErrorAsync(HttpStatusCode.Forbidden, "permission_denied", "admin", bob);
        using HttpResponseMessage wrong = await AsAsync("t-eve");
        await AssertErrorAsync(HttpStatusCode.Unauthorized, "unauthenticated", "not valid", wrong);
        Assert.Equal(1, app.Store.Calls);
    }

    [Fact]
    public async Task ServerStreams_AsNdjson_OneObjectPerLine_EndingWithTheOutcomeAndTrailers()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        using HttpResponseMessage response = await app.Http.PostAsync("/store/Count", Body("{\"count\":3}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("store", response.Headers.GetValues("stream-by").Single());
        string[] lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string end = "{\"end\":{\"code\":\"ok\",\"trailers\":{\"counted\":[\"3\"]}}}";
        Assert.Equal(new[] { "{\"result\":1}", "{\"result\":2}", "{\"result\":3}", end }, lines);

        using HttpResponseMessage failing = await app.Http.GetAsync("/store/Count?count=5&failAfter=2");
        lines = (await failing.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[] { "{\"result\":1}", "{\"result\":2}", "{\"end\":{\"code\":\"data_loss\",\"message\":\"lost after 2\"}}" }, lines);

        // A failure before the first item is answered with its own status, as a unary call's is.
        using HttpResponseMessage early = await app.Http.GetAsync("/store/Count?count=5&failAfter=0");
        await AssertErrorAsync(HttpStatusCode.InternalServerError, "data_loss", "lost after 0", early);
    }

    [Fact]
    public async Task ServerStreams_AsServerSentEvents_WithPositionsAsIds_ResumingFromLastEventId()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        List<SseItem<string>> events = await ReadEventsAsync(app, "/store/Feed?end=3", lastEventId: null);
        Assert.Equal(new[] { "message", "message", "message", "end" }, events.Select(e => e.EventType));
        Assert.Equal(new[] { "1", "2", "3", null }, events.Select(e => e.EventId));
        Assert.Equal("{\"position\":2,\"text\":\"#2\"}", events[1].Data);
        Assert.Equal("{\"code\":\"ok\"}", events[3].Data);

        events = await ReadEventsAsync(app, "/store/Feed?end=5", lastEventId: "3"); // what a browser's EventSource sends when it reconnects
        Assert.Equal(new[] { "4", "5", null }, events.Select(e => e.EventId));
        Assert.Equal(new long?[] { null, 3 }, app.Store.FeedFrom);

        events = await ReadEventsAsync(app, "/store/Count?count=2", lastEventId: null);
        Assert.Equal(new[] { "1", "2", "{\"code\":\"ok\",\"trailers\":{\"counted\":[\"2\"]}}" }, events.Select(e => e.Data));
        Assert.All(events, e => Assert.Null(e.EventId)); // not resumable: no ids

        var request = new HttpRequestMessage(HttpMethod.Get, "/store/Feed?end=5");
        request.Headers.Add("Last-Event-ID", "three");
        using HttpResponseMessage bad = await app.Http.SendAsync(request);
        await AssertErrorAsync(HttpStatusCode.BadRequest, "invalid_argument", "Last-Event-ID", bad);
    }

    private static async Task<List<SseItem<string>>> ReadEventsAsync(GatewayApp app, string path, string? lastEventId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using HttpResponseMessage response = await app.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = new List<SseItem<string>>();
        await foreach (SseItem<string> item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            events.Add(item);
        }

        return events;
    }

    [Fact]
    public async Task AMethodThatTakesTheCallersStream_Is501_SayingWhatToUse()
    {
        await using GatewayApp app = await GatewayApp.StartAsync();
        AssertError(HttpStatusCode.NotImplemented, "unimplemented", "call it with an RpcGen client", await PostAsync(app, "/store/Sum", "{}"));
    }

    [Fact]
    public async Task BehindAClusterGateway_HashKeysAndTheUsersBalancer_PickAsAProxyDoes()
    {
        var servers = new List<RpcServer>();
        var clientOptions = new RpcClientOptions();
        for (int i = 0; i < 3; i++)
        {
            var server = new RpcServer(new RpcServerOptions());
            server.Map<IWork>(new Work("server-" + i, 0));
            await server.StartAsync();
            servers.Add(server);
            clientOptions.Endpoints.Add(server.Endpoints[0]);
        }

        try
        {
            await using var client = new RpcClient(clientOptions);
            await using GatewayApp app = await GatewayApp.StartAsync(map: a => a.MapRpcGateway<IWork>(RpcGatewayTarget.Client(client)));
            // Paths from the contract: the service's wire name, then the method's.
            string service = "/" + RpcGen.Descriptors.RpcServiceRegistry.GetRequiredDescriptor<IWork>().Name;

            // The gateway's first calls come before any proxy exists: it makes the user's balancer known itself.
            var pinned = new HashSet<string>();
            for (int i = 0; i < 12; i++)
            {
                (_, JsonElement served) = await PostAsync(app, service + "/Pinned", "{}");
                pinned.Add(served.GetString()!);
            }

            IWork proxy = client.CreateProxy<IWork>();
            Assert.Equal(new[] { await proxy.PinnedAsync() }, pinned); // [LoadBalance(typeof(LastEndpointBalancer))], not round-robin
            foreach (string user in new[] { "ann", "bob", "cyd", "dee", "eve" })
            {
                string expected = await proxy.ForUserAsync(user); // consistent hashing from the typed string
                for (int i = 0; i < 3; i++)
                {
                    (HttpStatusCode status, JsonElement served) = await PostAsync(app, service + "/ForUser", $"{{\"userId\":\"{user}\"}}");
                    Assert.Equal(HttpStatusCode.OK, status);
                    Assert.Equal(expected, served.GetString()); // the same server, hashed from the JSON
                }
            }

        }
        finally
        {
            foreach (RpcServer server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ForwardingToACluster_GoesThroughAnRpcClient_AndKeepsTokensOffPlainTcp()
    {
        var store = new Store();
        await using var server = new RpcServer(new RpcServerOptions
        {
            Authenticator = RpcAuthenticators.BearerToken(
                (token, _) => new ValueTask<System.Security.Claims.ClaimsPrincipal?>(GatewayApp.Users.GetValueOrDefault(token))),
        });
        server.Map<IStore>(store);
        await server.StartAsync();
        await using var plain = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });
        await using var allowed = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] }, AllowCredentialsOverPlainText = true });
        await using GatewayApp app = await GatewayApp.StartAsync(map: a =>
        {
            a.MapGroup("/plain").MapRpcGateway<IStore>(RpcGatewayTarget.Client(plain));
            a.MapGroup("/allowed").MapRpcGateway<IStore>(RpcGatewayTarget.Client(allowed));
        });

        (HttpStatusCode status, JsonElement item) = await PostAsync(app, "/plain/store/Get", "{\"sku\":\"pen\"}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("pen", item.GetProperty("sku").GetString());
        Assert.Equal(1, store.Calls);
        Assert.Equal(0, app.Store.Calls); // not the app's own store

        HttpRequestMessage WithToken(string prefix)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, prefix + "/store/WhoAmI") { Content = Body("{}") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "t-ann");
            return request;
        }

        using HttpResponseMessage refused = await app.Http.SendAsync(WithToken("/plain"));
        await AssertErrorAsync(HttpStatusCode.Unauthorized, "unauthenticated", "will not forward the Authorization header", refused);
        using HttpResponseMessage forwarded = await app.Http.SendAsync(WithToken("/allowed"));
        Assert.Equal("\"ann\"", await forwarded.Content.ReadAsStringAsync());
        Assert.Equal(2, store.Calls);
    }
}
