using RpcGen.Tests.Support;
using Xunit;

namespace RpcGen.Tests.EndToEnd;

public sealed class SmokeTests
{
    [Fact]
    public async Task AddAsync_OverTcp_ReturnsSum()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("a"));
        await server.StartAsync();
        var options = new RpcClientOptions();
        options.Endpoints.Add(server.Endpoints[0]);
        await using var client = new RpcClient(options);
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(5, await calc.AddAsync(2, 3));
        Quote quote = await calc.QuoteAsync(new QuoteRequest("MSFT", 2));
        Assert.Equal(25m, quote.Price);
        await calc.ResetAsync();
        Assert.Equal(42L, await calc.MultiplyAsync(6, 7));
    }

    [Fact]
    public async Task AddAsync_InProcess_ReturnsSum()
    {
        await using var server = new RpcServer();
        server.Map<ICalculator>(new Calculator("a"));
        await server.StartAsync();
        var options = new RpcClientOptions();
        options.Endpoints.Add(server.InProcessEndpoint);
        await using var client = new RpcClient(options);
        ICalculator calc = client.CreateProxy<ICalculator>();
        Assert.Equal(5, await calc.AddAsync(2, 3));
        Assert.Equal("a", await calc.WhoAmIAsync());
    }

    [Fact]
    public async Task InProcessEndpoint_IsANameItsServerListensUnder_UntilItIsDisposed()
    {
        var first = new RpcServer();
        first.Map<ICalculator>(new Calculator("first"));
        await first.StartAsync();
        await using var second = new RpcServer();
        RpcEndpoint endpoint = first.InProcessEndpoint;
        Assert.Equal(endpoint, first.InProcessEndpoint); // the same name each time
        Assert.NotEqual(endpoint, second.InProcessEndpoint);

        await using (var client = new RpcClient(new RpcClientOptions { Endpoints = { endpoint } }))
        {
            Assert.Equal(5, await client.CreateProxy<ICalculator>().AddAsync(2, 3).WaitAsync(NoHang));
        }

        await first.DisposeAsync();
        await using var late = new RpcClient(new RpcClientOptions { Endpoints = { endpoint } });
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => late.CreateProxy<ICalculator>().AddAsync(2, 3).WaitAsync(NoHang));
        Assert.Equal(RpcStatusCode.Unavailable, error.StatusCode);
        Assert.True(error.NotProcessed);
    }
}
