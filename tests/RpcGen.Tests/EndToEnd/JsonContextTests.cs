using System.Text;
using System.Text.Json;
using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

/// <summary>[RpcService(JsonContext = ...)]: the named source-generated context serializes the service on both sides.</summary>
public sealed class JsonContextTests
{
    [Fact]
    public async Task NamedContext_IsUsedOnBothSides_WithoutAnyOptions()
    {
        await using var server = new RpcServer();
        server.Map<IShop>(new Shop());
        await server.StartAsync();
        await using var client = new RpcClient(new RpcClientOptions { Endpoints = { server.Endpoints[0] } });

        Assert.Equal(new ShopItem(7, "item 7"), await client.CreateProxy<IShop>().GetAsync(7));
        Assert.Same(ShopJson.Default, RpcServiceRegistry.GetDescriptor<IShop>()!.JsonContext);

        // The wire carries the context's snake_case names, not the web defaults' camelCase.
        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
        await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("shop/Get", "[7]")));
        (_, _, _, byte[] body) = await raw.ReadFrameAsync();
        Assert.Equal("{\"item_id\":7,\"display_name\":\"item 7\"}", Encoding.UTF8.GetString(body));
    }

    [Fact]
    public async Task ExplicitOptions_WinOverTheNamedContext()
    {
        var camel = new JsonSerializerOptions(JsonSerializerDefaults.Web) { TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() };
        await using var server = new RpcServer(new RpcServerOptions { SerializerOptions = camel });
        server.Map<IShop>(new Shop());
        await server.StartAsync();

        await using RawConnection raw = await RawConnection.ConnectAsync(server.Endpoints[0]);
        await raw.WriteAsync(RawConnection.Frame(1, 1, RawConnection.RequestBody("shop/Get", "[7]")));
        (_, _, _, byte[] body) = await raw.ReadFrameAsync();
        Assert.Equal("{\"itemId\":7,\"displayName\":\"item 7\"}", Encoding.UTF8.GetString(body));
    }
}
