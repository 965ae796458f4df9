using System.Text.Json;
using RpcGen.Tests.Gateway;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>The describe service (RpcServerOptions.EnableDescribe): off by default, versioned, with schemas and policies.</summary>
public sealed class DescribeTests
{
    private static async Task<(RpcServer Server, RpcClient Client)> StartAsync(Action<RpcServerOptions> configure)
    {
        var options = new RpcServerOptions();
        configure(options);
        var server = new RpcServer(options);
        server.Map<IStore>(new Store());
        server.Map<ICalculator>(new Calculator("describe"));
        await server.StartAsync();
        return (server, new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } }));
    }

    [Fact]
    public async Task Off_ByDefault_TheServiceIsUnknown()
    {
        (RpcServer server, RpcClient client) = await StartAsync(_ => { });
        await using (server)
        await using (client)
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(() => client.ListServicesAsync().AsTask());
            Assert.Equal(RpcStatusCode.Unimplemented, error.StatusCode);
            Assert.DoesNotContain(server.Services, s => s.Name == "rpcgen.describe");
        }
    }

    [Fact]
    public async Task On_ItListsAndDescribes_WithSchemasAndPolicies()
    {
        (RpcServer server, RpcClient client) = await StartAsync(o => o.EnableDescribe = true);
        await using (server)
        await using (client)
        {
            JsonElement list = await client.ListServicesAsync();
            Assert.Equal(1, list.GetProperty("version").GetInt32());
            Assert.Equal(new[] { "store", "calc" }, list.GetProperty("services").EnumerateArray().Select(s => s.GetProperty("name").GetString()));

            JsonElement all = await client.DescribeAsync();
            Assert.Equal(2, all.GetProperty("services").GetArrayLength());

            JsonElement store = (await client.DescribeAsync("store")).GetProperty("services")[0];
            Assert.Equal(typeof(IStore).FullName, store.GetProperty("interface").GetString());
            JsonElement[] methods = store.GetProperty("methods").EnumerateArray().ToArray();
            JsonElement Method(string name) => methods.Single(m => m.GetProperty("name").GetString() == name);

            JsonElement buy = Method("Buy");
            Assert.Equal("none", buy.GetProperty("streaming").GetString());
            JsonElement order = buy.GetProperty("parameters")[0];
            Assert.Equal("order", order.GetProperty("name").GetString());
            Assert.True(order.GetProperty("required").GetBoolean());
            Assert.False(buy.GetProperty("parameters")[1].GetProperty("required").GetBoolean()); // color = Green
            JsonElement orderSchema = order.GetProperty("schema");
            Assert.True(orderSchema.GetProperty("properties").TryGetProperty("sku", out _)); // camelCase: the server's own contract
            Assert.True(orderSchema.GetProperty("properties").TryGetProperty("quantity", out _));
            Assert.Equal(typeof(Receipt).FullName, buy.GetProperty("result").GetProperty("type").GetString());
            Assert.True(buy.GetProperty("result").GetProperty("schema").GetProperty("properties").TryGetProperty("total", out _));

            Assert.True(Method("Get").GetProperty("noSideEffects").GetBoolean());
            Assert.True(Method("Get").GetProperty("idempotent").GetBoolean());
            Assert.Equal("server", Method("Count").GetProperty("streaming").GetString());
            Assert.Equal("after", Method("Feed").GetProperty("resumeFrom").GetString());
            Assert.Equal("client", Method("Sum").GetProperty("streaming").GetString());
            Assert.Equal("int", Method("Sum").GetProperty("requestItem").GetProperty("type").GetString());
            Assert.Equal(JsonValueKind.Null, Method("Forget").GetProperty("result").ValueKind);
            Assert.Equal("[[\"admin\"]]", Method("WhoAmI").GetProperty("authorization").GetProperty("roles").GetRawText());

            JsonElement calc = (await client.DescribeAsync("calc")).GetProperty("services")[0];
            Assert.Equal(5000, calc.GetProperty("methods")[0].GetProperty("timeoutMs").GetInt32());
            JsonElement a = calc.GetProperty("methods")[0].GetProperty("parameters")[0];
            string integer = "{\"type\":[\"string\",\"integer\"],\"pattern\":\"^-?(?:0|[1-9]\\\\d*)$\"}"; // as docs/describe.md shows
            Assert.Equal(integer, a.GetProperty("schema").GetRawText());

            RpcException missing = await Assert.ThrowsAsync<RpcException>(() => client.DescribeAsync("nope").AsTask());
            Assert.Equal(RpcStatusCode.NotFound, missing.StatusCode);
        }
    }

    [Fact]
    public async Task WithAnAuthenticator_OnlyAuthenticatedCallersGetAnAnswer()
    {
        static void Configure(RpcServerOptions o)
        {
            o.EnableDescribe = true;
            o.Authenticator = RpcAuthenticators.BearerToken(
                (token, _) => new ValueTask<System.Security.Claims.ClaimsPrincipal?>(GatewayApp.Users.GetValueOrDefault(token)));
        }

        (RpcServer server, RpcClient anonymous) = await StartAsync(Configure);
        await using (server)
        await using (anonymous)
        {
            RpcException refused = await Assert.ThrowsAsync<RpcException>(() => anonymous.ListServicesAsync().AsTask());
            Assert.Equal(RpcStatusCode.Unauthenticated, refused.StatusCode);

            await using var bob = new RpcClient(new RpcClientOptions
            {
                Endpoints = { server.Endpoints[0] },
                AllowCredentialsOverPlainText = true,
                Credentials = RpcCallCredentials.BearerToken(_ => new ValueTask<string>("t-bob")),
            });
            Assert.Equal(2, (await bob.ListServicesAsync()).GetProperty("services").GetArrayLength());
        }
    }
}
